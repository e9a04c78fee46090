// SPDX-License-Identifier: Apache-2.0

package aggregator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Discoverer finds the agents' node-API addresses ("host:port"). The
// aggregator calls it every Config.DiscoveryInterval, from one goroutine: an
// address that appears gets a stream, one that disappears loses it. An error
// keeps the previous set.
type Discoverer interface {
	Discover(ctx context.Context) ([]string, error)
}

// Static is a fixed list of agent addresses.
type Static []string

// Discover returns the list.
func (s Static) Discover(context.Context) ([]string, error) { return slices.Clone(s), nil }

// Resolver is the part of *net.Resolver that [DNS] uses; tests pass a fake.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

// DNS discovers agents through a headless Service: with Port set, every A/AAAA
// record of Name on that port; otherwise every SRV record of the Service's
// named port (_<PortName>._tcp.<Name>), whose targets are the agents' pod DNS
// names. Set publishNotReadyAddresses on the Service, so that an agent that is
// up but not ready (no driver) is still seen and can be reported by name.
type DNS struct {
	// Name is the Service's DNS name, e.g. "nvml-scaler-agent.nvml-scaler.svc".
	Name string
	// Port is the node-API port; 0 means look up SRV records for PortName.
	Port int
	// PortName is the Service's port name for SRV lookups; "" means "node-api".
	PortName string
	// Resolver does the lookups; nil means net.DefaultResolver.
	Resolver Resolver
}

// Discover looks the agents up once.
func (d DNS) Discover(ctx context.Context) ([]string, error) {
	if d.Name == "" {
		return nil, errors.New("dns discovery: no service name")
	}
	r := d.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	var out []string
	if d.Port > 0 {
		hosts, err := r.LookupHost(ctx, d.Name)
		if err != nil {
			return nil, fmt.Errorf("dns discovery: look up %s: %w", d.Name, err)
		}
		for _, h := range hosts {
			out = append(out, net.JoinHostPort(h, strconv.Itoa(d.Port)))
		}
	} else {
		name := d.PortName
		if name == "" {
			name = "node-api"
		}
		_, srvs, err := r.LookupSRV(ctx, name, "tcp", d.Name)
		if err != nil {
			return nil, fmt.Errorf("dns discovery: look up SRV _%s._tcp.%s: %w", name, d.Name, err)
		}
		for _, s := range srvs {
			out = append(out, net.JoinHostPort(strings.TrimSuffix(s.Target, "."), strconv.Itoa(int(s.Port))))
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

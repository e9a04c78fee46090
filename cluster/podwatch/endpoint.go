// SPDX-License-Identifier: Apache-2.0

package podwatch

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Annotations that name a pod's metrics endpoint, first in the order tried.
const (
	AnnotationPort   = "nvml-scaler.io/metrics-port"
	AnnotationPath   = "nvml-scaler.io/metrics-path"
	AnnotationEngine = "nvml-scaler.io/engine"
	promPort         = "prometheus.io/port"
	promPath         = "prometheus.io/path"
	defaultPath      = "/metrics"
)

// Endpoint is a URL to try for a pod's engine metrics.
type Endpoint struct {
	URL string
	// Engine is the forced engine profile name (nvml-scaler.io/engine); ""
	// detects it.
	Engine string
	// Probe is true for a declared port tried once per pod start: keep it
	// only if a known engine profile recognises its body.
	Probe bool
	// From says which rule chose it, for probe and logs.
	From string
}

// Endpoints returns where to read p's metrics, in the order the rules give:
// the nvml-scaler.io/metrics-port annotation (with metrics-path and engine);
// then prometheus.io/port and /path; then a containerPort named "metrics";
// then every declared TCP containerPort, to probe. A port must be one the pod
// declares, and the host is always the pod's own IP. It fails when the pod
// has no IP or an annotation names a port the pod does not declare.
func Endpoints(p *Pod) ([]Endpoint, error) {
	if net.ParseIP(p.IP) == nil {
		return nil, fmt.Errorf("pod %s: no pod IP yet", p.Key())
	}
	ann := p.Annotations
	if v, ok := ann[AnnotationPort]; ok {
		return one(p, v, ann[AnnotationPath], ann[AnnotationEngine], AnnotationPort)
	}
	if v, ok := ann[promPort]; ok {
		return one(p, v, ann[promPath], ann[AnnotationEngine], promPort)
	}
	for _, c := range p.Containers {
		for _, port := range c.Ports {
			if port.Name == "metrics" && port.Protocol == "TCP" {
				return []Endpoint{{URL: metricsURL(p, port.Port, ""), Engine: ann[AnnotationEngine], From: "port named metrics"}}, nil
			}
		}
	}
	var out []Endpoint
	for _, c := range p.Containers {
		for _, port := range c.Ports {
			if port.Protocol == "TCP" {
				out = append(out, Endpoint{URL: metricsURL(p, port.Port, ""), Engine: ann[AnnotationEngine], Probe: true,
					From: "declared port " + strconv.Itoa(int(port.Port)) + " of " + c.Name})
			}
		}
	}
	return out, nil
}

// one resolves an annotated port (a number or a declared port's name).
func one(p *Pod, port, path, eng, from string) ([]Endpoint, error) {
	n, ok := declared(p, strings.TrimSpace(port))
	if !ok {
		return nil, fmt.Errorf("pod %s: annotation %s=%q names no port the pod declares", p.Key(), from, port)
	}
	if path != "" && !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("pod %s: metrics path %q must start with /", p.Key(), path)
	}
	return []Endpoint{{URL: metricsURL(p, n, path), Engine: eng, From: from}}, nil
}

func declared(p *Pod, port string) (int32, bool) {
	n, err := strconv.Atoi(port)
	for _, c := range p.Containers {
		for _, dp := range c.Ports {
			if dp.Protocol == "TCP" && ((err == nil && int(dp.Port) == n) || (err != nil && dp.Name == port && port != "")) {
				return dp.Port, true
			}
		}
	}
	return 0, false
}

func metricsURL(p *Pod, port int32, path string) string {
	if path == "" {
		path = defaultPath
	}
	return "http://" + net.JoinHostPort(p.IP, strconv.Itoa(int(port))) + path
}

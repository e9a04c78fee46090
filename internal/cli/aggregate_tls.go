// SPDX-License-Identifier: Apache-2.0

//go:build !agent

package cli

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nvml-scaler/nvml-scaler/internal/tlsreload"
)

// agentsTLSFlags configure how the aggregator dials the agents' node API:
// the other side of serve's --tls-cert, --tls-key and --tls-client-ca, which
// serve applies to --node-api-listen as well.
type agentsTLSFlags struct {
	enable                    bool
	ca, cert, key, serverName string
}

func (f *agentsTLSFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.enable, "agents-tls", false, "dial the agents' node API with TLS; implied by the other --agents-* TLS flags")
	fs.StringVar(&f.ca, "agents-ca", "", "PEM CA bundle that signed the agents' certificates (their serve --tls-cert); default: the system roots")
	fs.StringVar(&f.cert, "agents-client-cert", "", "PEM client certificate for agents that require one (serve --tls-client-ca); needs --agents-client-key; re-read every --tls-reload-interval")
	fs.StringVar(&f.key, "agents-client-key", "", "PEM private key of --agents-client-cert")
	fs.StringVar(&f.serverName, "agents-server-name", "", "name to verify every agent's certificate against (default: the dialed host, usually a pod IP)")
}

func (f *agentsTLSFlags) enabled() bool {
	return f.enable || f.ca != "" || f.cert != "" || f.key != "" || f.serverName != ""
}

func (f *agentsTLSFlags) validate() error {
	if (f.cert == "") != (f.key == "") {
		return usageErrorf("--agents-client-cert and --agents-client-key: give both or neither")
	}
	return nil
}

// dialOptions returns the transport credentials for the agents, and the
// Reloader of the client certificate (nil without one) for the caller to Run.
// The CA bundle is read once; the client certificate is re-read every
// interval, so a renewed one is presented on the next connection.
func (f *agentsTLSFlags) dialOptions(interval time.Duration, log *slog.Logger) ([]grpc.DialOption, *tlsreload.Reloader, error) {
	if !f.enabled() {
		return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.serverName}
	if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, nil, fmt.Errorf("--agents-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("--agents-ca %s: no PEM certificate in it", f.ca)
		}
	}
	var r *tlsreload.Reloader
	if f.cert != "" {
		var err error
		r, err = tlsreload.New(tlsreload.Config{CertFile: f.cert, KeyFile: f.key, Interval: interval,
			Logger: log.With("component", "agents-tls")})
		if err != nil {
			return nil, nil, fmt.Errorf("--agents-client-cert/--agents-client-key: %w", err)
		}
		cfg.GetClientCertificate = r.ClientCertificate
	}
	return []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}, r, nil
}

// agentsTLSMode names the agents' transport for the start-up log.
func agentsTLSMode(f agentsTLSFlags) string {
	switch {
	case f.cert != "":
		return "mutual"
	case f.enabled():
		return "server"
	}
	return "off"
}

// aggregateTLS is what the aggregate TLS flags resolve to.
type aggregateTLS struct {
	server   *tlsreload.Reloader // KEDA-facing certificate; nil: plaintext
	client   *tlsreload.Reloader // client certificate for the agents; nil: none
	grpcOpts []grpc.ServerOption
	dialOpts []grpc.DialOption
}

// tlsOptions loads the TLS files the flags name.
func (f *aggregateFlags) tlsOptions(log *slog.Logger) (*aggregateTLS, error) {
	srv, err := f.tls.reloader(log)
	if err != nil {
		return nil, err
	}
	dial, client, err := f.agentsTLS.dialOptions(f.tls.reload, log)
	if err != nil {
		return nil, err
	}
	return &aggregateTLS{server: srv, client: client, grpcOpts: grpcCreds(srv), dialOpts: dial}, nil
}

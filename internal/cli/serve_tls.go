// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"log/slog"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/nvml-scaler/nvml-scaler/internal/metrics"
	"github.com/nvml-scaler/nvml-scaler/internal/tlsreload"
)

// serveTLSFlags configure serve's gRPC TLS: the files a cert-manager
// Certificate's Secret mounts (tls.crt, tls.key, ca.crt).
type serveTLSFlags struct {
	cert, key, clientCA string
	reload              time.Duration
}

func (f *serveTLSFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.cert, "tls-cert", "", "PEM certificate (chain) to serve gRPC with TLS; needs --tls-key. Without it gRPC is plaintext")
	fs.StringVar(&f.key, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&f.clientCA, "tls-client-ca", "", "PEM CA bundle: require client certificates signed by it (mutual TLS; KEDA's tlsClientCert/tlsClientKey)")
	newDuration(fs, &f.reload, "tls-reload-interval", tlsreload.DefaultInterval, "how often to re-read the TLS files; new connections get a renewed certificate, open ones are kept")
}

func (f *serveTLSFlags) validate() error {
	if (f.cert == "") != (f.key == "") {
		return usageErrorf("--tls-cert and --tls-key: give both or neither")
	}
	if f.clientCA != "" && f.cert == "" {
		return usageErrorf("--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first")
	}
	return checkMinDuration("tls-reload-interval", f.reload, time.Second)
}

// plaintextWarning is logged when serve or aggregate runs gRPC without TLS.
const plaintextWarning = "serving gRPC without TLS: anyone who can reach the port can read GPU metrics; " +
	"pass --tls-cert and --tls-key (and --tls-client-ca for mutual TLS)"

// reloader loads the TLS files, or returns nil when serve runs plaintext.
func (f *serveTLSFlags) reloader(log *slog.Logger) (*tlsreload.Reloader, error) {
	if f.cert == "" {
		return nil, nil
	}
	return tlsreload.New(tlsreload.Config{CertFile: f.cert, KeyFile: f.key, ClientCAFile: f.clientCA,
		Interval: f.reload, Logger: log})
}

// grpcCreds returns the server option for r's configuration; none for
// plaintext.
func grpcCreds(r *tlsreload.Reloader) []grpc.ServerOption {
	return countedCreds(r, nil)
}

// countedCreds is grpcCreds with m counting failed handshakes (nil m: none).
func countedCreds(r *tlsreload.Reloader, m *metrics.Metrics) []grpc.ServerOption {
	if r == nil {
		return nil
	}
	creds := credentials.NewTLS(r.ServerConfig())
	if m != nil {
		creds = m.CountHandshakes(creds)
	}
	return []grpc.ServerOption{grpc.Creds(creds)}
}

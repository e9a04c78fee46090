// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// tlsFlags mirror what KEDA takes for an external trigger: enableTLS and
// unsafeSsl from the trigger, caCert, tlsClientCert and tlsClientKey from a
// TriggerAuthentication (here as files).
type tlsFlags struct {
	enable             bool
	caCert             string
	clientCert         string
	clientKey          string
	insecureSkipVerify bool
	serverName         string
}

func (f *tlsFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.enable, "tls", false, "connect with TLS (KEDA's enableTLS); implied by the other TLS flags")
	fs.StringVar(&f.caCert, "ca-cert", "", "PEM file of the CA that signed the scaler's certificate (KEDA's caCert); default: the system roots")
	fs.StringVar(&f.clientCert, "client-cert", "", "PEM client certificate for mutual TLS (KEDA's tlsClientCert); needs --client-key")
	fs.StringVar(&f.clientKey, "client-key", "", "PEM client key for mutual TLS (KEDA's tlsClientKey); needs --client-cert")
	fs.BoolVar(&f.insecureSkipVerify, "insecure-skip-verify", false, "do not verify the scaler's certificate (KEDA's unsafeSsl)")
	fs.StringVar(&f.serverName, "server-name", "", "name to verify the scaler's certificate against (default: the --address host)")
}

func (f *tlsFlags) enabled() bool {
	return f.enable || f.caCert != "" || f.clientCert != "" || f.clientKey != "" || f.insecureSkipVerify || f.serverName != ""
}

func (f *tlsFlags) validate() error {
	if (f.clientCert == "") != (f.clientKey == "") {
		return usageErrorf("--client-cert and --client-key: give both or neither")
	}
	return nil
}

// dialOption returns the transport credentials the flags describe.
func (f *tlsFlags) dialOption() (grpc.DialOption, error) {
	if !f.enabled() {
		return grpc.WithTransportCredentials(insecure.NewCredentials()), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.serverName,
		InsecureSkipVerify: f.insecureSkipVerify} //nolint:gosec // only when asked, as KEDA's unsafeSsl
	if f.caCert != "" {
		pem, err := os.ReadFile(f.caCert)
		if err != nil {
			return nil, fmt.Errorf("--ca-cert: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-cert %s: no PEM certificate in it", f.caCert)
		}
	}
	if f.clientCert != "" {
		cert, err := tls.LoadX509KeyPair(f.clientCert, f.clientKey)
		if err != nil {
			return nil, fmt.Errorf("--client-cert/--client-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg)), nil
}

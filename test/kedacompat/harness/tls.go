// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"crypto/x509"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testTLS runs a second server requiring mutual TLS, with the files
// cert-manager would mount, and reaches it with a TriggerAuthentication's
// caCert, tlsClientCert and tlsClientKey (enableTLS: KEDA v2.17 and later);
// a wrong CA and plaintext must fail.
func testTLS(t *testing.T, k KEDA, c Case) {
	dir := t.TempDir()
	serverCA, clientCA := newAuthority(t, "nvml-scaler ca"), newAuthority(t, "keda clients")
	leaf := serverCA.issue(t, "nvml-scaler", x509.ExtKeyUsageServerAuth)
	srv := startServe(t, "--tls-cert", writeFile(t, dir, "tls.crt", leaf.cert), "--tls-key", writeFile(t, dir, "tls.key", leaf.key),
		"--tls-client-ca", writeFile(t, dir, "ca.crt", clientCA.pem))
	keda := clientCA.issue(t, "keda-operator", x509.ExtKeyUsageClientAuth)
	auth := func(ca string) map[string]string {
		return map[string]string{"caCert": ca, "tlsClientCert": keda.cert, "tlsClientKey": keda.key}
	}

	// KEDA v2.17 pools gRPC connections by scalerAddress alone (v2.21 by the
	// TLS settings too), so a second config to the same address would reuse
	// the first one's connection. Each case spells the address differently:
	// gRPC's default dns scheme, then the same target with a scheme.
	tests := []struct {
		name, addr, enableTLS string
		auth                  map[string]string
		wantErr               string
	}{
		{"mutual TLS", srv.grpc, "true", auth(serverCA.pem), ""},
		{"wrong CA", "dns:///" + srv.grpc, "true", auth(newAuthority(t, "other").pem), "certificate signed by unknown authority"},
		{"plaintext", "passthrough:///" + srv.grpc, "false", nil, "Unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config(c, tt.addr)
			cfg.Metadata["enableTLS"] = tt.enableTLS
			cfg.AuthParams = tt.auth
			s := newScaler(t, k, cfg)
			vals, active, err := s.MetricsAndActivity(t.Context(), c.SpecName)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, []Metric{{Name: c.SpecName, Milli: c.ValueMilli}}, vals)
			assert.Equal(t, c.Active, active)
		})
	}
}

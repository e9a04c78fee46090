// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"crypto/x509"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// caCertShared lists the KEDA releases whose util.NewTLSConfig appends a
// trigger's caCert to the operator's process-wide root pool, so that every
// TLS connection made afterwards trusts it too; v2.21.0 adds it to a copy.
var caCertShared = map[string]bool{"v2.17.3": true}

// testTLS reaches servers requiring mutual TLS, with the files cert-manager
// would mount, through a TriggerAuthentication's caCert, tlsClientCert and
// tlsClientKey (enableTLS: KEDA v2.17 and later). A wrong CA and plaintext
// must fail. Each case has a server of its own: KEDA v2.17 pools connections
// by scalerAddress alone, so a second config to one address would reuse the
// first one's connection (v2.20 adds the TLS settings to the key).
func testTLS(t *testing.T, k KEDA, version string, c Case) {
	serverCA, clientCA, other := newAuthority(t, "nvml-scaler ca"), newAuthority(t, "keda clients"), newAuthority(t, "other")
	keda := clientCA.issue(t, "keda-operator", x509.ExtKeyUsageClientAuth)
	auth := func(ca string) map[string]string {
		return map[string]string{"caCert": ca, "tlsClientCert": keda.cert, "tlsClientKey": keda.key}
	}
	unknownCA := "certificate signed by unknown authority"
	afterTrusted := unknownCA
	if caCertShared[version] {
		afterTrusted = "" // the server's CA is in the shared pool by then
	}
	tests := []struct {
		name, enableTLS string
		auth            map[string]string
		wantErr         string
	}{
		// In this order: the first case runs before any trigger trusts serverCA.
		{"wrong CA", "true", auth(other.pem), unknownCA},
		{"mutual TLS", "true", auth(serverCA.pem), ""},
		{"plaintext", "false", nil, "Unavailable"},
		{"wrong CA once another trigger trusted the right one", "true", auth(other.pem), afterTrusted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config(c, serveTLS(t, serverCA, clientCA))
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

// serveTLS starts a server with a certificate from serverCA that requires
// client certificates from clientCA, and returns its gRPC address.
func serveTLS(t *testing.T, serverCA, clientCA *authority) string {
	t.Helper()
	dir := t.TempDir()
	leaf := serverCA.issue(t, "nvml-scaler", x509.ExtKeyUsageServerAuth)
	return startServe(t, "--tls-cert", writeFile(t, dir, "tls.crt", leaf.cert), "--tls-key", writeFile(t, dir, "tls.key", leaf.key),
		"--tls-client-ca", writeFile(t, dir, "ca.crt", clientCA.pem)).grpc
}

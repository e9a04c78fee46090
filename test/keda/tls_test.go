// SPDX-License-Identifier: Apache-2.0

package keda

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	v2 "k8s.io/api/autoscaling/v2"

	"github.com/nvml-scaler/nvml-scaler/internal/cli"
	"github.com/nvml-scaler/nvml-scaler/internal/testutil"
	"github.com/nvml-scaler/nvml-scaler/internal/tlsreload/certtest"
)

// serveTLS runs `nvml-scaler serve` in-process with mutual TLS on the ramp
// recording, with the files cert-manager would mount, until the test ends.
func serveTLS(t *testing.T, dir string, serverCA, clientCA *certtest.CA) string {
	t.Helper()
	cert, key := serverCA.Issue(t, "nvml-scaler").Write(t, dir, "tls")
	caFile := filepath.Join(dir, "ca.crt")
	certtest.WriteFile(t, caFile, clientCA.PEM)
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan string, 1)
	var stderr testutil.SyncBuffer
	var wg sync.WaitGroup
	wg.Go(func() {
		code := cli.Main(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
			"--replay", filepath.Join("..", "..", "testdata", "recordings", "h200-inference-ramp.json"),
			"--interval", "100ms", "--log-format", "text",
			"--tls-cert", cert, "--tls-key", key, "--tls-client-ca", caFile},
			&bytes.Buffer{}, &stderr, cli.WithListenHook(func(g, _ string) { addrs <- g }))
		assert.Equal(t, cli.ExitOK, code, stderr.String())
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	select {
	case a := <-addrs:
		return a
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not listen: %s", stderr.String())
		return ""
	}
}

// KEDA's own client with a TriggerAuthentication's caCert, tlsClientCert and
// tlsClientKey against a scaler that requires mutual TLS; a wrong CA, a
// missing client certificate and plaintext must all fail.
func TestKEDAExternalScalerTLS(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA := certtest.NewCA(t, "nvml-scaler ca"), certtest.NewCA(t, "keda clients")
	addr := serveTLS(t, dir, serverCA, clientCA)
	keda := clientCA.Issue(t, "keda-operator")
	stranger := certtest.NewCA(t, "stranger").Issue(t, "keda-operator")

	tests := []struct {
		name    string
		tls     string
		auth    map[string]string
		wantErr string
	}{
		{"mutual TLS", "true", map[string]string{"caCert": string(serverCA.PEM),
			"tlsClientCert": string(keda.CertPEM), "tlsClientKey": string(keda.KeyPEM)}, ""},
		{"wrong CA", "true", map[string]string{"caCert": string(certtest.NewCA(t, "other").PEM),
			"tlsClientCert": string(keda.CertPEM), "tlsClientKey": string(keda.KeyPEM)}, "certificate signed by unknown authority"},
		// With TLS 1.3 the client finishes its side of the handshake before the
		// server's "certificate required" alert arrives, so the refusal shows up
		// as that alert or as the connection closing: either is Unavailable.
		{"missing client certificate", "true", map[string]string{"caCert": string(serverCA.PEM)}, "Unavailable"},
		{"client certificate from another CA", "true", map[string]string{"caCert": string(serverCA.PEM),
			"tlsClientCert": string(stranger.CertPEM), "tlsClientKey": string(stranger.KeyPEM)}, "Unavailable"},
		{"plaintext", "false", nil, "Unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config(addr, v2.AverageValueMetricType)
			cfg.TriggerMetadata["enableTLS"] = tt.tls
			cfg.AuthParams = tt.auth
			s, err := scalers.NewExternalScaler(cfg)
			require.NoError(t, err)
			defer s.Close(context.Background())
			var vals int
			err = nil
			if tt.wantErr == "" {
				require.Eventually(t, func() bool {
					v, _, e := s.GetMetricsAndActivity(context.Background(), "s0-nvml-sm-active-percent-sum")
					vals, err = len(v), e
					return e == nil
				}, 20*time.Second, 50*time.Millisecond, "%v", err)
				assert.Equal(t, 1, vals)
				return
			}
			_, _, err = s.GetMetricsAndActivity(context.Background(), "s0-nvml-sm-active-percent-sum")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

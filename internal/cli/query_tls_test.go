// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/nvml-scaler/nvml-scaler/scaler"
	"github.com/nvml-scaler/nvml-scaler/scaler/replay"
)

// TestQueryTLS runs query against a scaler that requires mutual TLS, with the
// files KEDA would take from a TriggerAuthentication.
func TestQueryTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, caKey := newCert(t, nil, nil, "test CA", dir, "ca")
	newCert(t, ca, caKey, "scaler", dir, "server")
	newCert(t, ca, caKey, "keda", dir, "client")
	serverCert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	addr := serveTLS(t, &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12})

	base := []string{"query", "--address", addr, "--timeout", "5s", "--metadata", "metric=power_watts,targetValue=400"}
	file := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"mutual TLS", []string{"--ca-cert", file("ca.pem"), "--client-cert", file("client.pem"), "--client-key", file("client-key.pem")}, ExitOK, ""},
		{"server name", []string{"--ca-cert", file("ca.pem"), "--client-cert", file("client.pem"), "--client-key", file("client-key.pem"), "--server-name", "localhost"}, ExitOK, ""},
		{"skip verify", []string{"--insecure-skip-verify", "--client-cert", file("client.pem"), "--client-key", file("client-key.pem")}, ExitOK, ""},
		{"unknown CA", []string{"--tls", "--client-cert", file("client.pem"), "--client-key", file("client-key.pem")}, ExitError, "GetMetricSpec: Unavailable: connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority\""},
		{"wrong name", []string{"--ca-cert", file("ca.pem"), "--client-cert", file("client.pem"), "--client-key", file("client-key.pem"), "--server-name", "elsewhere"}, ExitError, "GetMetricSpec: Unavailable:"},
		{"no client certificate", []string{"--ca-cert", file("ca.pem")}, ExitError, "GetMetricSpec: Unavailable:"},
		{"plaintext", nil, ExitError, "(does the scaler require TLS? try --tls and --ca-cert)"},
		{"bad CA file", []string{"--ca-cert", file("client-key.pem")}, ExitError, "no PEM certificate in it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(context.Background(), t, append(append([]string{}, base...), tt.args...))
			assert.Equal(t, tt.code, r.code, r.stderr)
			assert.Contains(t, r.stderr, tt.want)
			if tt.code == ExitOK {
				assert.Contains(t, r.stdout, "metric        nvml-power-watts-avg, target 400")
			}
		})
	}
}

// serveTLS serves the ramp recording with cfg until the test ends.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	src, err := replay.Load(rampRecording, replay.Options{Loop: true})
	require.NoError(t, err)
	s, err := scaler.NewSampler(scaler.SamplerConfig{Source: src, Interval: scaler.MinInterval})
	require.NoError(t, err)
	srv, err := scaler.NewServer(scaler.ServerConfig{Sampler: s, GRPCOptions: []grpc.ServerOption{grpc.Creds(credentials.NewTLS(cfg))}})
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	require.Eventually(t, func() bool { _, err := s.Current(); return err == nil }, 10*time.Second, 10*time.Millisecond)
	return lis.Addr().String()
}

// newCert writes name.pem and name-key.pem into dir: a CA when parent is nil,
// else a certificate for 127.0.0.1 and localhost signed by parent.
func newCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn, dir, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign
		parent, parentKey = tmpl, key
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+"-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return cert, key
}

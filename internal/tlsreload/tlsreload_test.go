// SPDX-License-Identifier: Apache-2.0

package tlsreload

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/nvml-scaler/nvml-scaler/internal/testutil"
	"github.com/nvml-scaler/nvml-scaler/internal/tlsreload/certtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// files is a Secret volume's worth of TLS files in a temporary directory.
type files struct {
	dir                 string
	cert, key, clientCA string
}

func newFiles(t *testing.T, server *certtest.Pair, clientCA *certtest.CA) files {
	dir := t.TempDir()
	f := files{dir: dir}
	f.cert, f.key = server.Write(t, dir, "tls")
	if clientCA != nil {
		f.clientCA = filepath.Join(dir, "ca.crt")
		certtest.WriteFile(t, f.clientCA, clientCA.PEM)
	}
	return f
}

// serve serves gRPC health with r's configuration on loopback until the test
// ends.
func serve(t *testing.T, r *Reloader) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(r.ServerConfig())))
	healthpb.RegisterHealthServer(gs, health.NewServer())
	var wg sync.WaitGroup
	wg.Go(func() { _ = gs.Serve(lis) })
	t.Cleanup(func() {
		gs.Stop()
		wg.Wait()
	})
	return lis.Addr().String()
}

// dial connects trusting ca, presenting client when non-nil.
func dial(t *testing.T, addr string, ca *certtest.CA, client *certtest.Pair) *grpc.ClientConn {
	t.Helper()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: x509.NewCertPool()}
	cfg.RootCAs.AddCert(ca.Cert)
	if client != nil {
		pair, err := tls.X509KeyPair(client.CertPEM, client.KeyPEM)
		require.NoError(t, err)
		cfg.Certificates = []tls.Certificate{pair}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func check(conn *grpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

// cert-manager renews the server certificate, here under a new CA: open
// connections keep working on the old session, new ones get the new
// certificate, and nothing restarts.
func TestRotationKeepsOpenConnections(t *testing.T) {
	t.Parallel()
	ca1, ca2 := certtest.NewCA(t, "ca one"), certtest.NewCA(t, "ca two")
	f := newFiles(t, ca1.Issue(t, "scaler"), nil)
	var logs bytes.Buffer
	r, err := New(Config{CertFile: f.cert, KeyFile: f.key, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	addr := serve(t, r)

	old := dial(t, addr, ca1, nil)
	require.NoError(t, check(old))
	// A stream open across the rotation must survive it too.
	watch, err := healthpb.NewHealthClient(old).Watch(context.Background(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	_, err = watch.Recv()
	require.NoError(t, err)

	changed, err := r.Reload()
	require.NoError(t, err)
	assert.False(t, changed, "nothing changed yet")

	renewed := ca2.Issue(t, "scaler renewed")
	renewed.Write(t, f.dir, "tls")
	changed, err = r.Reload()
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, renewed.Cert.SerialNumber, r.Leaf().SerialNumber)
	assert.Contains(t, logs.String(), "tls certificate reloaded")

	require.NoError(t, check(old), "the open connection is not dropped")
	require.NoError(t, watch.CloseSend())
	assert.Error(t, check(dial(t, addr, ca1, nil)), "a new connection gets the new certificate")
	assert.NoError(t, check(dial(t, addr, ca2, nil)))
}

// Mutual TLS: a client certificate signed by the client CA is required, and
// a rotated client CA applies to new connections.
func TestMutualTLSAndClientCARotation(t *testing.T) {
	t.Parallel()
	serverCA, clients1, clients2 := certtest.NewCA(t, "server ca"), certtest.NewCA(t, "clients one"), certtest.NewCA(t, "clients two")
	f := newFiles(t, serverCA.Issue(t, "scaler"), clients1)
	r, err := New(Config{CertFile: f.cert, KeyFile: f.key, ClientCAFile: f.clientCA})
	require.NoError(t, err)
	addr := serve(t, r)
	keda1, keda2 := clients1.Issue(t, "keda"), clients2.Issue(t, "keda")

	assert.NoError(t, check(dial(t, addr, serverCA, keda1)))
	assert.Error(t, check(dial(t, addr, serverCA, nil)), "no client certificate")
	assert.Error(t, check(dial(t, addr, serverCA, keda2)), "a client certificate from another CA")

	certtest.WriteFile(t, f.clientCA, clients2.PEM)
	changed, err := r.Reload()
	require.NoError(t, err)
	assert.True(t, changed)
	assert.NoError(t, check(dial(t, addr, serverCA, keda2)))
	assert.Error(t, check(dial(t, addr, serverCA, keda1)))
}

// A certificate written before its key does not parse: the old pair stays in
// use (logged once), and the next poll that reads a matching pair swaps.
func TestHalfWrittenRotationKeepsTheOldPair(t *testing.T) {
	t.Parallel()
	ca := certtest.NewCA(t, "ca")
	first := ca.Issue(t, "first")
	f := newFiles(t, first, nil)
	var logs testutil.SyncBuffer
	r, err := New(Config{CertFile: f.cert, KeyFile: f.key, Interval: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { r.Run(ctx) })
	defer func() {
		cancel()
		wg.Wait()
	}()

	second := ca.Issue(t, "second")
	certtest.WriteFile(t, f.cert, second.CertPEM)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "not valid, keeping the current certificate") }, 5*time.Second, time.Millisecond)
	assert.Equal(t, first.Cert.SerialNumber, r.Leaf().SerialNumber)
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, 1, strings.Count(logs.String(), "not valid"), "logged once per content")

	certtest.WriteFile(t, f.key, second.KeyPEM)
	require.Eventually(t, func() bool { return r.Leaf().SerialNumber.Cmp(second.Cert.SerialNumber) == 0 }, 5*time.Second, time.Millisecond)
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	ca := certtest.NewCA(t, "ca")
	f := newFiles(t, ca.Issue(t, "s"), nil)
	_, err := New(Config{CertFile: f.cert})
	assert.ErrorContains(t, err, "both required")
	_, err = New(Config{CertFile: f.cert, KeyFile: filepath.Join(f.dir, "missing")})
	assert.ErrorContains(t, err, "no such file")
	_, err = New(Config{CertFile: f.cert, KeyFile: f.cert})
	assert.Error(t, err, "a certificate is not a key")
	_, err = New(Config{CertFile: f.cert, KeyFile: f.key, ClientCAFile: f.key})
	assert.ErrorContains(t, err, "no PEM certificate in it")
}

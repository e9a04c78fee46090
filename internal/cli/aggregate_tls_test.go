// SPDX-License-Identifier: Apache-2.0

//go:build !agent

package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/nvml-scaler/nvml-scaler/cluster/aggregator"
	ct "github.com/nvml-scaler/nvml-scaler/internal/clustertest"
	"github.com/nvml-scaler/nvml-scaler/internal/tlsreload/certtest"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

func TestAggregateTLSUsageErrors(t *testing.T) {
	t.Parallel()
	base := []string{"aggregate", "--agents", "127.0.0.1:1", "--listen", "127.0.0.1:0"}
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"cert without key":       {[]string{"--tls-cert", "tls.crt"}, "--tls-cert and --tls-key: give both or neither"},
		"key without cert":       {[]string{"--tls-key", "tls.key"}, "--tls-cert and --tls-key: give both or neither"},
		"client CA without cert": {[]string{"--tls-client-ca", "ca.crt"}, "--tls-client-ca needs --tls-cert and --tls-key"},
		"fast reload":            {[]string{"--tls-reload-interval", "10ms"}, "--tls-reload-interval 10ms: want at least 1s"},
		"agent cert without key": {[]string{"--agents-client-cert", "c.crt"}, "--agents-client-cert and --agents-client-key: give both or neither"},
		"agent key without cert": {[]string{"--agents-tls", "--agents-client-key", "c.key"}, "--agents-client-cert and --agents-client-key"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := run(context.Background(), t, append(base, tc.args...))
			assert.Equal(t, ExitUsage, r.code, r.stderr)
			assert.Contains(t, r.stderr, tc.want)
		})
	}
}

// Unreadable TLS files fail before the Kubernetes client is built, naming the
// flag.
func TestAggregateTLSFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	notPEM := filepath.Join(dir, "not.pem")
	certtest.WriteFile(t, notPEM, []byte("not a certificate"))
	base := []string{"aggregate", "--agents", "127.0.0.1:1", "--listen", "127.0.0.1:0"}
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"server cert missing": {[]string{"--tls-cert", missing, "--tls-key", missing}, "missing.pem"},
		"agents CA missing":   {[]string{"--agents-ca", missing}, "--agents-ca"},
		"agents CA not PEM":   {[]string{"--agents-ca", notPEM}, "no PEM certificate"},
		"agents cert missing": {[]string{"--agents-client-cert", missing, "--agents-client-key", missing}, "--agents-client-cert/--agents-client-key"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := run(context.Background(), t, append(base, tc.args...))
			assert.Equal(t, ExitError, r.code, r.stderr)
			assert.Contains(t, r.stderr, tc.want)
			assert.NotContains(t, r.stderr, "kubernetes client config")
		})
	}
}

// parseAggregateTLS parses the aggregate TLS flags as the command does and
// resolves them.
func parseAggregateTLS(t *testing.T, args ...string) *aggregateTLS {
	t.Helper()
	f := &aggregateFlags{}
	fs := pflag.NewFlagSet("aggregate", pflag.ContinueOnError)
	f.tls.register(fs)
	f.agentsTLS.register(fs)
	require.NoError(t, fs.Parse(args))
	require.NoError(t, f.tls.validate())
	require.NoError(t, f.agentsTLS.validate())
	tlso, err := f.tlsOptions(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	return tlso
}

// The aggregate TLS flags, end to end short of the Kubernetes API: a real
// serve whose KEDA port and node API require mutual TLS, an aggregator built
// with the options the flags resolve to (and a fake Kubernetes client), and
// KEDA's side dialing the aggregator with and without TLS.
func TestAggregateTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	agentsCA, aggCA, clientsCA := certtest.NewCA(t, "agents"), certtest.NewCA(t, "aggregator"), certtest.NewCA(t, "clients")
	agentCert, agentKey := agentsCA.Issue(t, "nvml-scaler-agent").Write(t, dir, "agent")
	aggCert, aggKey := aggCA.Issue(t, "nvml-scaler-aggregator").Write(t, dir, "aggregator")
	clientCert, clientKey := clientsCA.Issue(t, "aggregator-client").Write(t, dir, "client")
	agentsCAFile, clientsCAFile := filepath.Join(dir, "agents-ca.crt"), filepath.Join(dir, "clients-ca.crt")
	certtest.WriteFile(t, agentsCAFile, agentsCA.PEM)
	certtest.WriteFile(t, clientsCAFile, clientsCA.PEM)

	// serve passes its TLS credentials, mutual here, to the node API too.
	nodeAPI := freeAddr(t)
	s := startServe(t, "--replay", rampRecording, "--interval", "100ms", "--node-name", "gpu-node-7",
		"--node-api-listen", nodeAPI, "--kubelet-socket", filepath.Join(dir, "kubelet.sock"),
		"--tls-cert", agentCert, "--tls-key", agentKey, "--tls-client-ca", clientsCAFile)
	defer func() {
		r := s.stop(t)
		assert.Equal(t, ExitOK, r.code, r.stderr)
	}()

	startAgg := func(t *testing.T, tlso *aggregateTLS) (*aggregator.Aggregator, string) {
		t.Helper()
		agg, err := aggregator.New(aggregator.Config{Discovery: aggregator.Static{nodeAPI}, Kube: ct.Kube(),
			DiscoveryInterval: 50 * time.Millisecond, GRPCOptions: tlso.grpcOpts, DialOptions: tlso.dialOpts})
		require.NoError(t, err)
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- agg.Serve(ctx, lis) }()
		t.Cleanup(func() {
			cancel()
			require.NoError(t, <-done)
		})
		return agg, lis.Addr().String()
	}

	t.Run("mutual", func(t *testing.T) {
		tlso := parseAggregateTLS(t, "--tls-cert", aggCert, "--tls-key", aggKey, "--tls-reload-interval", "1s",
			"--agents-ca", agentsCAFile, "--agents-client-cert", clientCert, "--agents-client-key", clientKey,
			"--agents-server-name", "localhost")
		require.NotNil(t, tlso.server)
		require.NotNil(t, tlso.client)
		agg, addr := startAgg(t, tlso)
		require.Eventually(t, func() bool {
			st := agg.Agents()
			return len(st) == 1 && st[0].Connected && st[0].Node == "gpu-node-7"
		}, 20*time.Second, 50*time.Millisecond, "the aggregator streams from the agent over mutual TLS")

		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(aggCA.PEM)
		tlsCreds := grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
		resp, err := liveness(t, addr, tlsCreds)
		require.NoError(t, err)
		assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
		_, err = liveness(t, addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		assert.Equal(t, codes.Unavailable, status.Code(err), "plaintext to the TLS port: %v", err)
	})

	t.Run("no client certificate", func(t *testing.T) {
		tlso := parseAggregateTLS(t, "--agents-ca", agentsCAFile, "--agents-server-name", "localhost")
		assert.Nil(t, tlso.server)
		assert.Nil(t, tlso.client)
		agg, _ := startAgg(t, tlso)
		require.Eventually(t, func() bool {
			st := agg.Agents()
			return len(st) == 1 && st[0].LastError != ""
		}, 20*time.Second, 50*time.Millisecond, "the agent refuses an aggregator without a client certificate")
		assert.False(t, agg.Agents()[0].Connected)
		// With TLS 1.3 the refusal arrives as the "certificate required" alert
		// or as the connection closing, depending on timing: both Unavailable.
		assert.Contains(t, agg.Agents()[0].LastError, "Unavailable")
	})

	t.Run("plaintext to a TLS agent", func(t *testing.T) {
		agg, _ := startAgg(t, parseAggregateTLS(t))
		require.Eventually(t, func() bool {
			st := agg.Agents()
			return len(st) == 1 && st[0].LastError != ""
		}, 20*time.Second, 50*time.Millisecond)
		assert.False(t, agg.Agents()[0].Connected)
		assert.Contains(t, agg.Agents()[0].LastError, "Unavailable")
	})
}

func liveness(t *testing.T, addr string, creds grpc.DialOption) (*healthpb.HealthCheckResponse, error) {
	t.Helper()
	conn, err := grpc.NewClient(addr, creds)
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: scaler.HealthLiveness})
}

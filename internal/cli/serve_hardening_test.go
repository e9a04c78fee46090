// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/internal/tlsreload/certtest"
)

// TestServeMetrics: /metrics on the HTTP listener, with the per-GPU gauges
// when asked, and RPCs counted by method and code. Plaintext is warned about.
func TestServeMetrics(t *testing.T) {
	t.Parallel()
	s := startServe(t, "--replay", rampRecording, "--replay-speed", "4", "--interval", "100ms",
		"--log-format", "text", "--per-gpu-metrics")
	waitReady(t, s)
	r := run(context.Background(), t, []string{"query", "--address", s.grpc, "--metadata", "metric=sm_active_percent,targetValue=60"})
	require.Equal(t, ExitOK, r.code, r.stderr)

	code, body := get(t, "http://"+s.http+"/metrics")
	assert.Equal(t, 200, code)
	for _, want := range []string{
		"nvml_scaler_ready 1\n",
		"nvml_scaler_gpus 1\n",
		"nvml_scaler_gpus_lost 0\n",
		"nvml_scaler_streams_open 0\n",
		`nvml_scaler_rpc_requests_total{code="OK",method="externalscaler.ExternalScaler/GetMetrics"} 1`,
		`nvml_scaler_gpu_sm_active_percent{index="0",model="NVIDIA H200",uuid="GPU-`,
		"nvml_scaler_sweep_duration_seconds_bucket{le=",
		"nvml_scaler_snapshot_age_seconds ",
		"process_resident_memory_bytes ",
	} {
		assert.Contains(t, body, want)
	}
	res := s.stop(t)
	assert.Equal(t, ExitOK, res.code, res.stderr)
	assert.Contains(t, res.stderr, "serving gRPC without TLS")
	assert.Contains(t, res.stderr, "tls=off")
}

// TestServeTLS: mutual TLS from files, as cert-manager mounts them, renewed
// while serving.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	serverCA, clientCA := certtest.NewCA(t, "scaler ca"), certtest.NewCA(t, "keda clients")
	cert, key := serverCA.Issue(t, "nvml-scaler").Write(t, dir, "tls")
	caFile := filepath.Join(dir, "ca.crt")
	certtest.WriteFile(t, caFile, clientCA.PEM)
	trust := filepath.Join(dir, "trust.crt")
	certtest.WriteFile(t, trust, serverCA.PEM)
	clientCert, clientKey := clientCA.Issue(t, "keda").Write(t, dir, "client")

	s := startServe(t, "--replay", rampRecording, "--interval", "100ms", "--log-format", "text",
		"--tls-cert", cert, "--tls-key", key, "--tls-client-ca", caFile, "--tls-reload-interval", "1s")
	query := func(extra ...string) result {
		args := append([]string{"query", "--address", s.grpc, "--timeout", "5s",
			"--metadata", "metric=power_watts,targetValue=400"}, extra...)
		return run(context.Background(), t, args)
	}
	mtls := []string{"--ca-cert", trust, "--client-cert", clientCert, "--client-key", clientKey}
	require.Eventually(t, func() bool { return query(mtls...).code == ExitOK }, 20*time.Second, 50*time.Millisecond)
	r := query("--ca-cert", trust)
	assert.Equal(t, ExitError, r.code, "no client certificate")
	r = query()
	assert.Equal(t, ExitError, r.code, "plaintext")

	// Renewal under a new CA: new connections get the new certificate.
	newCA := certtest.NewCA(t, "scaler ca 2")
	newCA.Issue(t, "nvml-scaler").Write(t, dir, "tls")
	newTrust := filepath.Join(dir, "trust2.crt")
	certtest.WriteFile(t, newTrust, newCA.PEM)
	require.Eventually(t, func() bool {
		return query("--ca-cert", newTrust, "--client-cert", clientCert, "--client-key", clientKey).code == ExitOK
	}, 20*time.Second, 100*time.Millisecond, "the renewed certificate is served")

	res := s.stop(t)
	assert.Equal(t, ExitOK, res.code, res.stderr)
	assert.Contains(t, res.stderr, "tls=mutual")
	assert.Contains(t, res.stderr, `msg="tls certificate loaded"`)
	assert.Contains(t, res.stderr, `msg="tls certificate reloaded"`)
	assert.NotContains(t, res.stderr, "without TLS")
}

func TestServeTLSFlagErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key := certtest.NewCA(t, "ca").Issue(t, "s").Write(t, dir, "tls")
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--tls-cert", cert}, ExitUsage, "--tls-cert and --tls-key: give both or neither"},
		{[]string{"--tls-client-ca", cert}, ExitUsage, "--tls-client-ca needs --tls-cert and --tls-key"},
		{[]string{"--tls-cert", cert, "--tls-key", key, "--tls-reload-interval", "10ms"}, ExitUsage, "--tls-reload-interval 10ms: want at least 1s"},
		{[]string{"--tls-cert", cert, "--tls-key", cert}, ExitError, "tls: "},
		{[]string{"--tls-cert", cert, "--tls-key", key, "--tls-client-ca", key}, ExitError, "no PEM certificate in it"},
	} {
		r := run(context.Background(), t, append([]string{"serve", "--replay", rampRecording,
			"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"}, tt.args...))
		assert.Equal(t, tt.code, r.code, r.stderr)
		assert.Contains(t, r.stderr, tt.want)
	}
}

// TestServeSIGTERM sends this process a real SIGTERM while serve runs on the
// fake NVML with a StreamIsActive stream open, as main wires it
// (signal.NotifyContext): serve ends the stream, stops, shuts NVML down and
// exits 0 within a bound.
func TestServeSIGTERM(t *testing.T) {
	// Not parallel: the signal goes to the whole test process.
	f := fakenvml.New(t, loadRecording(t, rampRecording))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	addrs := make(chan [2]string, 1)
	done := make(chan result, 1)
	go func() {
		done <- run(ctx, t, []string{"serve", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
			"--nvml-lib", f.LibPath, "--interval", "100ms", "--log-format", "text"},
			WithListenHook(func(g, h string) { addrs <- [2]string{g, h} }))
	}()
	var a [2]string
	select {
	case a = <-addrs:
	case r := <-done:
		t.Fatalf("serve exited early: %s", r.stderr)
	}
	s := &server{grpc: a[0], http: a[1]}
	waitReady(t, s)
	conn, err := grpc.NewClient(s.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	stream, err := pb.NewExternalScalerClient(conn).StreamIsActive(context.Background(),
		&pb.ScaledObjectRef{Name: "vllm", Namespace: "ml", ScalerMetadata: map[string]string{"metric": "power_watts", "targetValue": "1"}})
	require.NoError(t, err)
	_, err = stream.Recv()
	require.NoError(t, err)

	start := time.Now()
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit within 30s of SIGTERM")
	}
	took := time.Since(start)
	assert.Equal(t, ExitOK, r.code, r.stderr)
	assert.Less(t, took, 5*time.Second, "exits promptly")
	_, err = stream.Recv()
	assert.ErrorIs(t, err, io.EOF, "the open stream is ended cleanly")
	for _, want := range []string{"nvml-scaler stopping: draining open calls", `msg="source closed"`, `msg="nvml-scaler stopped"`} {
		assert.Contains(t, r.stderr, want)
	}
	t.Logf("SIGTERM to exit: %v", took)
}

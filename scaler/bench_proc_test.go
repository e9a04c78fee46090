// SPDX-License-Identifier: Apache-2.0

package scaler_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"testing"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"

	"github.com/nvml-scaler/nvml-scaler/internal/metrics"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// benchChildEnv names the server TestBenchServerChild runs.
const benchChildEnv = "NVML_SCALER_BENCH_SERVER"

// benchWrapEnv, when set, is a command line (split at spaces) that
// BenchmarkGetMetricsGRPCProcess puts before each server process: a counter
// of the server's own instructions, such as
// "valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%q{NVML_SCALER_BENCH_CASE}.%p".
// The child then also gets benchCaseEnv, naming the case ("c8-constant").
const (
	benchWrapEnv = "NVML_SCALER_BENCH_WRAP"
	benchCaseEnv = "NVML_SCALER_BENCH_CASE"
)

// benchProfEnv, when set, is a path prefix: each server process writes its
// CPU profile to <prefix>.<case> (go tool pprof scaler.test <file>).
const benchProfEnv = "NVML_SCALER_BENCH_PROF"

// TestBenchServerChild is the server process of BenchmarkGetMetricsGRPCProcess:
// it serves until its stdin closes. It skips when not started by it.
func TestBenchServerChild(t *testing.T) {
	which := os.Getenv(benchChildEnv)
	if which == "" {
		t.Skip("the server process of BenchmarkGetMetricsGRPCProcess")
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(lis.Addr())
	stopProfile := func() {}
	if prefix := os.Getenv(benchProfEnv); prefix != "" {
		if stopProfile, err = startCPUProfile(prefix + "." + os.Getenv(benchCaseEnv)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	switch which {
	case "nvml-scaler":
		// serve's server: its counting (internal/cli/serve.go), 8 fake GPUs.
		m := metrics.New(metrics.Options{})
		s, err := scaler.NewSampler(scaler.SamplerConfig{Source: scaler.NewFakeSource(scaler.BenchGPUs), OnSweep: m.ObserveSweep})
		if err != nil {
			t.Fatal(err)
		}
		m.WatchSampler(s)
		srv, err := scaler.NewServer(m.Instrument(scaler.ServerConfig{Sampler: s}))
		if err != nil {
			t.Fatal(err)
		}
		_ = srv.Serve(ctx, lis)
	case "limits":
		serveConstant(ctx, scaler.LimitListener(lis, 0, nil), scaler.Limits{}.ServerOptions()...)
	case "workers":
		serveConstant(ctx, lis, grpc.NumStreamWorkers(scaler.StreamWorkers))
	default:
		serveConstant(ctx, lis)
	}
	stopProfile()
	os.Exit(0) // without goleak's check: the stdin reader is still blocked
}

// startCPUProfile writes the process's CPU profile to path until stop.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return func() { pprof.StopCPUProfile(); _ = f.Close() }, nil
}

// serveConstant serves the constant answer on lis with opts until ctx ends.
func serveConstant(ctx context.Context, lis net.Listener, opts ...grpc.ServerOption) {
	gs := grpc.NewServer(opts...)
	pb.RegisterExternalScalerServer(gs, scaler.ConstantServer{})
	go func() { <-ctx.Done(); gs.Stop() }()
	_ = gs.Serve(lis)
}

// BenchmarkGetMetricsGRPCProcess is BenchmarkGetMetricsGRPC with each server
// in its own process, so that the server's CPU per request is measured apart
// from the client's (server-cpu-µs/req, from /proc/<pid>/stat): a figure
// less at the mercy of a busy machine than requests/s. "nvml-scaler" is
// serve's server, its call counting included, on 8 fake GPUs. Between it
// and the constant-answer floor, "limits" answers the same constants behind
// serve's limits (the tap, the guard's interceptors, the listener's cap): what
// they cost apart from the handler; "workers" is the constant answer with
// only the StreamWorkers option, gRPC's own gain from reused goroutines.
func BenchmarkGetMetricsGRPCProcess(b *testing.B) {
	for _, c := range []int{1, 8, 64} {
		for _, server := range []string{"nvml-scaler", "limits", "workers", "constant"} {
			b.Run(fmt.Sprintf("c=%d/server=%s", c, server), func(b *testing.B) {
				args := append(strings.Fields(os.Getenv(benchWrapEnv)), os.Args[0], "-test.run=^TestBenchServerChild$")
				cmd := exec.Command(args[0], args[1:]...)
				cmd.Env = append(os.Environ(), benchChildEnv+"="+server, fmt.Sprintf("%s=c%d-%s", benchCaseEnv, c, server))
				cmd.Stderr = os.Stderr
				stdin, err := cmd.StdinPipe()
				if err != nil {
					b.Fatal(err)
				}
				stdout, err := cmd.StdoutPipe()
				if err != nil {
					b.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
				line, err := bufio.NewReader(stdout).ReadString('\n')
				if err != nil {
					b.Fatal(err)
				}
				scaler.RunGRPCBench(b, strings.TrimSpace(line), c, cmd.Process.Pid)
			})
		}
	}
}

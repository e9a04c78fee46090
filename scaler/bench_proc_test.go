// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
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
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	switch which {
	case "nvml-scaler":
		s, err := NewSampler(SamplerConfig{Source: newFake(benchGPUs)})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := NewServer(ServerConfig{Sampler: s})
		if err != nil {
			t.Fatal(err)
		}
		_ = srv.Serve(ctx, lis)
	case "limits":
		serveConstant(ctx, LimitListener(lis, 0, nil), Limits{}.ServerOptions()...)
	case "workers":
		serveConstant(ctx, lis, grpc.NumStreamWorkers(StreamWorkers))
	default:
		serveConstant(ctx, lis)
	}
	os.Exit(0)
}

// serveConstant serves the constant answer on lis with opts until ctx ends.
func serveConstant(ctx context.Context, lis net.Listener, opts ...grpc.ServerOption) {
	gs := grpc.NewServer(opts...)
	pb.RegisterExternalScalerServer(gs, constantServer{})
	go func() { <-ctx.Done(); gs.Stop() }()
	_ = gs.Serve(lis)
}

// BenchmarkGetMetricsGRPCProcess is BenchmarkGetMetricsGRPC with each server
// in its own process, so that the server's CPU per request is measured apart
// from the client's (server-cpu-µs/req, from /proc/<pid>/stat): a figure
// less at the mercy of a busy machine than requests/s. Between nvml-scaler
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
				runGRPCBench(b, strings.TrimSpace(line), c, cmd.Process.Pid)
			})
		}
	}
}

// procCPU returns the user and system CPU time pid has used (0 for pid 0),
// from /proc/<pid>/stat, in clock ticks of 10 ms.
func procCPU(b *testing.B, pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses: state is
	// field 3, utime 14, stime 15.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	var utime, stime int64
	if _, err := fmt.Sscan(f[11], &utime); err != nil {
		b.Fatal(err)
	}
	if _, err := fmt.Sscan(f[12], &stime); err != nil {
		b.Fatal(err)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

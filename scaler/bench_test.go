// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// benchGPUs matches the measurements in docs/design.md: 8 fake H200s.
const benchGPUs = 8

func benchRequest() *pb.GetMetricsRequest {
	return &pb.GetMetricsRequest{
		ScaledObjectRef: &pb.ScaledObjectRef{Name: "vllm", Namespace: "default", ScalerMetadata: map[string]string{
			"scalerAddress": "nvml-scaler.keda:9090", "metric": "sm_active_percent", "targetValue": "60",
			"activationTargetValue": "5", "aggregation": "sum"}},
		MetricName: "nvml-sm-active-percent-sum",
	}
}

// BenchmarkGetMetrics calls the handler in process on a cached snapshot: the
// cost of one answer without gRPC.
func BenchmarkGetMetrics(b *testing.B) {
	for _, bc := range []struct {
		name, window string
	}{{"latest", ""}, {"window=30s", "30s"}} {
		b.Run(bc.name, func(b *testing.B) {
			clock := newClock()
			s, err := NewSampler(SamplerConfig{Source: newFake(benchGPUs), Now: clock.Now})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for range 31 {
				clock.Add(time.Second)
				if _, err := s.Sweep(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			srv, err := NewServer(ServerConfig{Sampler: s})
			if err != nil {
				b.Fatal(err)
			}
			req := benchRequest()
			req.ScaledObjectRef.ScalerMetadata["window"] = bc.window
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := srv.GetMetrics(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSweep measures one sweep of 8 GPUs over an in-memory Source: the
// Sampler's own overhead on top of the Source's calls.
func BenchmarkSweep(b *testing.B) {
	s, err := NewSampler(SamplerConfig{Source: newFake(benchGPUs)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sweep(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// constantServer answers GetMetrics from constants: the floor any
// ExternalScaler server on this machine can reach.
type constantServer struct {
	pb.UnimplementedExternalScalerServer
}

func (constantServer) GetMetrics(context.Context, *pb.GetMetricsRequest) (*pb.GetMetricsResponse, error) {
	return &pb.GetMetricsResponse{MetricValues: []*pb.MetricValue{{
		MetricName: "nvml-sm-active-percent-sum", MetricValue: 360, MetricValueFloat: 360}}}, nil
}

// BenchmarkGetMetricsGRPC runs GetMetrics over loopback TCP from 1, 8 and 64
// goroutines sharing one client connection (as KEDA's operator does), against
// this server and, in the same run, against a constant-answer server: compare
// the two at each concurrency.
func BenchmarkGetMetricsGRPC(b *testing.B) {
	for _, c := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("c=%d/server=nvml-scaler", c), func(b *testing.B) {
			s, err := NewSampler(SamplerConfig{Source: newFake(benchGPUs)})
			if err != nil {
				b.Fatal(err)
			}
			srv, err := NewServer(ServerConfig{Sampler: s})
			if err != nil {
				b.Fatal(err)
			}
			lis := listenLoopback(b)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() {
				if err := srv.Serve(ctx, lis); err != nil {
					b.Error(err)
				}
			})
			defer func() {
				cancel()
				wg.Wait()
			}()
			runGRPCBench(b, lis.Addr().String(), c, 0)
		})
		b.Run(fmt.Sprintf("c=%d/server=constant", c), func(b *testing.B) {
			lis := listenLoopback(b)
			gs := grpc.NewServer()
			pb.RegisterExternalScalerServer(gs, constantServer{})
			var wg sync.WaitGroup
			wg.Go(func() { _ = gs.Serve(lis) })
			defer func() {
				gs.Stop()
				wg.Wait()
			}()
			runGRPCBench(b, lis.Addr().String(), c, 0)
		})
	}
}

func listenLoopback(b *testing.B) net.Listener {
	b.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return lis
}

// runGRPCBench calls addr's GetMetrics b.N times from concurrency goroutines
// and reports latency and throughput; with pid > 0, also that process's CPU
// per request (the server's, when it runs in its own process).
func runGRPCBench(b *testing.B, addr string, concurrency, pid int) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewExternalScalerClient(conn)
	req := benchRequest()
	ctx := context.Background()
	// Wait (bounded) until the server answers: the sampler's first sweep.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := client.GetMetrics(ctx, req); err == nil {
			break
		} else if time.Now().After(deadline) {
			b.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	lat := make([][]time.Duration, concurrency)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	cpu0 := procCPU(b, pid)
	for g := range concurrency {
		wg.Go(func() {
			mine := make([]time.Duration, 0, b.N/concurrency+1)
			for next.Add(1) <= int64(b.N) {
				t := time.Now()
				if _, err := client.GetMetrics(ctx, req); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t))
			}
			lat[g] = mine
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := procCPU(b, pid) - cpu0
	b.StopTimer()
	if pid > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "server-cpu-µs/req")
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
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

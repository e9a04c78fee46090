// SPDX-License-Identifier: Apache-2.0

package aggregator_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	goruntime "runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/nvml-scaler/nvml-scaler/cluster/agent"
	"github.com/nvml-scaler/nvml-scaler/cluster/aggregator"
	ct "github.com/nvml-scaler/nvml-scaler/internal/clustertest"
	"github.com/nvml-scaler/nvml-scaler/proto/nodev1"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// The benchmark's simulated agents run in a child process (this test binary
// re-executed with simEnv set), so that the parent's CPU time and memory are
// the aggregator's (and its benchmark client's) alone.
const (
	simEnv       = "NVML_SCALER_SIM_AGENTS"
	simGPUs      = 8
	simInterval  = time.Second
	benchPods    = 100 // the benchmarked ScaledObject's pods, one per node
	benchWarmup  = 3 * time.Second
	benchIngestT = 5 * time.Second
)

func simNodeName(i int) string { return fmt.Sprintf("node-%04d", i) }

// BenchmarkAggregator1000Nodes: 1000 simulated agents × 8 GPUs, each sweeping
// once a second at its own phase, stream to one aggregator. It reports the
// aggregator's CPU (cores) and heap while ingesting, the delivery latency from
// a sweep to the aggregator's view (p50, p99; freshness is at most one sweep
// interval more), and GetMetrics latency (p50, p99) over gRPC on loopback for
// a ScaledObject whose 100 pods hold 800 GPUs on 100 nodes. Run it as
//
//	go test -run '^$' -bench Aggregator1000 -benchtime 2000x ./cluster/aggregator
//
// (each b.N starts the whole simulation again: use an explicit count).
func BenchmarkAggregator1000Nodes(b *testing.B) {
	benchAggregator(b, 1000)
}

func benchAggregator(b *testing.B, nodes int) {
	addrs := startSim(b, nodes)
	kube := benchKube()
	var mu sync.Mutex
	var delivery []time.Duration
	agg, err := aggregator.New(aggregator.Config{Discovery: aggregator.Static(addrs), Kube: kube})
	require.NoError(b, err)
	aggregator.SetApplied(agg, func(n *agent.Node, at time.Time) {
		d := at.Sub(n.Snapshot.Start)
		mu.Lock()
		delivery = append(delivery, d)
		mu.Unlock()
	})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- agg.Serve(ctx, lis) }()
	defer func() {
		cancel()
		require.NoError(b, <-done)
	}()
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(b, err)
	defer cc.Close()
	client := pb.NewExternalScalerClient(cc)
	req := &pb.GetMetricsRequest{MetricName: "m", ScaledObjectRef: &pb.ScaledObjectRef{Name: "w-so", Namespace: "bench",
		ScalerMetadata: map[string]string{"metric": "sm_active_percent", "targetValue": "60", "aggregation": "sum"}}}

	require.Eventually(b, func() bool {
		fresh := 0
		for _, s := range agg.Agents() {
			if s.Fresh {
				fresh++
			}
		}
		_, err := client.GetMetrics(ctx, req)
		return fresh == nodes && err == nil
	}, 2*time.Minute, 100*time.Millisecond, "every agent connected and the cache synced")
	time.Sleep(benchWarmup)

	// Ingest only: the aggregator's own cost of 1000 streams.
	mu.Lock()
	delivery = delivery[:0]
	mu.Unlock()
	cpu0, t0 := cpuTime(), time.Now()
	time.Sleep(benchIngestT)
	cores := float64(cpuTime()-cpu0) / float64(time.Since(t0))
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	mu.Lock()
	slices.Sort(delivery)
	p50, p99 := pct(delivery, 0.50), pct(delivery, 0.99)
	n := len(delivery)
	mu.Unlock()

	// GetMetrics, one call at a time (as KEDA does per ScaledObject).
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t := time.Now()
		resp, err := client.GetMetrics(ctx, req)
		lat = append(lat, time.Since(t))
		if err != nil || !(resp.MetricValues[0].MetricValueFloat > 0) {
			b.Fatalf("GetMetrics: %v %v", resp, err)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(cores, "ingest-cores")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(n)/benchIngestT.Seconds(), "snapshots/s")
	b.ReportMetric(float64(p50)/1e6, "delivery-p50-ms")
	b.ReportMetric(float64(p99)/1e6, "delivery-p99-ms")
	b.ReportMetric(float64(pct(lat, 0.50))/1e6, "getmetrics-p50-ms")
	b.ReportMetric(float64(pct(lat, 0.99))/1e6, "getmetrics-p99-ms")
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(math.Ceil(p*float64(len(sorted))))-1)]
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchKube: Deployment bench/w with benchPods pods, pod i on node i with all
// of its GPUs (the simulated kubelets attribute them so).
func benchKube() *dynamicfake.FakeDynamicClient {
	d := ct.Deployment("bench", "w")
	rs := ct.ReplicaSet("w-1", d)
	objs := []runtime.Object{d, rs, ct.ScaledObject("bench", "w-so", "apps/v1", "Deployment", "w")}
	for i := range benchPods {
		objs = append(objs, ct.Pod(fmt.Sprintf("w-%d", i), rs, "bench", simNodeName(i), "Running", gpuRes, simGPUs, nil))
	}
	return ct.Kube(objs...)
}

// startSim starts the child process and returns its agents' addresses.
func startSim(b *testing.B, nodes int) []string {
	exe, err := os.Executable()
	require.NoError(b, err)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), simEnv+"="+strconv.Itoa(nodes))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(b, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(b, err)
	require.NoError(b, cmd.Start())
	b.Cleanup(func() {
		_ = stdin.Close() // the child exits when its stdin closes
		_ = cmd.Wait()
	})
	var addrs []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "ready" {
		addrs = append(addrs, sc.Text())
	}
	require.Len(b, addrs, nodes)
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return addrs
}

// runSim serves n simulated agents, one listener each, until stdin closes.
func runSim(n int) {
	gs := grpc.NewServer(agent.ServerOptions()...)
	sim := &simAgents{byPort: map[int]int{}}
	nodev1.RegisterNodeSnapshotsServer(gs, sim)
	var liss []net.Listener
	for i := range n {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "sim:", err)
			os.Exit(1)
		}
		sim.byPort[lis.Addr().(*net.TCPAddr).Port] = i
		liss = append(liss, lis)
		fmt.Println(lis.Addr().String())
	}
	for _, lis := range liss {
		go func() { _ = gs.Serve(lis) }()
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	gs.Stop()
}

type simAgents struct {
	nodev1.UnimplementedNodeSnapshotsServer
	byPort map[int]int // read-only once serving
}

// Watch sends node i's devices and attribution, then a snapshot every
// simInterval at a random phase, with values that drift.
func (s *simAgents) Watch(_ *nodev1.WatchRequest, stream nodev1.NodeSnapshots_WatchServer) error {
	p, _ := peer.FromContext(stream.Context())
	i := s.byPort[p.LocalAddr.(*net.TCPAddr).Port]
	node := simNodeName(i)
	first := &nodev1.Snapshot{Attribution: &nodev1.Attribution{Available: true}}
	for k := range simGPUs {
		uuid := ct.GPUUUID(node, k)
		first.Devices = append(first.Devices, &nodev1.Device{Index: int32(k), Uuid: uuid, Model: "NVIDIA H200"})
		first.Attribution.Owners = append(first.Attribution.Owners, &nodev1.Owner{DeviceUuid: uuid,
			Namespace: "bench", Pod: fmt.Sprintf("w-%d", i), Container: "c", Resource: gpuRes})
	}
	status := make([]byte, scaler.NumMetrics)
	for m := range status {
		status[m] = byte(scaler.StatusOK)
	}
	time.Sleep(rand.N(simInterval))
	tick := time.NewTicker(simInterval)
	defer tick.Stop()
	m := first
	for seq := uint64(1); ; seq++ {
		now := time.Now()
		m.Epoch, m.Seq, m.Node, m.StartUnixNanos, m.IntervalNanos = 1, seq, node, now.UnixNano(), int64(simInterval)
		m.Gpus = make([]*nodev1.GPUState, simGPUs)
		for k := range simGPUs {
			vals := make([]float64, scaler.NumMetrics)
			for j := range vals {
				vals[j] = 50 + 40*math.Sin(float64(seq)/7+float64(k+j))
			}
			m.Gpus[k] = &nodev1.GPUState{Status: status, Values: vals}
		}
		if err := stream.Send(m); err != nil {
			return nil
		}
		m = &nodev1.Snapshot{}
		select {
		case <-stream.Context().Done():
			return nil
		case <-tick.C:
		}
	}
}

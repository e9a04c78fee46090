// SPDX-License-Identifier: Apache-2.0

package aggregator_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/nvml-scaler/nvml-scaler/cluster/aggregator"
	ct "github.com/nvml-scaler/nvml-scaler/internal/clustertest"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

func TestMain(m *testing.M) {
	if n, err := strconv.Atoi(os.Getenv(simEnv)); err == nil {
		runSim(n) // the benchmark's child process
		return
	}
	goleak.VerifyTestMain(m)
}

const gpuRes = "nvidia.com/gpu"

// cluster is three simulated GPU nodes, the Kubernetes objects of a few
// workloads on them, and an aggregator over both.
type cluster struct {
	t     *testing.T
	addrs atomic.Pointer[[]string]
	clk   *ct.Clock
	nodes map[string]*ct.Node
	kube  *dynamicfake.FakeDynamicClient
	agg   *aggregator.Aggregator
}

// newCluster starts, on one fake clock:
//
//	n1: h200-steps × 4 GPUs          vllm-1 (GPUs 0, 1), triton-1 (GPU 2)
//	n2: h200-inference-ramp × 4 GPUs vllm-2 (GPU 3)
//	n3: h100-two-tenants × 2 GPUs with 2 MIG devices each
//	                                 batch-0 (MIG 0/0 and 1/1)
//
// Deployments llm/vllm (RS vllm-abc) and llm/triton share n1; StatefulSet
// batch/batch runs on n3; Deployment llm/idle has zero replicas. Each has a
// ScaledObject named after it with an "-so" suffix.
func newCluster(t *testing.T, cfg aggregator.Config) *cluster {
	t.Helper()
	c := &cluster{t: t, clk: ct.NewClock(), nodes: map[string]*ct.Node{}}
	for _, n := range []struct {
		name, rec  string
		gpus, migs int
	}{{"n1", "h200-steps.json", 4, 0}, {"n2", "h200-inference-ramp.json", 4, 0}, {"n3", "h100-two-tenants.json", 2, 2}} {
		rec := ct.Synthetic(ct.Recording(t, n.rec), n.name, n.gpus, n.migs)
		c.nodes[n.name] = ct.StartNode(t, n.name, rec, c.clk)
	}
	c.nodes["n1"].Kubelet.Allocate("llm", "vllm-1", "server", gpuRes, ct.GPUUUID("n1", 0), ct.GPUUUID("n1", 1))
	c.nodes["n1"].Kubelet.Allocate("llm", "triton-1", "server", gpuRes, ct.GPUUUID("n1", 2)+"::0")
	c.nodes["n2"].Kubelet.Allocate("llm", "vllm-2", "server", gpuRes, ct.GPUUUID("n2", 3))
	c.nodes["n3"].Kubelet.Allocate("batch", "batch-0", "w", "nvidia.com/mig-1g.10gb", ct.MIGUUID("n3", 0, 0), ct.MIGUUID("n3", 1, 1))

	vllm, triton, idle := ct.Deployment("llm", "vllm"), ct.Deployment("llm", "triton"), ct.Deployment("llm", "idle")
	rs, trs := ct.ReplicaSet("vllm-abc", vllm), ct.ReplicaSet("triton-def", triton)
	batch := ct.StatefulSet("batch", "batch")
	app := func(name string) map[string]string { return map[string]string{"app": name} }
	objs := []runtime.Object{vllm, triton, idle, rs, trs, ct.ReplicaSet("idle-123", idle), batch,
		ct.Pod("vllm-1", rs, "llm", "n1", "Running", gpuRes, 2, app("vllm")),
		ct.Pod("vllm-2", rs, "llm", "n2", "Running", gpuRes, 1, app("vllm")),
		ct.Pod("triton-1", trs, "llm", "n1", "Running", gpuRes, 1, app("triton")),
		ct.Pod("batch-0", batch, "batch", "n3", "Running", "nvidia.com/mig-1g.10gb", 2, nil),
		ct.Pod("sidecar", nil, "llm", "n1", "Running", "", 0, app("vllm")),
		ct.ScaledObject("llm", "vllm-so", "apps/v1", "Deployment", "vllm"),
		ct.ScaledObject("llm", "triton-so", "apps/v1", "Deployment", "triton"),
		ct.ScaledObject("llm", "idle-so", "apps/v1", "Deployment", "idle"),
		ct.ScaledObject("batch", "batch-so", "apps/v1", "StatefulSet", "batch"),
		ct.ScaledObject("llm", "rollout-so", "argoproj.io/v1alpha1", "Rollout", "vllm"),
	}
	c.start(cfg, ct.Kube(objs...))
	c.step()
	require.Eventually(t, func() bool {
		_, err := c.agg.GetMetrics(context.Background(), c.req("idle-so", "llm", nil))
		return err == nil
	}, 10*time.Second, 5*time.Millisecond, "the Kubernetes cache syncs")
	return c
}

// start runs an aggregator over c's nodes and kube until the test ends.
func (c *cluster) start(cfg aggregator.Config, kube *dynamicfake.FakeDynamicClient) {
	t := c.t
	c.kube = kube
	cfg.Kube = c.kube
	cfg.Now = c.clk.Now
	c.setAddrs()
	cfg.Discovery = discoverFunc(func(context.Context) ([]string, error) { return *c.addrs.Load(), nil })
	if cfg.DiscoveryInterval == 0 {
		cfg.DiscoveryInterval = 10 * time.Millisecond
	}
	var err error
	c.agg, err = aggregator.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.agg.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}

type discoverFunc func(context.Context) ([]string, error)

func (f discoverFunc) Discover(ctx context.Context) ([]string, error) { return f(ctx) }

// setAddrs makes discovery return the nodes' agents.
func (c *cluster) setAddrs() {
	var addrs []string
	for _, n := range c.nodes {
		addrs = append(addrs, n.Addr)
	}
	c.addrs.Store(&addrs)
}

// step advances the clock by one sweep interval, sweeps every live node and
// waits until the aggregator holds every new snapshot.
func (c *cluster) step(skip ...string) {
	c.t.Helper()
	c.clk.Advance(scaler.MinInterval)
	want := map[string]uint64{}
	for name, n := range c.nodes {
		if n.Sampler.Latest() != nil && contains(skip, name) {
			continue
		}
		want[name] = n.Step().Seq
	}
	require.Eventually(c.t, func() bool {
		got := map[string]uint64{}
		for _, s := range c.agg.Agents() {
			if s.Connected && s.Seq == want[s.Node] {
				got[s.Node] = s.Seq
			}
		}
		return len(got) == len(want)
	}, 10*time.Second, time.Millisecond)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (c *cluster) req(so, ns string, md map[string]string) *pb.GetMetricsRequest {
	full := map[string]string{"metric": "power_watts", "targetValue": "100", "aggregation": "sum"}
	for k, v := range md {
		full[k] = v
	}
	return &pb.GetMetricsRequest{MetricName: "m", ScaledObjectRef: &pb.ScaledObjectRef{Name: so, Namespace: ns, ScalerMetadata: full}}
}

func (c *cluster) value(so, ns string, md map[string]string) (float64, error) {
	c.t.Helper()
	resp, err := c.agg.GetMetrics(context.Background(), c.req(so, ns, md))
	if err != nil {
		return 0, err
	}
	require.Len(c.t, resp.MetricValues, 1)
	assert.Equal(c.t, "m", resp.MetricValues[0].MetricName)
	return resp.MetricValues[0].MetricValueFloat, nil
}

func (c *cluster) active(so, ns string, md map[string]string) (bool, error) {
	resp, err := c.agg.IsActive(context.Background(), c.req(so, ns, md).ScaledObjectRef)
	return resp.GetResult(), err
}

// gpu returns device uuid's metric in node's newest snapshot, from the node's
// own sampler: what the aggregator must have received.
func (c *cluster) gpu(node, uuid string, m scaler.Metric) scaler.Value {
	snap := c.nodes[node].Sampler.Latest()
	for _, g := range snap.GPUs {
		if g.UUID == uuid {
			return g.Metrics[m]
		}
	}
	c.t.Fatalf("no device %s on %s", uuid, node)
	return scaler.Value{}
}

func (c *cluster) sum(m scaler.Metric, devs ...[2]string) float64 {
	total := 0.0
	for _, d := range devs {
		v := c.gpu(d[0], d[1], m)
		require.True(c.t, v.OK(), "%s %s %s", d[0], d[1], v.Status)
		total += v.V
	}
	return total
}

func dev(node string, k int) [2]string { return [2]string{node, ct.GPUUUID(node, k)} }

func requireCode(t *testing.T, err error, code codes.Code, contains ...string) {
	t.Helper()
	require.Error(t, err)
	st, ok := status.FromError(err)
	require.True(t, ok, "%v is a gRPC status", err)
	assert.Equal(t, code, st.Code(), st.Message())
	for _, s := range contains {
		assert.Contains(t, st.Message(), s)
	}
}

// TestAttributionPerScaledObject: each ScaledObject gets exactly its own
// GPUs, across nodes, and two Deployments on one node do not see each other.
func TestAttributionPerScaledObject(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{})
	for i := range 5 {
		if i > 0 {
			c.step()
		}
		vllm := []([2]string){dev("n1", 0), dev("n1", 1), dev("n2", 3)}
		v, err := c.value("vllm-so", "llm", nil)
		require.NoError(t, err)
		assert.InDelta(t, c.sum(scaler.PowerWatts, vllm...), v, 1e-9, "step %d", i)

		v, err = c.value("vllm-so", "llm", map[string]string{"aggregation": "avg"})
		require.NoError(t, err)
		assert.InDelta(t, c.sum(scaler.PowerWatts, vllm...)/3, v, 1e-9)

		v, err = c.value("triton-so", "llm", nil)
		require.NoError(t, err)
		assert.InDelta(t, c.sum(scaler.PowerWatts, dev("n1", 2)), v, 1e-9)

		// The podSelector override selects the same pods (the GPU-less sidecar
		// shares the label and does not matter).
		v2, err := c.value("anything", "llm", map[string]string{"podSelector": "app in (vllm)"})
		require.NoError(t, err)
		assert.InDelta(t, c.sum(scaler.PowerWatts, vllm...), v2, 1e-9)
	}
	// The recorded power itself, for one GPU: sample (j + k×shift) of device 0.
	n1 := c.nodes["n1"]
	rec := ct.Recording(t, "h200-steps.json")
	j := (n1.Position() + 2*ct.GPUShift) % len(rec.Samples)
	v, err := c.value("triton-so", "llm", nil)
	require.NoError(t, err)
	assert.InDelta(t, float64(rec.Samples[j].Devices[0].PowerMilliwatts.Value)/1000, v, 1e-9)
}

// TestMIG: MIG devices allocated to a StatefulSet's pod count without being
// named, and only those.
func TestMIG(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{})
	c.step()
	j := c.nodes["n3"].Position()
	want := float64(ct.MIGMemory(0, 0, 2, j).Used + ct.MIGMemory(1, 1, 2, j).Used)
	v, err := c.value("batch-so", "batch", map[string]string{"metric": "memory_used_bytes"})
	require.NoError(t, err)
	assert.Equal(t, want, v)

	v, err = c.value("batch-so", "batch", map[string]string{"metric": "memory_used_bytes", "gpuUUIDs": ct.MIGUUID("n3", 1, 1)})
	require.NoError(t, err)
	assert.Equal(t, float64(ct.MIGMemory(1, 1, 2, j).Used), v)

	// Recordings hold no utilization for MIG devices: absent, never 0.
	_, err = c.value("batch-so", "batch", map[string]string{"metric": "gpu_utilization_percent"})
	requireCode(t, err, codes.Unavailable, "no value on the 2 GPU(s) of StatefulSet batch/batch", "missing")
}

// TestSelectionFilters: gpuModel, gpuIndexes and nodeNames narrow the pods'
// GPUs as on the node server.
func TestSelectionFilters(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{})
	v, err := c.value("vllm-so", "llm", map[string]string{"nodeNames": "n2"})
	require.NoError(t, err)
	assert.InDelta(t, c.sum(scaler.PowerWatts, dev("n2", 3)), v, 1e-9)

	v, err = c.value("vllm-so", "llm", map[string]string{"gpuIndexes": "1,3"})
	require.NoError(t, err)
	assert.InDelta(t, c.sum(scaler.PowerWatts, dev("n1", 1), dev("n2", 3)), v, 1e-9)

	_, err = c.value("vllm-so", "llm", map[string]string{"gpuModel": "NVIDIA B200"})
	requireCode(t, err, codes.NotFound, "none of the 3 GPU(s) allocated to Deployment llm/vllm")
	_, err = c.value("vllm-so", "llm", map[string]string{"nodeNames": "n3"})
	requireCode(t, err, codes.NotFound, "nodeNames")
}

// TestZeroReplicas: no pods means 0 and inactive, not an error.
func TestZeroReplicas(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{})
	v, err := c.value("idle-so", "llm", nil)
	require.NoError(t, err)
	assert.Zero(t, v)
	active, err := c.active("idle-so", "llm", nil)
	require.NoError(t, err)
	assert.False(t, active)
	active, err = c.active("vllm-so", "llm", nil)
	require.NoError(t, err)
	assert.True(t, active)

	// A pending pod (no node yet) does not hold GPUs either.
	idleRS := ct.ReplicaSet("idle-123", ct.Deployment("llm", "idle"))
	c.create(ct.Pod("idle-1", idleRS, "llm", "", "Pending", gpuRes, 1, nil))
	c.create(ct.Pod("idle-2", idleRS, "llm", "n2", "Pending", gpuRes, 1, nil))
	time.Sleep(50 * time.Millisecond) // let the informer see them; nothing changes
	v, err = c.value("idle-so", "llm", nil)
	require.NoError(t, err)
	assert.Zero(t, v)
}

func (c *cluster) create(u *unstructured.Unstructured) {
	c.t.Helper()
	_, err := c.kube.Resource(gvr(u)).Namespace(u.GetNamespace()).Create(context.Background(), u, metav1.CreateOptions{})
	require.NoError(c.t, err)
}

func (c *cluster) delete(u *unstructured.Unstructured) {
	c.t.Helper()
	require.NoError(c.t, c.kube.Resource(gvr(u)).Namespace(u.GetNamespace()).Delete(context.Background(), u.GetName(), metav1.DeleteOptions{}))
}

func gvr(u *unstructured.Unstructured) schema.GroupVersionResource {
	gv, _ := schema.ParseGroupVersion(u.GetAPIVersion())
	return gv.WithResource(strings.ToLower(u.GetKind()) + "s")
}

// TestPodMovesNodes: a Deployment pod replaced on another node is counted
// there, and the old node's GPU no longer is.
func TestPodMovesNodes(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{})
	rs := ct.ReplicaSet("vllm-abc", ct.Deployment("llm", "vllm"))
	c.delete(ct.Pod("vllm-2", rs, "llm", "n2", "Running", gpuRes, 1, nil))
	c.nodes["n2"].Kubelet.Remove("llm", "vllm-2")
	c.create(ct.Pod("vllm-3", rs, "llm", "n3", "Running", gpuRes, 1, nil))
	c.nodes["n3"].Kubelet.Allocate("llm", "vllm-3", "server", gpuRes, ct.GPUUUID("n3", 1))
	c.step()
	want := c.sum(scaler.PowerWatts, dev("n1", 0), dev("n1", 1), dev("n3", 1))
	require.Eventually(t, func() bool {
		v, err := c.value("vllm-so", "llm", nil)
		return err == nil && math.Abs(v-want) < 1e-9
	}, 5*time.Second, 5*time.Millisecond)

	// A StatefulSet pod keeps its name when it moves: only the node the API
	// server schedules it on counts, even while the old kubelet still lists it.
	batch := ct.StatefulSet("batch", "batch")
	c.delete(ct.Pod("batch-0", batch, "batch", "n3", "Running", "nvidia.com/mig-1g.10gb", 2, nil))
	c.create(ct.Pod("batch-0", batch, "batch", "n1", "Running", gpuRes, 1, nil))
	c.nodes["n1"].Kubelet.Allocate("batch", "batch-0", "w", gpuRes, ct.GPUUUID("n1", 3))
	c.step()
	require.Eventually(t, func() bool {
		v, err := c.value("batch-so", "batch", nil)
		return err == nil && math.Abs(v-c.sum(scaler.PowerWatts, dev("n1", 3))) < 1e-9
	}, 5*time.Second, 5*time.Millisecond)
}

// TestAgentKilled: a dead agent on a node with selected GPUs makes the answer
// Unavailable, never a smaller sum; workloads elsewhere are unaffected.
func TestAgentKilled(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{})
	c.nodes["n2"].Kill()
	require.Eventually(t, func() bool {
		_, err := c.value("vllm-so", "llm", nil)
		return status.Code(err) == codes.Unavailable
	}, 5*time.Second, 5*time.Millisecond)
	_, err := c.value("vllm-so", "llm", nil)
	requireCode(t, err, codes.Unavailable, "pod llm/vllm-2", "node n2", "disconnected")
	_, err = c.active("vllm-so", "llm", nil)
	requireCode(t, err, codes.Unavailable)

	delete(c.nodes, "n2")
	c.step()
	v, err := c.value("triton-so", "llm", nil)
	require.NoError(t, err)
	assert.InDelta(t, c.sum(scaler.PowerWatts, dev("n1", 2)), v, 1e-9)
}

// TestAgentStale: an agent whose snapshots stop (a hung driver) goes stale
// after three sweep intervals, and comes back when it sweeps again.
func TestAgentStale(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{})
	for range scaler.StaleIntervals {
		c.step("n1")
	}
	_, err := c.value("triton-so", "llm", nil)
	require.NoError(t, err, "three intervals old is still fresh")
	c.step("n1")
	_, err = c.value("triton-so", "llm", nil)
	requireCode(t, err, codes.Unavailable, "node n1", "stale")
	_, err = c.value("batch-so", "batch", map[string]string{"metric": "memory_used_bytes"})
	require.NoError(t, err, "n3 does not care")
	c.step()
	_, err = c.value("triton-so", "llm", nil)
	require.NoError(t, err)
}

// TestAttributionUnavailable: metrics flow, but the pods on a node whose
// kubelet cannot be asked cannot be attributed: Unavailable, with the reason.
func TestAttributionUnavailable(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{})
	c.nodes["n3"].Kubelet.Stop()
	c.step()
	_, err := c.value("batch-so", "batch", map[string]string{"metric": "memory_used_bytes"})
	requireCode(t, err, codes.Unavailable, "node n3", "attribution is unavailable", "kubelet PodResources")
	_, err = c.value("triton-so", "llm", nil)
	require.NoError(t, err)

	// A running pod that wants GPUs but has none attributed is not a 0.
	c.nodes["n1"].Kubelet.Remove("llm", "triton-1")
	c.step()
	_, err = c.value("triton-so", "llm", nil)
	requireCode(t, err, codes.Unavailable, "requests 1 GPU(s)", "attributes none")
}

// TestWindow: with a window each GPU's values are averaged over it.
func TestWindow(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{MaxWindow: time.Minute})
	for range 6 {
		c.step()
	}
	window := 3 * scaler.MinInterval
	want := 0.0
	for _, d := range [][2]string{dev("n1", 0), dev("n1", 1), dev("n2", 3)} {
		s := c.nodes[d[0]].Sampler
		sum, n := 0.0, 0
		for _, snap := range s.Window(s.Latest(), window) {
			for _, g := range snap.GPUs {
				if g.UUID == d[1] && g.Metrics[scaler.PowerWatts].OK() {
					sum += g.Metrics[scaler.PowerWatts].V
					n++
				}
			}
		}
		require.Equal(t, 4, n, "the newest and the three before it")
		want += sum / float64(n)
	}
	v, err := c.value("vllm-so", "llm", map[string]string{"window": window.String()})
	require.NoError(t, err)
	assert.InEpsilon(t, want, v, 1e-6, "float32 history")

	_, err = c.value("vllm-so", "llm", map[string]string{"window": "2m"})
	requireCode(t, err, codes.InvalidArgument, `"window"`, "at most 1m0s")
}

// TestRequestErrors: the node server's codes for bad requests and targets.
func TestRequestErrors(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{})
	for name, tc := range map[string]struct {
		so, ns string
		md     map[string]string
		code   codes.Code
		msg    []string
	}{
		"bad metric":        {"vllm-so", "llm", map[string]string{"metric": "fps"}, codes.InvalidArgument, []string{`"metric"`}},
		"unknown key":       {"vllm-so", "llm", map[string]string{"podSelecter": "a=b"}, codes.InvalidArgument, []string{"podSelector, namespace, nodeNames"}},
		"bad selector":      {"vllm-so", "llm", map[string]string{"podSelector": "app in (("}, codes.InvalidArgument, []string{`"podSelector"`}},
		"empty selector":    {"vllm-so", "llm", map[string]string{"podSelector": "  "}, codes.NotFound, nil},
		"namespace alone":   {"vllm-so", "llm", map[string]string{"namespace": "llm"}, codes.InvalidArgument, []string{"only with podSelector"}},
		"other namespace":   {"vllm-so", "llm", map[string]string{"podSelector": "a=b", "namespace": "batch"}, codes.InvalidArgument, []string{"own namespace"}},
		"bad nodes":         {"vllm-so", "llm", map[string]string{"nodeNames": "n1,,n2"}, codes.InvalidArgument, []string{`"nodeNames"`}},
		"no ScaledObject":   {"nope", "llm", nil, codes.NotFound, []string{"ScaledObject llm/nope not found"}},
		"unsupported kind":  {"rollout-so", "llm", nil, codes.FailedPrecondition, []string{"Rollout", "podSelector"}},
		"no GPUs requested": {"x", "llm", map[string]string{"podSelector": "app=vllm,!foo", "nodeNames": "n1"}, codes.OK, nil},
		"selector no pods":  {"x", "llm", map[string]string{"podSelector": "app=none"}, codes.OK, nil},
	} {
		_, err := c.value(tc.so, tc.ns, tc.md)
		if tc.code == codes.OK {
			assert.NoError(t, err, name)
			continue
		}
		if name == "empty selector" { // blank podSelector: as if unset, and "vllm-so" exists
			assert.NoError(t, err, name)
			continue
		}
		requireCode(t, err, tc.code, tc.msg...)
	}
	_, err := c.agg.GetMetrics(context.Background(), &pb.GetMetricsRequest{})
	requireCode(t, err, codes.InvalidArgument, "scaledObjectRef is missing")

	// The sidecar alone: pods, but none wants a GPU.
	c.create(ct.Pod("cpu-only", nil, "llm", "n1", "Running", "", 0, map[string]string{"app": "cpu"}))
	require.Eventually(t, func() bool {
		_, err := c.value("x", "llm", map[string]string{"podSelector": "app=cpu"})
		return status.Code(err) == codes.NotFound && strings.Contains(err.Error(), "request no nvidia.com/ resources")
	}, 5*time.Second, 5*time.Millisecond)
}

// TestMetricSpecMatchesNode: GetMetricSpec answers as the node server does.
func TestMetricSpecMatchesNode(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{})
	srv, err := scaler.NewServer(scaler.ServerConfig{Sampler: c.nodes["n1"].Sampler})
	require.NoError(t, err)
	md := map[string]string{"metric": "sm_active_percent", "targetValue": "62.5", "aggregation": "sum"}
	ref := &pb.ScaledObjectRef{Name: "vllm-so", Namespace: "llm", ScalerMetadata: md}
	want, err := srv.GetMetricSpec(context.Background(), ref)
	require.NoError(t, err)
	got, err := c.agg.GetMetricSpec(context.Background(), ref)
	require.NoError(t, err)
	assert.Equal(t, want.MetricSpecs[0].MetricName, got.MetricSpecs[0].MetricName)
	assert.Equal(t, want.MetricSpecs[0].TargetSize, got.MetricSpecs[0].TargetSize)
	assert.Equal(t, want.MetricSpecs[0].TargetSizeFloat, got.MetricSpecs[0].TargetSizeFloat)
}

// TestAgentsStatus reports every agent with its node.
func TestAgentsStatus(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{})
	got := c.agg.Agents()
	require.Len(t, got, 3)
	for i, name := range []string{"n1", "n2", "n3"} {
		assert.Equal(t, name, got[i].Node)
		assert.True(t, got[i].Fresh, name)
		assert.Equal(t, fmt.Sprint(c.nodes[name].Addr), got[i].Addr)
	}
	assert.Equal(t, 4, got[0].GPUs)
	assert.Equal(t, 3, got[0].Attributed)
	assert.Equal(t, 6, got[2].GPUs, "2 GPUs and 4 MIG devices")
}

// TestScaledJob: KEDA sends a ScaledJob's name in the ScaledObjectRef; the
// aggregator follows it to the pods of the ScaledJob's Jobs (KEDA labels them
// scaledjob.keda.sh/name), and refuses a name both kinds use.
func TestScaledJob(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{})
	_, err := c.value("train", "llm", nil)
	requireCode(t, err, codes.NotFound, "ScaledObject llm/train not found, nor pods of a ScaledJob", aggregator.ScaledJobLabel)

	c.nodes["n2"].Kubelet.Allocate("llm", "train-x1", "w", gpuRes, ct.GPUUUID("n2", 0))
	c.create(ct.Pod("train-x1", nil, "llm", "n2", "Running", gpuRes, 1, map[string]string{aggregator.ScaledJobLabel: "train"}))
	c.step()
	require.Eventually(t, func() bool {
		_, err := c.value("train", "llm", nil)
		return err == nil
	}, 5*time.Second, 5*time.Millisecond, "the Job's pod is selected")
	v, err := c.value("train", "llm", map[string]string{"aggregation": "sum"})
	require.NoError(t, err)
	want, err := c.value("x", "llm", map[string]string{"podSelector": aggregator.ScaledJobLabel + "=train", "aggregation": "sum"})
	require.NoError(t, err)
	assert.Equal(t, want, v, "the same GPUs as a podSelector on KEDA's label")

	c.create(ct.Pod("vllm-job", nil, "llm", "n1", "Running", gpuRes, 1, map[string]string{aggregator.ScaledJobLabel: "vllm-so"}))
	require.Eventually(t, func() bool {
		_, err := c.value("vllm-so", "llm", nil)
		return status.Code(err) == codes.FailedPrecondition && strings.Contains(err.Error(), "does not say which")
	}, 5*time.Second, 5*time.Millisecond, "a ScaledObject and a ScaledJob of one name")
}

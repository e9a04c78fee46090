// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nvml-scaler/nvml-scaler/cluster/attribution/kubelettest"
	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/recording"
)

// gpuNode is a kwok node with GPUs, its agent and its fake kubelet.
type gpuNode struct {
	name    string
	uuids   []string
	kubelet *kubelettest.Kubelet
	agent   *agent
}

// binder is the test's scheduler and device plugin: it binds each pending
// pod of a namespace to a node with a free GPU and allocates that GPU in the
// node's PodResources; a deleted pod's GPU is freed.
type binder struct {
	b     *bed
	ns    string
	nodes []*gpuNode
	mu    sync.Mutex
	used  map[string]string // GPU UUID → pod
}

func (bd *binder) run(ctx context.Context, t *testing.T) {
	for {
		if err := bd.once(ctx); err != nil && ctx.Err() == nil {
			t.Logf("binder: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func (bd *binder) once(ctx context.Context) error {
	pods, err := bd.b.kube.CoreV1().Pods(bd.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	bd.mu.Lock()
	defer bd.mu.Unlock()
	live := map[string]bool{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			live[p.Name] = true
		}
	}
	for uuid, pod := range bd.used {
		if !live[pod] {
			delete(bd.used, uuid)
			for _, n := range bd.nodes {
				n.kubelet.Remove(bd.ns, pod)
			}
		}
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName != "" || p.DeletionTimestamp != nil {
			continue
		}
		node, uuid := bd.freeGPU()
		if node == nil {
			return fmt.Errorf("no free GPU for pod %s", p.Name)
		}
		node.kubelet.Allocate(bd.ns, p.Name, "server", gpuResource, uuid)
		bd.used[uuid] = p.Name
		err := bd.b.kube.CoreV1().Pods(bd.ns).Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: bd.ns},
			Target:     corev1.ObjectReference{Kind: "Node", Name: node.name}}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("bind %s to %s: %w", p.Name, node.name, err)
		}
	}
	return nil
}

// freeGPU picks a free GPU on the node with the fewest GPUs in use.
func (bd *binder) freeGPU() (*gpuNode, string) {
	var best *gpuNode
	var bestUUID string
	bestUsed := 1 << 30
	for _, n := range bd.nodes {
		used, free := 0, ""
		for _, u := range n.uuids {
			if _, ok := bd.used[u]; ok {
				used++
			} else if free == "" {
				free = u
			}
		}
		if free != "" && used < bestUsed {
			best, bestUUID, bestUsed = n, free, used
		}
	}
	return best, bestUUID
}

// startGPUNode registers node name with gpus GPUs replicated from rec, a fake
// kubelet and an agent serving the node API.
func startGPUNode(t *testing.T, b *bed, name string, rec *recording.Recording, gpus int) *gpuNode {
	t.Helper()
	b.createNode(t, name)
	rep, err := fakenvml.Replicate(rec, gpus)
	require.NoError(t, err)
	n := &gpuNode{name: name, kubelet: kubelettest.Start(t)}
	for _, d := range rep.Devices {
		n.uuids = append(n.uuids, d.UUID.Value)
	}
	n.agent = startAgent(t, b, name, rep, withNodeAPI(n.kubelet.Socket))
	return n
}

// startAggregator runs `nvml-scaler aggregate` over the agents with the
// admin kubeconfig and returns its KEDA-facing address.
func startAggregator(t *testing.T, b *bed, nodes ...*gpuNode) string {
	t.Helper()
	return startAggregatorArgs(t, b, nil, nodes...)
}

// startAggregatorArgs is startAggregator with extra flags.
func startAggregatorArgs(t *testing.T, b *bed, extra []string, nodes ...*gpuNode) string {
	t.Helper()
	port, err := freePort()
	require.NoError(t, err)
	addr := hostPort(port)
	var agents []string
	for _, n := range nodes {
		agents = append(agents, n.agent.nodeAPI)
	}
	p, err := startProc(b.dir, "aggregator", b.scalerBin, append([]string{"aggregate", "--listen=" + addr,
		"--agents=" + strings.Join(agents, ","), "--kubeconfig=" + b.kubeconfig,
		"--discovery-interval=1s", "--log-format=text"}, extra...))
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- aggregator log ---\n%s", p.tail(30))
		}
		p.stop(10 * time.Second)
	})
	require.NoError(t, poll(context.Background(), 30*time.Second, pollEvery, func(context.Context) (bool, error) {
		if p.exited() {
			return true, fmt.Errorf("aggregator exited: %w\n%s", p.waitErr, p.tail(20))
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false, err
		}
		c.Close()
		return true, nil
	}))
	return addr
}

// testClusterTwoNodes is scenario 2: two kwok nodes with one GPU each, an
// agent on each, the aggregator, and a Deployment whose two pods the binder
// puts one per node. Node a serves 52.4 %, node b 43.8 %: the aggregator
// answers their sum, 96.2, and the HPA wants ceil(96.2 / 30) = 4, capped at
// maxReplicaCount 3 (the third pod finds no free GPU and stays Pending, which
// the aggregator leaves out). Either agent alone would answer its own GPU and
// keep 2 (ceil(52.4 / 30), ceil(43.8 / 30)). Idle: back to 1.
func testClusterTwoNodes(t *testing.T, b *bed) {
	ns := b.namespace(t, "cluster")
	na := startGPUNode(t, b, "gpu-c1", loadRecording(t, rampRecording), 1)
	nb := startGPUNode(t, b, "gpu-c2", loadRecording(t, h100Recording), 1)
	na.agent.setPhase(t, "idle_prealloc")
	nb.agent.setPhase(t, "idle_ctx")
	bd := &binder{b: b, ns: ns, nodes: []*gpuNode{na, nb}, used: map[string]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); bd.run(ctx, t) }()
	t.Cleanup(func() { cancel(); <-done })

	agg := startAggregator(t, b, na, nb)
	b.deployment(t, ns, "llm", 2, "", 1)
	b.waitReplicas(t, ns, "llm", 2, time.Minute, "two pods, one per node")
	tl := b.record(t, ns, "llm", "llm")
	const meta = "metric=sm_active_percent,aggregation=sum,targetValue=30"
	va, vb := na.agent.setPhase(t, "duty070"), nb.agent.setPhase(t, "half")
	tl.mark(fmt.Sprintf("node a serves %.2f, node b %.2f", va, vb))
	time.Sleep(time.Second)
	for _, n := range []*gpuNode{na, nb} {
		q := b.query(t, n.agent.grpc, 2, meta)
		tl.mark(fmt.Sprintf("%s alone answers %.2f: %d replicas", n.name, q.Value, q.DesiredReplicas["AverageValue"]))
		require.Equal(t, int32(2), q.DesiredReplicas["AverageValue"], "one node's answer keeps 2")
	}
	require.NoError(t, b.applyYAML(context.Background(), []byte(scaledObject(ns, "llm", agg, "AverageValue",
		map[string]string{"metric": "sm_active_percent", "aggregation": "sum", "targetValue": "30"}, 1, 3, "")), applyCreate))
	require.NoError(t, poll(context.Background(), 30*time.Second, 500*time.Millisecond, func(context.Context) (bool, error) {
		q, err := b.queryOnce(agg, 2, meta, "--name=llm", "--namespace="+ns)
		if err != nil {
			return false, err
		}
		if math.Abs(q.Value-(va+vb)) > 0.01 {
			return false, fmt.Errorf("aggregator answers %.2f", q.Value)
		}
		return true, nil
	}), "the aggregator answers the sum over both nodes (%.2f + %.2f)", va, vb)

	b.waitSpec(t, ns, "llm", 3, time.Minute, "the sum over both nodes: ceil(96.2 / 30) = 4, max 3")
	time.Sleep(3 * hpaSync)
	q := b.query(t, agg, 3, meta, "--name=llm", "--namespace="+ns)
	tl.mark(fmt.Sprintf("aggregator answers %.2f with a third pod Pending", q.Value))
	require.InDelta(t, va+vb, q.Value, 0.01, "the Pending pod has no GPU and adds nothing")
	spec, _, err := b.replicas(context.Background(), ns, "llm")
	require.NoError(t, err)
	require.Equal(t, int32(3), spec, "stays at maxReplicaCount")

	na.agent.setPhase(t, "idle_after")
	nb.agent.setPhase(t, "exit")
	tl.mark("both nodes idle")
	b.waitReplicas(t, ns, "llm", 1, 2*time.Minute, "idle: back to minReplicaCount")
}

// SPDX-License-Identifier: Apache-2.0

package aggregator_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/nvml-scaler/nvml-scaler/cluster/aggregator"
	ct "github.com/nvml-scaler/nvml-scaler/internal/clustertest"
	"github.com/nvml-scaler/nvml-scaler/internal/testutil"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

const draDriver = "gpu.nvidia.com"

// newDRACluster starts, on one fake clock:
//
//	n1: h200-steps × 4 GPUs, agent with --dra
//	    dra-1 (GPUs 0, 1 through its template claim), mixed-1 (GPU 2 from the
//	    device plugin, GPU 3 through a claim), imex-1 and lag-1 (none)
//	n2: h200-inference-ramp × 2 GPUs, agent without --dra
//	    off-1 (GPU 0 through a claim, which the agent notes it cannot attribute)
//
// Deployment llm/dra also has dra-2, unscheduled with its template claim not
// generated yet, and dra-3, unscheduled with an unallocated claim. imex-1's
// claim is allocated by another driver; lag-1's claim is not in the cache;
// Deployment llm/gone's one pod is terminating, its claim already deleted.
// Each Deployment has a ScaledObject named after it with an "-so" suffix.
func newDRACluster(t *testing.T, cfg aggregator.Config) *cluster {
	t.Helper()
	c := &cluster{t: t, clk: ct.NewClock(), nodes: map[string]*ct.Node{}}
	c.nodes["n1"] = ct.StartDRANode(t, "n1", ct.Synthetic(ct.Recording(t, "h200-steps.json"), "n1", 4, 0), c.clk)
	c.nodes["n2"] = ct.StartNode(t, "n2", ct.Synthetic(ct.Recording(t, "h200-inference-ramp.json"), "n2", 2, 0), c.clk)
	n1, n2 := c.nodes["n1"].Kubelet, c.nodes["n2"].Kubelet
	n1.AllocateDynamic("llm", "dra-1", "server", "llm", "dra-1-gpu-x7k2p", ct.DRAGPU("n1", 0), ct.DRAGPU("n1", 1))
	n1.Allocate("llm", "mixed-1", "server", gpuRes, ct.GPUUUID("n1", 2))
	n1.AllocateDynamic("llm", "mixed-1", "server", "llm", "mixed-gpu", ct.DRAGPU("n1", 3))
	n2.AllocateDynamic("llm", "off-1", "server", "llm", "off-gpu", ct.DRAGPU("n2", 0))

	var objs []runtime.Object
	rs := func(name string) *unstructured.Unstructured {
		d := ct.Deployment("llm", name)
		r := ct.ReplicaSet(name+"-rs", d)
		objs = append(objs, d, r, ct.ScaledObject("llm", name+"-so", "apps/v1", "Deployment", name))
		return r
	}
	dra, imex, lag, off, mixed, gone := rs("dra"), rs("imex"), rs("lag"), rs("off"), rs("mixed"), rs("gone")
	pod := func(name string, owner *unstructured.Unstructured, node, phase string) *unstructured.Unstructured {
		return ct.Pod(name, owner, "llm", node, phase, "", 0, map[string]string{"app": name[:len(name)-2]})
	}
	pending := map[string]string{"app": "pending"}
	leaving := pod("gone-1", gone, "n1", "Running")
	leaving.SetDeletionTimestamp(&metav1.Time{Time: c.clk.Now()})
	objs = append(objs,
		ct.TemplateClaim(pod("dra-1", dra, "n1", "Running"), "gpu", "two-gpus", "dra-1-gpu-x7k2p"),
		ct.ResourceClaim("llm", "dra-1-gpu-x7k2p", "n1", [2]string{draDriver, "gpu-0"}, [2]string{draDriver, "gpu-1"}),
		ct.TemplateClaim(ct.Pod("dra-2", dra, "llm", "", "Pending", "", 0, pending), "gpu", "two-gpus", ""),
		ct.DirectClaim(ct.Pod("dra-3", dra, "llm", "", "Pending", "", 0, pending), "gpu", "shared"),
		ct.ResourceClaim("llm", "shared", ""),
		ct.DirectClaim(pod("imex-1", imex, "n1", "Running"), "channel", "imex-channel"),
		ct.ResourceClaim("llm", "imex-channel", "n1", [2]string{"compute-domain.nvidia.com", "channel-0"}),
		ct.DirectClaim(pod("lag-1", lag, "n1", "Running"), "gpu", "lag-gpu"),
		ct.DirectClaim(leaving, "gpu", "gone-gpu"),
		ct.DirectClaim(pod("off-1", off, "n2", "Running"), "gpu", "off-gpu"),
		ct.ResourceClaim("llm", "off-gpu", "n2", [2]string{draDriver, "gpu-0"}),
		ct.DirectClaim(ct.Pod("mixed-1", mixed, "llm", "n1", "Running", gpuRes, 1, nil), "gpu", "mixed-gpu"),
		ct.ResourceClaim("llm", "mixed-gpu", "n1", [2]string{draDriver, "gpu-3"}),
	)
	c.start(cfg, ct.Kube(objs...))
	c.step()
	require.Eventually(t, c.agg.Ready, 10*time.Second, 5*time.Millisecond, "the Kubernetes cache syncs")
	return c
}

// With --dra, a pod that holds GPUs only through a gpu.nvidia.com claim counts
// with exactly the GPUs its node's agent attributes to it; pods whose claims
// are not generated or not allocated yet are pending.
func TestDRAPodsCount(t *testing.T) {
	t.Parallel()
	c := newDRACluster(t, aggregator.Config{DRA: true})
	for i := range 3 {
		if i > 0 {
			c.step()
		}
		v, err := c.value("dra-so", "llm", nil)
		require.NoError(t, err)
		assert.InDelta(t, c.sum(scaler.PowerWatts, dev("n1", 0), dev("n1", 1)), v, 1e-9, "step %d", i)

		v, err = c.value("mixed-so", "llm", nil)
		require.NoError(t, err)
		assert.InDelta(t, c.sum(scaler.PowerWatts, dev("n1", 2), dev("n1", 3)), v, 1e-9, "device plugin and claim, step %d", i)
	}
	active, err := c.active("dra-so", "llm", map[string]string{"activationTargetValue": "0"})
	require.NoError(t, err)
	assert.True(t, active)
}

// A claim of another driver holds no GPU; a running pod whose claim the cache
// does not hold yet, or whose agent cannot attribute its DRA GPUs, makes the
// answer Unavailable (never a smaller sum), with the agent's note.
func TestDRAClaimsThatHoldNoCountedGPU(t *testing.T) {
	t.Parallel()
	var logs testutil.SyncBuffer
	c := newDRACluster(t, aggregator.Config{DRA: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	_, err := c.value("imex-so", "llm", nil)
	requireCode(t, err, codes.NotFound, "request no nvidia.com/ resources nor hold gpu.nvidia.com devices through ResourceClaims")

	_, err = c.value("lag-so", "llm", nil)
	requireCode(t, err, codes.Unavailable, "pod llm/lag-1", "ResourceClaim llm/lag-gpu is not in the aggregator's cache yet")

	v, err := c.value("gone-so", "llm", nil)
	require.NoError(t, err, "a terminating pod whose claim is gone is pending")
	assert.Zero(t, v)

	_, err = c.value("off-so", "llm", nil)
	requireCode(t, err, codes.Unavailable, "pod llm/off-1", "attributes none to it yet",
		"the agent notes: DRA device gpu.nvidia.com/n2/gpu-0 of claim llm/off-gpu (pod llm/off-1, container server): "+
			"not attributed: DRA attribution is off (serve --dra)")

	var notes []string
	for _, s := range c.agg.Agents() {
		if s.Node == "n2" {
			notes = s.AttributionNotes
		}
	}
	assert.Len(t, notes, 1, "the agent's notes show in its status")
	c.step()
	assert.Equal(t, 1, logs.Count("agent notes a GPU it cannot attribute"), "logged once, not every snapshot: %s", logs.String())
	assert.Contains(t, logs.String(), "node=n2")
}

// Unscheduled pods with unallocated or ungenerated claims are pending: 0, not
// active, as pods the kubelet has not attributed yet.
func TestDRAUnallocatedIsPending(t *testing.T) {
	t.Parallel()
	c := newDRACluster(t, aggregator.Config{DRA: true})
	md := map[string]string{"podSelector": "app=pending"}
	v, err := c.value("anything", "llm", md)
	require.NoError(t, err)
	assert.Zero(t, v)
	active, err := c.active("anything", "llm", md)
	require.NoError(t, err)
	assert.False(t, active)
}

// Without --dra the aggregator neither watches ResourceClaims nor counts
// claims: DRA-only pods hold no GPUs, as before.
func TestDRAOffIgnoresClaims(t *testing.T) {
	t.Parallel()
	c := newDRACluster(t, aggregator.Config{})
	_, err := c.value("dra-so", "llm", nil)
	requireCode(t, err, codes.NotFound, "the 3 pod(s) of Deployment llm/dra", "request no nvidia.com/ resources")
	_, err = c.value("lag-so", "llm", nil)
	requireCode(t, err, codes.NotFound)
	for _, a := range c.kube.Actions() {
		assert.NotEqual(t, "resourceclaims", a.GetResource().Resource, "%s %s", a.GetVerb(), a.GetResource())
	}
}

// A cluster that does not serve resource.k8s.io/v1 keeps the aggregator
// unready, and both readiness and the answers say why and how to fix it.
func TestDRAWithoutTheAPI(t *testing.T) {
	t.Parallel()
	c := &cluster{t: t, clk: ct.NewClock(), nodes: map[string]*ct.Node{}}
	kube := ct.Kube(ct.ScaledObject("llm", "dra-so", "apps/v1", "Deployment", "dra"))
	kube.PrependReactor("list", "resourceclaims", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "resource.k8s.io", Resource: "resourceclaims"}, "")
	})
	c.start(aggregator.Config{DRA: true}, kube)
	require.Eventually(t, func() bool { return c.agg.NotReadyReason() != "the Kubernetes cache has not synced yet (listing)" },
		10*time.Second, 5*time.Millisecond)
	assert.False(t, c.agg.Ready())
	why := c.agg.NotReadyReason()
	assert.Contains(t, why, "resourceclaims.resource.k8s.io (resource.k8s.io/v1): the API server does not serve them")
	assert.Contains(t, why, "turn --dra off")
	_, err := c.agg.GetMetrics(context.Background(), c.req("dra-so", "llm", nil))
	requireCode(t, err, codes.Unavailable, "not ready", "turn --dra off")
}

// SPDX-License-Identifier: Apache-2.0

package aggregator

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/nvml-scaler/nvml-scaler/cluster/agent"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

func TestSlimPod(t *testing.T) {
	t.Parallel()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "p", "namespace": "ns", "uid": "u1", "labels": map[string]any{"app": "x"},
			"managedFields": []any{map[string]any{"manager": "kubectl"}},
			"ownerReferences": []any{
				map[string]any{"apiVersion": "v1", "kind": "Node", "name": "n", "uid": "not-controller"},
				map[string]any{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs-uid", "controller": true},
			}},
		"spec": map[string]any{"nodeName": "n1", "containers": []any{
			map[string]any{"name": "a", "resources": map[string]any{"limits": map[string]any{"nvidia.com/gpu": "2", "cpu": "4"}}},
			map[string]any{"name": "b", "resources": map[string]any{"requests": map[string]any{"nvidia.com/mig-1g.10gb": int64(1)}}},
			map[string]any{"name": "c"},
			"junk",
		}},
		"status": map[string]any{"phase": "Running"},
	}}
	got, err := slim(u)
	require.NoError(t, err)
	o := got.(*object)
	assert.Equal(t, "n1", o.nodeName)
	assert.Equal(t, "Running", o.phase)
	assert.EqualValues(t, 3, o.gpus)
	assert.EqualValues(t, "rs-uid", o.controller)
	assert.Equal(t, map[string]string{"app": "x"}, o.Labels)
	assert.Nil(t, o.ManagedFields)
	again, err := slim(o)
	require.NoError(t, err)
	assert.Same(t, o, again, "idempotent")
	assert.Equal(t, o, o.DeepCopyObject())
	keys, err := controllerIndex(o)
	require.NoError(t, err)
	assert.Equal(t, []string{"ns/rs-uid"}, keys)
}

func TestHistoryRing(t *testing.T) {
	t.Parallel()
	h := newHistory(3*time.Second, time.Second) // 5 slots
	t0 := time.Unix(1000, 0)
	snap := func(v float64, h scaler.Health) *scaler.Snapshot {
		g := scaler.GPU{Health: h}
		g.Metrics[scaler.PowerWatts] = scaler.Value{V: v, Status: scaler.StatusOK}
		return &scaler.Snapshot{GPUs: []scaler.GPU{g}}
	}
	for i := range 8 {
		health := scaler.HealthOK
		if i == 6 {
			health = scaler.HealthLost
		}
		h.add(t0.Add(time.Duration(i)*time.Second), snap(float64(i), health))
	}
	m, n := h.mean(0, scaler.PowerWatts, t0.Add(5*time.Second))
	assert.Equal(t, 2, n, "5 and 7; 6 was lost")
	assert.Equal(t, 6.0, m)
	m, n = h.mean(0, scaler.PowerWatts, t0)
	assert.Equal(t, 4, n, "the ring holds 5 entries: 3..7")
	assert.Equal(t, (3+4+5+7)/4.0, m)
	_, n = h.mean(0, scaler.SMActive, t0)
	assert.Zero(t, n)
	var none *history
	none.add(t0, snap(1, scaler.HealthOK))
	_, n = none.mean(0, scaler.PowerWatts, t0)
	assert.Zero(t, n)
	assert.Nil(t, newHistory(0, time.Second))
}

func TestNoValueCodes(t *testing.T) {
	t.Parallel()
	gpu := func(st scaler.Status, h scaler.Health) scaler.GPU {
		g := scaler.GPU{Device: scaler.Device{UUID: "GPU-1"}, Health: h}
		g.Metrics[scaler.SMActive] = scaler.Value{Status: st}
		return g
	}
	snap := &scaler.Snapshot{Node: "n1", GPUs: []scaler.GPU{gpu(scaler.StatusNotSupported, scaler.HealthOK),
		gpu(scaler.StatusNotSupported, scaler.HealthOK)}}
	v := &view{node: &agent.Node{Snapshot: snap}}
	tr := &scaler.Trigger{Metric: scaler.SMActive}
	sel := &selected{what: "w", from: []gpuRef{{v, 0}, {v, 1}}}
	err := noValue(sel, tr)
	assert.Equal(t, codes.FailedPrecondition, status.Code(err), err)
	snap.GPUs[1] = gpu(scaler.StatusOK, scaler.HealthLost)
	err = noValue(sel, tr)
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.Contains(t, err.Error(), "GPU-1 on n1 lost")
}

func TestDedup(t *testing.T) {
	t.Parallel()
	v1, v2 := &view{}, &view{}
	var d dedup
	for _, ref := range []gpuRef{{v1, 0}, {v1, 63}, {v2, 0}, {v1, 64}, {v1, 200}} {
		assert.True(t, d.add(ref), "%v", ref.pos)
		assert.False(t, d.add(ref), "%v again", ref.pos)
	}
}

// onMissing in the aggregator: with a sum (fail by default) a selected GPU
// that is lost on its node fails the query naming it and the node; skip and
// avg leave it out.
func TestMissingPolicy(t *testing.T) {
	t.Parallel()
	gpu := func(uuid string, h scaler.Health, err error) scaler.GPU {
		return scaler.GPU{Device: scaler.Device{UUID: uuid}, Health: h, Err: err}
	}
	snap := &scaler.Snapshot{Node: "n1", GPUs: []scaler.GPU{gpu("GPU-1", scaler.HealthOK, nil),
		gpu("GPU-2", scaler.HealthLost, scaler.ErrGPULost)}}
	v := &view{node: &agent.Node{Snapshot: snap}}
	sel := &selected{what: "w", from: []gpuRef{{v, 0}, {v, 1}}}
	for _, tt := range []struct {
		agg    scaler.Aggregation
		policy scaler.MissingPolicy
		fail   bool
	}{
		{scaler.AggSum, scaler.MissingDefault, true},
		{scaler.AggSum, scaler.MissingSkip, false},
		{scaler.AggAvg, scaler.MissingDefault, false},
		{scaler.AggMax, scaler.MissingFail, true},
	} {
		err := sel.missing(&scaler.Trigger{Metric: scaler.SMActive, Aggregation: tt.agg, OnMissing: tt.policy})
		if !tt.fail {
			assert.NoError(t, err)
			continue
		}
		assert.Equal(t, codes.Unavailable, status.Code(err))
		assert.Contains(t, err.Error(), "onMissing=fail: 1 of the 2 GPU(s)")
		assert.Contains(t, err.Error(), "GPU-2 lost: gpu lost on n1")
	}
}

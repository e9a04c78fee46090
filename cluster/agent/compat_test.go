// SPDX-License-Identifier: Apache-2.0

package agent_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/nvml-scaler/nvml-scaler/cluster/agent"
	"github.com/nvml-scaler/nvml-scaler/internal/clustertest"
	"github.com/nvml-scaler/nvml-scaler/proto/nodev1"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// steppedNode is the node testdata/previous-release-first-message.binpb was
// recorded from: the h100-two-tenants recording as 2 GPUs with one MIG device
// each, one sweep, one pod on GPU 1.
func steppedNode(t *testing.T) (*clustertest.Node, *scaler.Snapshot) {
	n, _ := node(t, 2, 1)
	n.Kubelet.Allocate("llm", "vllm-0", "server", "nvidia.com/gpu", clustertest.GPUUUID("n1", 1))
	return n, n.Step()
}

// An aggregator of this release reads an agent of the previous one: GPU
// values by catalogue position, no metric names (the bytes that agent wrote,
// at commit 63e74e3).
func TestDecodePreviousReleaseEncoding(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/previous-release-first-message.binpb")
	require.NoError(t, err)
	var m nodev1.Snapshot
	require.NoError(t, proto.Unmarshal(b, &m))
	require.Empty(t, m.GetMetricNames(), "the previous release sent no names")
	_, want := steppedNode(t)

	var dec agent.Decoder
	got, err := dec.Decode(&m)
	require.NoError(t, err)
	require.Len(t, got.Snapshot.GPUs, len(want.GPUs))
	for i := range want.GPUs {
		assert.Equal(t, want.GPUs[i].Device, got.Snapshot.GPUs[i].Device)
		assert.Equal(t, want.GPUs[i].Metrics, got.Snapshot.GPUs[i].Metrics, want.GPUs[i].UUID)
	}
	assert.Nil(t, got.EnginePods, "the previous release sent no engine pods")
}

// An aggregator of the previous release reads an agent of this one: it
// ignores metric_names and reads by position, which the pinned catalogue
// keeps where they were. Decoding this release's message with its names
// removed is exactly that reading.
func TestPreviousReleaseReadsThisEncoding(t *testing.T) {
	t.Parallel()
	n, want := steppedNode(t)
	first := recv(t, watch(t, n, &nodev1.WatchRequest{}))
	require.NotEmpty(t, first.GetMetricNames())
	old := proto.Clone(first).(*nodev1.Snapshot)
	old.MetricNames = nil
	var dec agent.Decoder
	got, err := dec.Decode(old)
	require.NoError(t, err)
	assert.Equal(t, want, got.Snapshot)
}

// A newer agent may name metrics this build lacks and order them its way:
// unknown names are skipped with their values, known ones land by name.
func TestMetricNamesMapPositions(t *testing.T) {
	t.Parallel()
	m := &nodev1.Snapshot{Node: "n", Seq: 1,
		MetricNames: []string{"a_future_metric", "sm_active_percent", "gpu_utilization_percent"},
		Devices:     []*nodev1.Device{{Uuid: "GPU-1"}},
		Gpus: []*nodev1.GPUState{{
			Status: []byte{byte(scaler.StatusOK), byte(scaler.StatusOK), byte(scaler.StatusNotSupported), byte(scaler.StatusOK)},
			Values: []float64{7, 42, 99}, // the future metric's, sm_active's, and one past the names
		}}}
	var dec agent.Decoder
	got, err := dec.Decode(m)
	require.NoError(t, err)
	g := got.Snapshot.GPUs[0]
	assert.Equal(t, scaler.Value{V: 42, Status: scaler.StatusOK}, g.Metrics[scaler.SMActive])
	assert.Equal(t, scaler.StatusNotSupported, g.Metrics[scaler.GPUUtilization].Status)
	assert.Equal(t, scaler.StatusMissing, g.Metrics[scaler.PowerWatts].Status, "not sent: absent")

	m.Gpus[0].Values = m.Gpus[0].Values[:2]
	_, err = new(agent.Decoder).Decode(m)
	require.Error(t, err, "an ok status without its value")
}

// SPDX-License-Identifier: Apache-2.0

package agent_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/nvml-scaler/nvml-scaler/cluster/agent"
	"github.com/nvml-scaler/nvml-scaler/engine"
	ewatch "github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/internal/clustertest"
	"github.com/nvml-scaler/nvml-scaler/proto/nodev1"
)

// An aggregator of this release reads the engine pods an agent of the
// previous one streamed (testdata/previous-release-engine-pods.binpb, written
// at commit 073fd58): each pod's totals over all its models as that agent
// read them, no per-model samples (PerModel false, so a `model` filter on the
// aggregator fails for the pod with the reason), and a failed pod's reason.
func TestDecodePreviousReleaseEnginePods(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/previous-release-engine-pods.binpb")
	require.NoError(t, err)
	var m nodev1.Snapshot
	require.NoError(t, proto.Unmarshal(b, &m))
	require.Len(t, m.GetEnginePods(), 2)
	for _, p := range m.GetEnginePods() {
		require.Nil(t, p.GetModels(), "the previous release sent no per-model samples")
	}
	read := clustertest.NewClock().Now().Add(-time.Second) // as the recording test read it
	want := clustertest.SGLangTwoModelsReading(t, read, 1)

	got, err := new(agent.Decoder).Decode(&m)
	require.NoError(t, err)
	assert.Equal(t, 10*time.Second, got.EngineInterval)
	require.Len(t, got.EnginePods, 2)
	p := got.EnginePods[0]
	assert.Equal(t, "llm", p.Namespace)
	assert.Equal(t, "sglang-0", p.Name)
	assert.Equal(t, []string{clustertest.GPUUUID("n1", 1)}, p.GPUs)
	assert.Equal(t, engine.SGLang, p.Engine)
	require.NoError(t, p.Err)
	assert.False(t, p.PerModel)
	assert.True(t, read.Equal(p.Reading.Time))
	assertSamples(t, want, p.Reading)
	assert.Equal(t, 3*2826.0, p.Reading.Sample(engine.RequestsWaiting, "").V, "the sum over both models")

	down := got.EnginePods[1]
	assert.Equal(t, "down", down.Name)
	require.ErrorIs(t, down.Err, ewatch.ErrAbsent)
	assert.ErrorContains(t, down.Err, "connection refused")
	assert.Nil(t, down.Reading)
}

// An aggregator of the previous release reads an agent of this one: it
// skips EnginePod.models, an unknown field to it, and reads the totals,
// which this release sends as before. Decoding this release's message with
// the field removed is exactly that reading.
func TestPreviousReleaseReadsThisEnginePods(t *testing.T) {
	t.Parallel()
	n, want := twoModelNode(t)
	m := recv(t, watch(t, n, &nodev1.WatchRequest{}))
	require.NotNil(t, m.GetEnginePods()[0].GetModels())
	old := proto.Clone(m).(*nodev1.Snapshot)
	for _, p := range old.GetEnginePods() {
		p.Models = nil
	}
	got, err := new(agent.Decoder).Decode(old)
	require.NoError(t, err)
	require.Len(t, got.EnginePods, 1)
	assert.False(t, got.EnginePods[0].PerModel)
	assertSamples(t, want, got.EnginePods[0].Reading)
}

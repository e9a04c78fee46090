// SPDX-License-Identifier: Apache-2.0

package agent_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/nvml-scaler/nvml-scaler/cluster/agent"
	"github.com/nvml-scaler/nvml-scaler/internal/clustertest"
	"github.com/nvml-scaler/nvml-scaler/proto/nodev1"
)

// notedNode is steppedNode plus a pod holding GPU 0 through a DRA claim while
// the agent's DRA attribution is off: the kubelet reports the device, the
// agent cannot resolve it and notes so.
func notedNode(t *testing.T) *clustertest.Node {
	n, _ := node(t, 2, 1)
	n.Kubelet.Allocate("llm", "vllm-0", "server", "nvidia.com/gpu", clustertest.GPUUUID("n1", 1))
	n.Kubelet.AllocateDynamic("llm", "dra-0", "server", "llm", "dra-0-gpu", clustertest.DRAGPU("n1", 0))
	n.Step()
	return n
}

const offNote = "DRA device gpu.nvidia.com/n1/gpu-0 of claim llm/dra-0-gpu (pod llm/dra-0, container server): " +
	"not attributed: DRA attribution is off (serve --dra)"

// The agent's attribution notes travel with its attribution, and only when
// it changes.
func TestNotesRoundTrip(t *testing.T) {
	t.Parallel()
	n := notedNode(t)
	s := watch(t, n, &nodev1.WatchRequest{})
	var dec agent.Decoder
	got, err := dec.Decode(recv(t, s))
	require.NoError(t, err)
	assert.Equal(t, []string{offNote}, got.Attribution.Notes)
	assert.Len(t, got.Attribution.Owners, 1, "the device-plugin GPU is attributed")

	n.Step()
	next, err := dec.Decode(recv(t, s))
	require.NoError(t, err)
	assert.False(t, next.AttributionChanged)
	assert.Equal(t, []string{offNote}, next.Attribution.Notes, "carried over")
}

// An agent of an earlier release sends no notes: the recorded bytes decode
// with Notes nil.
func TestDecodePreviousReleaseHasNoNotes(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/previous-release-first-message.binpb")
	require.NoError(t, err)
	var m nodev1.Snapshot
	require.NoError(t, proto.Unmarshal(b, &m))
	got, err := new(agent.Decoder).Decode(&m)
	require.NoError(t, err)
	assert.True(t, got.Attribution.Available)
	assert.Nil(t, got.Attribution.Notes)
}

// An aggregator of the previous release reads an agent of this one: parsed
// with the previous schema (this one without Attribution.notes), the notes
// are an unknown field, skipped without error, and the rest reads as before.
func TestPreviousReleaseReadsThisNotes(t *testing.T) {
	t.Parallel()
	m := recv(t, watch(t, notedNode(t), &nodev1.WatchRequest{}))
	require.NotEmpty(t, m.GetAttribution().GetNotes())
	b, err := proto.Marshal(m)
	require.NoError(t, err)

	old := previousSnapshot(t)
	require.NoError(t, proto.Unmarshal(b, old))
	attr := old.Get(old.Descriptor().Fields().ByName("attribution")).Message()
	owners := attr.Get(attr.Descriptor().Fields().ByName("owners")).List()
	require.Equal(t, 1, owners.Len())
	owner := owners.Get(0).Message()
	assert.Equal(t, clustertest.GPUUUID("n1", 1), owner.Get(owner.Descriptor().Fields().ByName("device_uuid")).String())
	assert.NotEmpty(t, attr.GetUnknown(), "the notes are unknown to the previous schema")
}

// previousSnapshot is an empty Snapshot of node.proto as it was before
// Attribution.notes (field 5): this release's descriptor with that field
// removed.
func previousSnapshot(t *testing.T) *dynamicpb.Message {
	t.Helper()
	fdp := protodesc.ToFileDescriptorProto(nodev1.File_nodev1_node_proto)
	removed := false
	for _, msg := range fdp.GetMessageType() {
		if msg.GetName() != "Attribution" {
			continue
		}
		for i, f := range msg.GetField() {
			if f.GetNumber() == 5 {
				require.Equal(t, "notes", f.GetName())
				msg.Field = append(msg.Field[:i], msg.Field[i+1:]...)
				removed = true
				break
			}
		}
	}
	require.True(t, removed, "Attribution.notes is field 5")
	fd, err := protodesc.NewFile(fdp, nil)
	require.NoError(t, err)
	return dynamicpb.NewMessage(fd.Messages().ByName("Snapshot"))
}

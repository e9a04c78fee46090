// SPDX-License-Identifier: Apache-2.0

package agent_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/nvml-scaler/nvml-scaler/cluster/agent"
	"github.com/nvml-scaler/nvml-scaler/cluster/attribution"
	"github.com/nvml-scaler/nvml-scaler/internal/clustertest"
	"github.com/nvml-scaler/nvml-scaler/proto/nodev1"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// watch opens a Watch stream to n and closes it when the test ends.
func watch(t *testing.T, n *clustertest.Node, req *nodev1.WatchRequest) nodev1.NodeSnapshots_WatchClient {
	t.Helper()
	cc, err := grpc.NewClient(n.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		_ = cc.Close()
	})
	stream, err := nodev1.NewNodeSnapshotsClient(cc).Watch(ctx, req)
	require.NoError(t, err)
	return stream
}

func recv(t *testing.T, s nodev1.NodeSnapshots_WatchClient) *nodev1.Snapshot {
	t.Helper()
	m, err := s.Recv()
	require.NoError(t, err)
	return m
}

func node(t *testing.T, gpus, migs int) (*clustertest.Node, *clustertest.Clock) {
	clk := clustertest.NewClock()
	rec := clustertest.Synthetic(clustertest.Recording(t, "h100-two-tenants.json"), "n1", gpus, migs)
	return clustertest.StartNode(t, "n1", rec, clk), clk
}

// TestStreamRoundTrip: what the aggregator decodes is exactly what the node's
// sampler published, attribution included, and the wire form stays small.
func TestStreamRoundTrip(t *testing.T) {
	t.Parallel()
	n, clk := node(t, 2, 1)
	gpu1, mig0 := clustertest.GPUUUID("n1", 1), clustertest.MIGUUID("n1", 0, 0)
	n.Kubelet.Allocate("llm", "vllm-0", "server", "nvidia.com/gpu", gpu1+"::2")
	n.Kubelet.Allocate("batch", "job", "w", "nvidia.com/mig-1g.10gb", mig0)
	want := n.Step()

	s := watch(t, n, &nodev1.WatchRequest{})
	first := recv(t, s)
	require.Len(t, first.Devices, 4, "2 GPUs, each followed by its MIG device")
	require.NotNil(t, first.Attribution)
	var dec agent.Decoder
	got, err := dec.Decode(first)
	require.NoError(t, err)
	assert.Equal(t, want, got.Snapshot)
	assert.Equal(t, n.Agent.Epoch(), got.Epoch)
	assert.Equal(t, scaler.MinInterval, got.Interval)
	assert.True(t, got.AttributionChanged)
	assert.Equal(t, []attribution.Owner{
		{DeviceID: gpu1, Namespace: "llm", Pod: "vllm-0", Container: "server", Resource: "nvidia.com/gpu"},
		{DeviceID: mig0, Namespace: "batch", Pod: "job", Container: "w", Resource: "nvidia.com/mig-1g.10gb"},
	}, got.Attribution.Owners)

	// The next snapshot: no devices, no attribution (unchanged), same result.
	clk.Advance(scaler.MinInterval)
	want = n.Step()
	next := recv(t, s)
	assert.Empty(t, next.Devices)
	assert.Nil(t, next.Attribution)
	got, err = dec.Decode(next)
	require.NoError(t, err)
	assert.Equal(t, want, got.Snapshot)
	assert.False(t, got.AttributionChanged)
	assert.Len(t, got.Attribution.Owners, 2, "carried over")
	assert.Less(t, proto.Size(next), 130*4, "four devices, under 130 bytes each")

	// Attribution changes travel once, with the next snapshot.
	n.Kubelet.Remove("batch", "job")
	clk.Advance(scaler.MinInterval)
	n.Step()
	got, err = dec.Decode(recv(t, s))
	require.NoError(t, err)
	assert.True(t, got.AttributionChanged)
	assert.Len(t, got.Attribution.Owners, 1)
}

// TestResume: a reconnecting client gets what it missed, ending with the
// newest; after an agent restart (another epoch) only the newest.
func TestResume(t *testing.T) {
	t.Parallel()
	n, clk := node(t, 1, 0)
	for range 5 {
		n.Step()
		clk.Advance(scaler.MinInterval)
	}
	seqs := func(req *nodev1.WatchRequest) []uint64 {
		s := watch(t, n, req)
		var out []uint64
		for {
			m := recv(t, s)
			out = append(out, m.Seq)
			if m.Seq == 5 {
				return out
			}
		}
	}
	epoch := n.Agent.Epoch()
	assert.Equal(t, []uint64{3, 4, 5}, seqs(&nodev1.WatchRequest{Epoch: epoch, LastSeq: 2, BackfillNanos: int64(time.Minute)}))
	assert.Equal(t, []uint64{4, 5}, seqs(&nodev1.WatchRequest{Epoch: epoch, LastSeq: 1, BackfillNanos: int64(scaler.MinInterval)}),
		"backfill bounds the replay")
	assert.Equal(t, []uint64{5}, seqs(&nodev1.WatchRequest{Epoch: epoch, LastSeq: 5, BackfillNanos: int64(time.Minute)}),
		"up to date: the newest again, at once")
	assert.Equal(t, []uint64{5}, seqs(&nodev1.WatchRequest{Epoch: epoch + 1, LastSeq: 2, BackfillNanos: int64(time.Minute)}),
		"another epoch: the client's seq means nothing here")
	assert.Equal(t, []uint64{5}, seqs(&nodev1.WatchRequest{}), "first connect")
}

// TestWaitsForFirstSweep: before the first sweep the stream is open and
// silent; the first snapshot arrives as soon as it is published.
func TestWaitsForFirstSweep(t *testing.T) {
	t.Parallel()
	n, _ := node(t, 1, 0)
	s := watch(t, n, &nodev1.WatchRequest{})
	got := make(chan uint64)
	go func() {
		m, err := s.Recv()
		if err == nil {
			got <- m.Seq
		}
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("a snapshot before the first sweep")
	case <-time.After(50 * time.Millisecond):
	}
	n.Step()
	assert.Equal(t, uint64(1), <-got)
}

// TestIndexIDs: deviceIDStrategy=index IDs are resolved to UUIDs.
func TestIndexIDs(t *testing.T) {
	t.Parallel()
	n, _ := node(t, 2, 2)
	n.Kubelet.Allocate("a", "p", "c", "nvidia.com/gpu", "1")
	n.Kubelet.Allocate("a", "q", "c", "nvidia.com/mig-1g.10gb", "0:1", "7")
	n.Step()
	var dec agent.Decoder
	got, err := dec.Decode(recv(t, watch(t, n, &nodev1.WatchRequest{})))
	require.NoError(t, err)
	var ids []string
	for _, o := range got.Attribution.Owners {
		ids = append(ids, o.DeviceID)
	}
	assert.ElementsMatch(t, []string{clustertest.GPUUUID("n1", 1), clustertest.MIGUUID("n1", 0, 1), "7"}, ids,
		"an index no device has is sent as it is")
}

// TestStopEndsStreams: stopping the agent ends its streams, so a graceful
// stop does not hang on them.
func TestStopEndsStreams(t *testing.T) {
	t.Parallel()
	n, _ := node(t, 1, 0)
	n.Step()
	s := watch(t, n, &nodev1.WatchRequest{})
	recv(t, s)
	n.Kill()
	_, err := s.Recv()
	require.Error(t, err)
	assert.NotErrorIs(t, err, context.Canceled)
	if !errors.Is(err, io.EOF) {
		t.Logf("stream ended with %v", err)
	}
}

func TestNoAttributor(t *testing.T) {
	t.Parallel()
	s, err := scaler.NewSampler(scaler.SamplerConfig{Source: nopSource{}})
	require.NoError(t, err)
	svc, err := agent.New(agent.Config{Sampler: s})
	require.NoError(t, err)
	assert.NotZero(t, svc.Epoch())
	_, err = agent.New(agent.Config{})
	assert.Error(t, err)
}

type nopSource struct{}

func (nopSource) Devices(context.Context) ([]scaler.Device, error) { return nil, nil }
func (nopSource) Read(context.Context, int) (scaler.Reading, error) {
	return scaler.Reading{}, nil
}
func (nopSource) Close() error { return nil }

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	st := func(status []byte, values ...float64) *nodev1.GPUState {
		return &nodev1.GPUState{Status: status, Values: values}
	}
	dev := []*nodev1.Device{{Uuid: "GPU-1"}}
	for name, msgs := range map[string][]*nodev1.Snapshot{
		"no device list": {{Gpus: []*nodev1.GPUState{st(nil)}}},
		"gpu count":      {{Devices: dev, Gpus: []*nodev1.GPUState{st(nil), st(nil)}}},
		"missing values": {{Devices: dev, Gpus: []*nodev1.GPUState{st([]byte{1, 1}, 3)}}},
		"later count":    {{Devices: dev, Gpus: []*nodev1.GPUState{st(nil)}}, {Gpus: nil}},
		"health 256":     {{Devices: dev, Gpus: []*nodev1.GPUState{{Health: 256}}}},
	} {
		var dec agent.Decoder
		var err error
		for _, m := range msgs {
			if _, err = dec.Decode(m); err != nil {
				break
			}
		}
		assert.Error(t, err, name)
	}
	// A newer agent's longer catalogue: the extra statuses are ignored.
	var dec agent.Decoder
	long := make([]byte, scaler.NumMetrics+2)
	long[scaler.NumMetrics] = 1
	n, err := dec.Decode(&nodev1.Snapshot{Devices: dev, Gpus: []*nodev1.GPUState{{Status: long, Values: []float64{9}}}})
	require.NoError(t, err)
	assert.False(t, n.Snapshot.GPUs[0].Metrics[0].OK())
	assert.False(t, n.Attribution.Available)
}

// The node-API port applies the KEDA port's limits: a request above
// scaler.DefaultMaxRecvMsgSize and metadata above scaler.MaxHeaderListSize
// are refused (gRPC's own defaults let 4 MiB and 1 MiB through).
func TestNodeAPILimits(t *testing.T) {
	t.Parallel()
	n, _ := node(t, 1, 0)
	cc, err := grpc.NewClient(n.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	client := nodev1.NewNodeSnapshotsClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	big := &nodev1.WatchRequest{}
	big.ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, 99, protowire.BytesType),
		make([]byte, scaler.DefaultMaxRecvMsgSize+1)))
	stream, err := client.Watch(ctx, big)
	require.NoError(t, err)
	_, err = stream.Recv()
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)

	hdr := metadata.AppendToOutgoingContext(ctx, "x-pad", strings.Repeat("h", scaler.MaxHeaderListSize))
	stream, err = client.Watch(hdr, &nodev1.WatchRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	require.Error(t, err)
	assert.Contains(t, []codes.Code{codes.ResourceExhausted, codes.Internal, codes.Unavailable}, status.Code(err), "%v", err)
}

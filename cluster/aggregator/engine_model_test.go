// SPDX-License-Identifier: Apache-2.0

package aggregator_test

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/nvml-scaler/nvml-scaler/cluster/aggregator"
	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	ct "github.com/nvml-scaler/nvml-scaler/internal/clustertest"
	"github.com/nvml-scaler/nvml-scaler/proto/nodev1"
)

// `model` on the aggregator selects each pod's series of that model, as on
// the node server: over two nodes whose pods each serve the SGLang body's
// model and an adapter, requests_waiting and ttft_seconds of one model equal
// what the fixtures give for it. A model no pod serves fails; a pod whose
// agent is of a release before per-model samples fails a model filter with
// the reason, and onMissing: skip leaves it out.
func TestEngineModelAcrossNodes(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{})
	n1, n2 := c.nodes["n1"], c.nodes["n2"]
	const every = 10 * time.Second
	var ha, hb engine.History
	set := func(ka, kb float64) {
		ha = ha.Add(ct.SGLangTwoModelsReading(t, c.clk.Now(), ka), time.Hour)
		hb = hb.Add(ct.SGLangTwoModelsReading(t, c.clk.Now(), kb), time.Hour)
		n1.Engines.Set(&watch.View{Interval: every, Pods: []watch.Pod{
			{Name: "llm/vllm-1", Namespace: "llm", GPUs: []string{ct.GPUUUID("n1", 0)}, Engine: engine.SGLang, History: ha}}})
		n2.Engines.Set(&watch.View{Interval: every, Pods: []watch.Pod{
			{Name: "llm/vllm-2", Namespace: "llm", GPUs: []string{ct.GPUUUID("n2", 3)}, Engine: engine.SGLang, History: hb}}})
		c.step()
	}
	set(1, 2)
	c.clk.Advance(every)
	set(3, 5)

	want := func(m engine.Metric, model string, q float64, hs ...engine.History) float64 {
		var ws []engine.Window
		for _, h := range hs {
			w, err := h.WindowOf(m, model, engine.DefaultWindow)
			require.NoError(t, err)
			ws = append(ws, w)
		}
		v, err := engine.Combine(ws, engine.Sum, q)
		require.NoError(t, err)
		return v
	}
	get := func(md map[string]string) (float64, error) {
		md["targetValue"] = "5"
		resp, err := c.agg.GetMetrics(context.Background(), engineReq("vllm-so", md))
		if err != nil {
			return 0, err
		}
		return resp.MetricValues[0].MetricValueFloat, nil
	}

	v, err := get(map[string]string{"metric": "requests_waiting", "model": ct.SGLangAdapter})
	require.NoError(t, err)
	assert.Equal(t, want(engine.RequestsWaiting, ct.SGLangAdapter, 0, ha, hb), v)
	assert.Equal(t, (3+5)*2*2826.0, v, "the adapter's queues: ×2 the body's")
	v, err = get(map[string]string{"metric": "requests_waiting", "model": ct.SGLangBaseModel})
	require.NoError(t, err)
	assert.Equal(t, (3+5)*2826.0, v)
	v, err = get(map[string]string{"metric": "requests_waiting"})
	require.NoError(t, err)
	assert.Equal(t, (3+5)*3*2826.0, v, "no model: every series")
	v, err = get(map[string]string{"metric": "ttft_seconds", "quantile": "0.9", "model": ct.SGLangAdapter})
	require.NoError(t, err)
	assert.InDelta(t, want(engine.TTFT, ct.SGLangAdapter, 0.9, ha, hb), v, 1e-12)

	_, err = get(map[string]string{"metric": "requests_waiting", "model": "other"})
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.ErrorContains(t, err, `"other"`)

	// n2's agent is replaced by one of the previous release: no per-model samples.
	old := oldAgent(t, n2.Addr)
	c.addrs.Store(&[]string{n1.Addr, old, c.nodes["n3"].Addr})
	require.Eventually(t, func() bool {
		as := c.agg.Agents()
		return slices.ContainsFunc(as, func(a aggregator.AgentStatus) bool { return a.Addr == old && a.Connected }) &&
			!slices.ContainsFunc(as, func(a aggregator.AgentStatus) bool { return a.Addr == n2.Addr })
	}, 10*time.Second, 5*time.Millisecond, "the aggregator follows discovery")
	c.step()
	_, err = get(map[string]string{"metric": "requests_waiting", "model": ct.SGLangAdapter})
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.ErrorContains(t, err, "llm/vllm-2")
	assert.ErrorContains(t, err, "streams no per-model samples")
	v, err = get(map[string]string{"metric": "requests_waiting", "model": ct.SGLangAdapter, "onMissing": "skip"})
	require.NoError(t, err)
	assert.Equal(t, want(engine.RequestsWaiting, ct.SGLangAdapter, 0, ha), v, "vllm-1 alone")
}

// oldAgent serves upstream's node-snapshot stream as an agent of the release
// before per-model samples: every message without EnginePod.models. It stops
// when the test ends.
func oldAgent(t *testing.T, upstream string) string {
	t.Helper()
	cc, err := grpc.NewClient(upstream, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	nodev1.RegisterNodeSnapshotsServer(srv, stripModels{up: nodev1.NewNodeSnapshotsClient(cc)})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		assert.NoError(t, <-done, "Serve after Stop")
		_ = cc.Close()
	})
	return lis.Addr().String()
}

type stripModels struct {
	nodev1.UnimplementedNodeSnapshotsServer
	up nodev1.NodeSnapshotsClient
}

func (s stripModels) Watch(req *nodev1.WatchRequest, out nodev1.NodeSnapshots_WatchServer) error {
	in, err := s.up.Watch(out.Context(), req)
	if err != nil {
		return err
	}
	for {
		m, err := in.Recv()
		if err != nil {
			return err
		}
		for _, p := range m.GetEnginePods() {
			p.Models = nil
		}
		if err := out.Send(m); err != nil {
			return err
		}
	}
}

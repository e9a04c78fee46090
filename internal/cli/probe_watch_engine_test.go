// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/internal/clustertest"
)

// probe --watch redraws the engine rows with every frame: an --engine-target
// whose real SGLang body grows (×1, ×2, ×3: a later scrape of the same
// server) shows each scrape's queue, and the GPU pods of --engine-pods show
// their engine and, from the second frame, vLLM's TTFT.
func TestProbeWatchEngines(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := newFakeClock()
	clock.stopAfter, clock.stop = 3, cancel
	sglang := engineServer(t, clustertest.EngineBody(t, "sglang_docs.txt"),
		clustertest.ScaledEngineBody(t, "sglang_docs.txt", 2), clustertest.ScaledEngineBody(t, "sglang_docs.txt", 3))
	socket, opts := enginePods(t)
	r := run(ctx, t, probeArgs("--watch", "--engine-target", "sg-0="+sglang, "--engine-pods", "--kubelet-socket", socket),
		append(opts, clock.option())...)
	require.Equal(t, ExitOK, r.code, r.stderr)
	frames := strings.Split(r.stdout, clearScreen)[1:]
	require.Len(t, frames, 3, r.stdout)
	for i, waiting := range []string{"2826", "5652", "8478"} {
		f := frames[i]
		assert.Contains(t, f, "TARGET  ", "frame %d", i)
		assert.Regexp(t, `sg-0\s+sglang\s+`+waiting+`\s+`, f, "frame %d", i)
		assert.Regexp(t, `llm/sglang-1\s+sglang\s+2826\s+162\s+`, f, "frame %d", i)
		assert.Regexp(t, `llm/broken-2\s+error: .*9999`, f, "frame %d", i)
		assert.Less(t, strings.Index(f, "IDX  UUID"), strings.Index(f, "TARGET  "), "the GPUs, then the engines")
		assert.Contains(t, f, "Ctrl-C to stop")
	}
	assert.Regexp(t, `llm/vllm-0\s+vllm\s+0\s+0\s+0\.0\s+-\s+`, frames[0], "one scrape: no TTFT yet")
	assert.Regexp(t, `llm/vllm-0\s+vllm\s+0\s+0\s+0\.0\s+\d\.\d{3}s\s+`, frames[1], "the mean between two scrapes")
}

// probe scrapes its engine targets at once, as serve does: two targets that
// each answer only once both have been asked are both read. Read one after
// the other, the first would wait for the second until its timeout.
func TestProbeScrapesTargetsAtOnce(t *testing.T) {
	t.Parallel()
	body := clustertest.EngineBody(t, "sglang_docs.txt")
	var arrived sync.WaitGroup
	arrived.Add(2)
	both := make(chan struct{})
	go func() { arrived.Wait(); close(both) }()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		select {
		case <-both:
			_, _ = w.Write(body)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	p := &probeEngines{targets: []watch.Target{
		{Name: "a", Target: engine.Target{URL: srv.URL + "/a"}},
		{Name: "b", Target: engine.Target{URL: srv.URL + "/b"}},
	}}
	defer p.close()
	p.scrape(context.Background(), time.Now(), 20*time.Second)
	for i, err := range p.errs {
		require.NoError(t, err, p.targets[i].Name)
		require.NotNil(t, p.hist[i].Newest(), p.targets[i].Name)
	}
}

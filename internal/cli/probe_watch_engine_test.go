// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

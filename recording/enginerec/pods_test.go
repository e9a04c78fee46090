// SPDX-License-Identifier: Apache-2.0

package enginerec_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/internal/clustertest"
	"github.com/nvml-scaler/nvml-scaler/recording/enginerec"
)

// Discovered pods are listed after the operator's targets with their
// namespace, GPUs and forced engine, a pod's URL is the endpoint that
// answered, and a pod that cannot be scraped is kept as a failed scrape
// once per reason; the Player gives them back as pods.
func TestCapturePods(t *testing.T) {
	t.Parallel()
	var clk clock
	url := serveBodies(t, clustertest.EngineBody(t, "sglang_docs.txt"))
	sglang, err := engine.ProfileFor("sglang")
	require.NoError(t, err)
	static := watch.Target{Name: "op", Target: engine.Target{URL: url}}
	pod := watch.Target{Name: "llm/sg-0", Namespace: "llm", GPUs: []string{"GPU-1"}, Probe: []engine.Target{{URL: url, Profile: sglang}}}
	bad := watch.Target{Name: "llm/bad-1", Namespace: "llm", GPUs: []string{"GPU-2"}, Invalid: errors.New("pod llm/bad-1 has no IP yet")}
	c := enginerec.NewCapture(enginerec.CaptureOptions{Next: watch.HTTP(newScraper(t)), Targets: []watch.Target{static},
		Interval: time.Second, Now: clk.now})
	discover := c.Discover(func() []watch.Target { return []watch.Target{pod, bad} })
	for range 2 {
		assert.Len(t, discover(), 2, "the wrapped discovery's targets, unchanged")
		for _, tg := range []watch.Target{static, {Name: pod.Name, Target: pod.Probe[0]}} {
			_, _, err := c.Fetch(context.Background(), tg.Name, tg.Target)
			require.NoError(t, err)
		}
		clk.advance(time.Second)
	}
	sec := c.Section(t0.UnixNano())
	require.Len(t, sec.Targets, 3)
	assert.Equal(t, "op", sec.Targets[0].Name)
	got := sec.Targets[1]
	assert.Equal(t, "llm/sg-0", got.Name)
	assert.Equal(t, url, got.URL, "the declared port that answered")
	assert.Equal(t, "llm", got.Namespace)
	assert.Equal(t, []string{"GPU-1"}, got.GPUs)
	assert.Equal(t, "sglang", got.Engine)
	var badScrapes int
	for _, s := range sec.Scrapes {
		if s.Target == "llm/bad-1" {
			badScrapes++
			assert.Equal(t, "pod llm/bad-1 has no IP yet", s.Error)
		}
	}
	assert.Equal(t, 1, badScrapes, "once per reason")

	p, err := enginerec.NewPlayer(sec, enginerec.PlayerOptions{Offset: clk.offset})
	require.NoError(t, err)
	ts := p.Targets()
	require.Len(t, ts, 3)
	assert.Empty(t, ts[0].Namespace)
	assert.Equal(t, "llm", ts[1].Namespace)
	assert.Equal(t, []string{"GPU-1"}, ts[1].GPUs)
	require.NotNil(t, ts[1].Profile)
	assert.Equal(t, engine.SGLang, ts[1].Profile.Engine)
	_, _, err = p.Fetch(context.Background(), "llm/bad-1", ts[2].Target)
	assert.ErrorContains(t, err, "no IP yet")

	sec.Targets[1].Engine = "tensorflow"
	_, err = enginerec.NewPlayer(sec, enginerec.PlayerOptions{Offset: clk.offset})
	assert.ErrorContains(t, err, "engines.targets[1] (llm/sg-0)")
}

// A scrape cut short by the recording's end (its context canceled) is not
// kept as the engine's failure.
func TestCaptureDropsCanceled(t *testing.T) {
	t.Parallel()
	url := serveBodies(t, clustertest.EngineBody(t, "sglang_docs.txt"))
	target := watch.Target{Name: "op", Target: engine.Target{URL: url}}
	c := enginerec.NewCapture(enginerec.CaptureOptions{Next: watch.HTTP(newScraper(t)), Targets: []watch.Target{target},
		Interval: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := c.Fetch(ctx, "op", target.Target)
	require.Error(t, err)
	_, _, err = c.Fetch(context.Background(), "op", target.Target)
	require.NoError(t, err)
	sec := c.Section(0)
	require.Len(t, sec.Scrapes, 1)
	assert.True(t, sec.Scrapes[0].OK())
}

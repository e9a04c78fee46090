// SPDX-License-Identifier: Apache-2.0

package enginerec_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/internal/clustertest"
	"github.com/nvml-scaler/nvml-scaler/recording"
	"github.com/nvml-scaler/nvml-scaler/recording/enginerec"
)

var t0 = time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)

// serveBodies answers the i-th request with bodies[i] (the last one after
// that); a nil body answers 503, as a loading vLLM does.
func serveBodies(t *testing.T, bodies ...[]byte) string {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		i := min(int(n.Add(1))-1, len(bodies)-1)
		if bodies[i] == nil {
			http.Error(w, "loading model", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(bodies[i])
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics"
}

type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return t0.Add(time.Duration(c.ns.Load())) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }
func (c *clock) offset() time.Duration   { return time.Duration(c.ns.Load()) }
func newScraper(t *testing.T) *engine.Scraper {
	t.Helper()
	s, err := engine.NewScraper(engine.Options{Timeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// record captures the scrapes of targets, one round per body, a second apart.
func record(t *testing.T, rounds int, targets ...watch.Target) *recording.Engines {
	t.Helper()
	clk := &clock{}
	s := newScraper(t)
	c := enginerec.NewCapture(enginerec.CaptureOptions{Next: watch.HTTP(s), Targets: targets, Interval: time.Second, Now: clk.now})
	for range rounds {
		for _, tg := range targets {
			_, _, _ = c.Fetch(context.Background(), tg.Name, tg.Target)
		}
		clk.advance(time.Second)
	}
	return c.Section(t0.UnixNano())
}

func target(name, url string) watch.Target {
	return watch.Target{Name: name, Target: engine.Target{URL: url}}
}

// A recording of real vLLM and SGLang bodies — a vLLM that first answers 503,
// then the same body twice, then a later one — survives encoding, and plays
// back the body recorded at or before each offset, byte for byte.
func TestCaptureAndPlay(t *testing.T) {
	t.Parallel()
	vllm := clustertest.EngineBody(t, "vllm_datadog.txt")
	later := clustertest.ScaledEngineBody(t, "vllm_datadog.txt", 2)
	sglang := clustertest.EngineBody(t, "sglang_docs.txt")
	sec := record(t, 4, target("vllm-0", serveBodies(t, nil, vllm, vllm, later)), target("sglang-0", serveBodies(t, sglang)))

	require.Len(t, sec.Scrapes, 8)
	v := func(i int) recording.EngineScrape { return sec.Scrapes[2*i] }
	assert.Contains(t, v(0).Error, "503")
	assert.Equal(t, "error", v(0).Result)
	assert.NotEmpty(t, v(1).BodyGzip)
	assert.Less(t, len(v(1).BodyGzip), len(vllm)/4, "gzip: a tenth of the body or so")
	assert.True(t, v(2).Same)
	assert.Empty(t, v(2).BodyGzip)
	assert.NotEmpty(t, v(3).BodyGzip)
	assert.Equal(t, int64(3*time.Second), v(3).OffsetNanos)
	assert.True(t, sec.Scrapes[3].Same, "sglang answered the same body again")

	// Through the file format and back.
	rec := clustertest.Recording(t, "h200-inference-ramp.json")
	rec.Engines = sec
	var buf bytes.Buffer
	require.NoError(t, recording.Encode(&buf, rec))
	back, err := recording.Decode(&buf)
	require.NoError(t, err)

	clk := &clock{}
	p, err := enginerec.NewPlayer(back.Engines, enginerec.PlayerOptions{Offset: clk.offset})
	require.NoError(t, err)
	assert.Equal(t, time.Second, p.Interval())
	require.Len(t, p.Targets(), 2)
	assert.Equal(t, "vllm-0", p.Targets()[0].Name)
	fetch := func(name string) ([]byte, error) {
		b, ct, err := p.Fetch(context.Background(), name, engine.Target{})
		if err == nil {
			assert.Equal(t, "text/plain; version=0.0.4; charset=utf-8", ct)
		}
		return b, err
	}
	_, err = fetch("vllm-0")
	require.ErrorIs(t, err, engine.ErrScrape)
	assert.Contains(t, err.Error(), "503")
	assert.Equal(t, "error", watch.Result(err))
	for _, step := range []struct {
		at   time.Duration
		want []byte
	}{{time.Second, vllm}, {2500 * time.Millisecond, vllm}, {3 * time.Second, later}, {time.Hour, later}} {
		clk.ns.Store(int64(step.at))
		b, err := fetch("vllm-0")
		require.NoError(t, err, step.at)
		assert.True(t, bytes.Equal(step.want, b), "vllm-0 at %v", step.at)
		b, err = fetch("sglang-0")
		require.NoError(t, err)
		assert.True(t, bytes.Equal(sglang, b))
	}
	_, err = fetch("nobody")
	assert.ErrorIs(t, err, engine.ErrScrape)
}

// The played bodies go through the Watcher's own parsing and windows: the
// queue is the recorded body's, and a counter's rate follows the recorded
// scrapes.
func TestPlayThroughWatcher(t *testing.T) {
	t.Parallel()
	sglang := func(k float64) []byte { return clustertest.ScaledEngineBody(t, "sglang_docs.txt", k) }
	sec := record(t, 3, target("sglang-0", serveBodies(t, sglang(1), sglang(2), sglang(3))))
	clk := &clock{}
	p, err := enginerec.NewPlayer(sec, enginerec.PlayerOptions{Offset: clk.offset})
	require.NoError(t, err)
	w, err := watch.New(watch.Config{Targets: p.Targets(), Scraper: newScraper(t), Fetcher: p,
		Interval: time.Second, Timeout: 500 * time.Millisecond, Now: clk.now})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	// The first scrape happens at once, at offset 0.
	require.Eventually(t, func() bool { return w.View().Pods[0].History.Len() == 1 }, 30*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	r := w.View().Pods[0].History.Newest()
	assert.Equal(t, engine.Engine("sglang"), r.Engine)
	assert.Equal(t, 2826.0, r.Sample(engine.RequestsWaiting, "").V, "sglang_docs.txt's num_queue_reqs")
}

// A recorded body that does not parse, or that is not gzip, is refused when
// the player loads, naming the scrape.
func TestPlayerRefusesBadBodies(t *testing.T) {
	t.Parallel()
	vllm := clustertest.EngineBody(t, "vllm_datadog.txt")
	cut := vllm[:bytes.Index(vllm, []byte("vllm:num_requests_running{"))+len("vllm:num_requests_running{")]
	good := record(t, 1, target("vllm-0", serveBodies(t, vllm)))
	truncated := record(t, 1, target("vllm-0", serveBodies(t, cut)))
	require.Equal(t, "parse_error", truncated.Scrapes[0].Result, "the capture keeps a body that does not parse as a failed scrape")

	// The same truncated body stored as if it had parsed: a hand-edited file.
	bad := *good
	bad.Scrapes = []recording.EngineScrape{good.Scrapes[0]}
	bad.Scrapes[0].BodyGzip = gz(t, cut)
	_, err := enginerec.NewPlayer(&bad, enginerec.PlayerOptions{Offset: func() time.Duration { return 0 }})
	require.ErrorIs(t, err, engine.ErrParse)
	assert.Contains(t, err.Error(), "engines.scrapes[0] (target vllm-0 at 0s): the recorded body does not parse")

	bad.Scrapes[0].BodyGzip = cut
	_, err = enginerec.NewPlayer(&bad, enginerec.PlayerOptions{Offset: func() time.Duration { return 0 }})
	assert.ErrorContains(t, err, "engines.scrapes[0] (target vllm-0 at 0s): bodyGzip: gzip: invalid header")

	p, err := enginerec.NewPlayer(truncated, enginerec.PlayerOptions{Offset: func() time.Duration { return 0 }})
	require.NoError(t, err)
	_, _, err = p.Fetch(context.Background(), "vllm-0", engine.Target{})
	assert.ErrorIs(t, err, engine.ErrParse, "played back as the parse failure it was")
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// bodies answers each Fetch with the next body, the last one after that.
type bodies struct {
	n  atomic.Int64
	bs [][]byte
}

func (f *bodies) Fetch(context.Context, string, engine.Target) ([]byte, string, error) {
	return f.bs[min(int(f.n.Add(1))-1, len(f.bs)-1)], "", nil
}

// MaxBytes stops the capture at the scrape that would pass it, once; a
// repeated body costs nothing.
func TestCaptureFull(t *testing.T) {
	t.Parallel()
	vllm := clustertest.EngineBody(t, "vllm_datadog.txt")
	later := clustertest.ScaledEngineBody(t, "vllm_datadog.txt", 2)
	one := int64(len(gz(t, vllm)))
	var full atomic.Int64
	c := enginerec.NewCapture(enginerec.CaptureOptions{Next: &bodies{bs: [][]byte{vllm, vllm, vllm, later, vllm}},
		Targets: []watch.Target{target("a", "http://a")}, Interval: time.Second, MaxBytes: one + one/2,
		OnFull: func() { full.Add(1) }})
	for range 5 {
		_, _, err := c.Fetch(context.Background(), "a", engine.Target{})
		require.NoError(t, err, "a full capture still passes the scrapes through")
	}
	assert.True(t, c.Full())
	assert.Equal(t, int64(1), full.Load())
	assert.Equal(t, one, c.Size())
	assert.Len(t, c.Section(0).Scrapes, 3, "the body, twice the same; the later body would pass MaxBytes")
}

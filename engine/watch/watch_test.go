// SPDX-License-Identifier: Apache-2.0

package watch_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func server(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics"
}

func body(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/engines/sglang_docs.txt")
	require.NoError(t, err)
	return b
}

type counts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counts) add(r string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[r]++
}

func (c *counts) get(r string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[r]
}

// A slow pod times out on its own; the others keep being read on time.
func TestSlowTargetDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	good := server(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body(t)) })
	slow := server(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(10 * time.Second):
		case <-r.Context().Done():
		}
	})
	broken := server(t, func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) })
	const interval, timeout = 100 * time.Millisecond, 60 * time.Millisecond
	s, err := engine.NewScraper(engine.Options{Timeout: timeout})
	require.NoError(t, err)
	defer s.Close()
	c := &counts{m: map[string]int{}}
	w, err := watch.New(watch.Config{Scraper: s, Interval: interval, Timeout: timeout, OnScrape: c.add,
		Targets: []watch.Target{
			{Name: "slow", Target: engine.Target{URL: slow}},
			{Name: "good", Target: engine.Target{URL: good}},
			{Name: "broken", Target: engine.Target{URL: broken}},
		}})
	require.NoError(t, err)
	for _, p := range w.View().Pods {
		require.ErrorIs(t, p.Usable(time.Now(), interval), watch.ErrAbsent, "nothing scraped yet")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	require.Eventually(t, func() bool {
		return w.View().Pods[1].History.Len() >= 3 && c.get("timeout") >= 1
	}, 5*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	v := w.View()
	good0 := v.Pods[1]
	require.NoError(t, good0.Usable(good0.History.Newest().Time, interval))
	assert.Equal(t, engine.SGLang, good0.Engine)
	win, err := good0.History.Window(engine.RequestsWaiting, 0)
	require.NoError(t, err)
	assert.Equal(t, 2826.0, win.Value)
	require.ErrorIs(t, v.Pods[0].Usable(time.Now(), interval), watch.ErrAbsent)
	assert.Contains(t, v.Pods[0].Err.Error(), "slow")
	require.ErrorIs(t, v.Pods[2].Err, engine.ErrScrape)
	assert.GreaterOrEqual(t, c.get("error"), 1)
	assert.GreaterOrEqual(t, c.get("ok"), 3)
}

func TestStale(t *testing.T) {
	t.Parallel()
	r := &engine.Reading{Time: time.Unix(100, 0)}
	p := watch.Pod{Name: "p", History: engine.History{}.Add(r, time.Minute)}
	require.NoError(t, p.Usable(time.Unix(103, 0), time.Second))
	err := p.Usable(time.Unix(104, 0), time.Second)
	require.ErrorIs(t, err, watch.ErrAbsent)
	assert.Contains(t, err.Error(), "stale")
}

func TestConfig(t *testing.T) {
	t.Parallel()
	s, err := engine.NewScraper(engine.Options{Timeout: time.Second})
	require.NoError(t, err)
	for _, cfg := range []watch.Config{
		{Interval: 2 * time.Second, Timeout: time.Second},
		{Scraper: s, Interval: time.Second, Timeout: time.Second},
		{Scraper: s, Interval: 2 * time.Second, Timeout: time.Second, Targets: []watch.Target{{Name: "a"}, {Name: "a"}}},
		{Scraper: s, Interval: 2 * time.Second, Timeout: time.Second, Targets: []watch.Target{{}}},
	} {
		_, err := watch.New(cfg)
		require.Error(t, err)
	}
}

func TestResult(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "ok", watch.Result(nil))
	assert.Equal(t, "too_large", watch.Result(engine.ErrTooLarge))
	assert.Equal(t, "parse_error", watch.Result(engine.ErrParse))
	assert.Equal(t, "unknown_engine", watch.Result(engine.ErrUnknownEngine))
	assert.Equal(t, "timeout", watch.Result(context.DeadlineExceeded))
	assert.Equal(t, "error", watch.Result(engine.ErrScrape))
}

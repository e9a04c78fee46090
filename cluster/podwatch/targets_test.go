// SPDX-License-Identifier: Apache-2.0

package podwatch_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/cluster/attribution"
	"github.com/nvml-scaler/nvml-scaler/cluster/podwatch"
	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
)

// engineServer serves body (or 404 when nil) on 127.0.0.1 and returns its
// port and a count of requests.
func engineServer(t *testing.T, body []byte) (int32, *atomic.Int32) {
	t.Helper()
	n := &atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		if body == nil {
			http.NotFound(w, nil)
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	p, err := strconv.ParseInt(port, 10, 32)
	require.NoError(t, err)
	return int32(p), n
}

// The node's GPU pods are found from the pod list and the kubelet's
// attribution, scraped through the real discovery and scrape path: an
// annotated port, a declared port found by probing (tried once per pod
// start), a pod with a bad annotation absent with its reason; pods not Ready
// or without a GPU are not scraped.
func TestTargetsScrapedThroughDiscovery(t *testing.T) {
	t.Parallel()
	vllm, err := os.ReadFile("../../engine/testdata/engines/vllm_datadog.txt")
	require.NoError(t, err)
	sglang, err := os.ReadFile("../../engine/testdata/engines/sglang_docs.txt")
	require.NoError(t, err)
	annotated, _ := engineServer(t, vllm)
	notEngine, notEngineHits := engineServer(t, nil)
	probed, _ := engineServer(t, sglang)
	tcp := func(name string, port int32) podwatch.Port {
		return podwatch.Port{Name: name, Port: port, Protocol: "TCP"}
	}
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	pods := []podwatch.Pod{
		{Namespace: "llm", Name: "a", UID: "ua", IP: "127.0.0.1", Ready: true, Started: start,
			Annotations: map[string]string{podwatch.AnnotationPort: strconv.Itoa(int(annotated))},
			Containers:  []podwatch.Container{{Name: "vllm", Ports: []podwatch.Port{tcp("http", annotated)}}}},
		{Namespace: "llm", Name: "b", UID: "ub", IP: "127.0.0.1", Ready: true, Started: start,
			Containers: []podwatch.Container{{Name: "sglang", Ports: []podwatch.Port{tcp("admin", notEngine), tcp("http", probed)}}}},
		{Namespace: "llm", Name: "bad", UID: "ux", IP: "127.0.0.1", Ready: true, Started: start,
			Annotations: map[string]string{podwatch.AnnotationPort: "1"},
			Containers:  []podwatch.Container{{Name: "x", Ports: []podwatch.Port{tcp("http", annotated)}}}},
		{Namespace: "llm", Name: "not-ready", IP: "127.0.0.1", Containers: []podwatch.Container{{Name: "x", Ports: []podwatch.Port{tcp("http", annotated)}}}},
		{Namespace: "llm", Name: "no-gpu", IP: "127.0.0.1", Ready: true, Containers: []podwatch.Container{{Name: "x", Ports: []podwatch.Port{tcp("http", annotated)}}}},
	}
	attr := &attribution.Attribution{Available: true, Owners: []attribution.Owner{
		{DeviceID: "1", Namespace: "llm", Pod: "a", Container: "vllm", Resource: "nvidia.com/gpu"},
		{DeviceID: "GPU-b", Namespace: "llm", Pod: "b", Container: "sglang", Resource: "nvidia.com/gpu"},
		{DeviceID: "GPU-x", Namespace: "llm", Pod: "bad", Container: "x", Resource: "nvidia.com/gpu"},
		{DeviceID: "GPU-n", Namespace: "llm", Pod: "not-ready", Container: "x", Resource: "nvidia.com/gpu"},
	}}
	uuid := func(id string) string {
		if id == "1" {
			return "GPU-a"
		}
		return id
	}
	assert.Empty(t, podwatch.Targets(pods, attribution.Unavailable("no socket", start), uuid))

	const interval, timeout = 50 * time.Millisecond, 40 * time.Millisecond
	s, err := engine.NewScraper(engine.Options{Timeout: timeout})
	require.NoError(t, err)
	defer s.Close()
	w, err := watch.New(watch.Config{Scraper: s, Interval: interval, Timeout: timeout,
		Discover: func() []watch.Target { return podwatch.Targets(pods, attr, uuid) }})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	byName := func() map[string]watch.Pod {
		m := map[string]watch.Pod{}
		for _, p := range w.View().Pods {
			m[p.Name] = p
		}
		return m
	}
	require.Eventually(t, func() bool {
		m := byName()
		a, b := m["llm/a"], m["llm/b"]
		return a.History.Len() >= 3 && b.History.Len() >= 3
	}, 5*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	m := byName()
	require.Len(t, m, 3, "not-ready and no-gpu are not targets")
	a, b, bad := m["llm/a"], m["llm/b"], m["llm/bad"]
	assert.Equal(t, engine.VLLM, a.Engine)
	assert.Equal(t, []string{"GPU-a"}, a.GPUs, "index ID resolved")
	assert.Equal(t, "llm", a.Namespace)
	assert.Equal(t, engine.SGLang, b.Engine)
	assert.Equal(t, "http://127.0.0.1:"+strconv.Itoa(int(probed))+"/metrics", b.URL, "the probed port that answered")
	assert.Equal(t, int32(1), notEngineHits.Load(), "a declared port is tried once per pod start")
	require.ErrorIs(t, bad.Usable(time.Now(), interval), watch.ErrAbsent)
	assert.ErrorContains(t, bad.Err, "names no port the pod declares")
}

// SPDX-License-Identifier: Apache-2.0

package podwatch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/nvml-scaler/nvml-scaler/cluster/podwatch"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// podJSON is a core/v1 Pod as the API server writes it (the fields read, and
// a few that are not).
func podJSON(name, rv, ip string, ready bool, annotations map[string]string) map[string]any {
	status := "False"
	if ready {
		status = "True"
	}
	return map[string]any{
		"kind": "Pod", "apiVersion": "v1",
		"metadata": map[string]any{"name": name, "namespace": "llm", "uid": "uid-" + name, "resourceVersion": rv,
			"annotations": annotations, "labels": map[string]string{"app": "vllm"}},
		"spec": map[string]any{"nodeName": "gpu-1", "containers": []any{map[string]any{"name": "server", "image": "vllm/vllm-openai",
			"ports": []any{map[string]any{"name": "http", "containerPort": 8000, "protocol": "TCP"}}}}},
		"status": map[string]any{"phase": "Running", "podIP": ip, "startTime": "2026-12-01T10:00:00Z",
			"conditions": []any{map[string]any{"type": "Ready", "status": status}}},
	}
}

// apiServer scripts list and watch answers; each watch request takes the next
// script entry (events, then the stream ends); past the script, watches block.
type apiServer struct {
	t       *testing.T
	mu      sync.Mutex
	lists   []map[string]any
	watches [][]map[string]any
	seen    []string // "list" or "watch@<rv>"
}

func (a *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	assert.Equal(a.t, "/api/v1/pods", r.URL.Path)
	assert.Equal(a.t, "spec.nodeName=gpu-1", r.URL.Query().Get("fieldSelector"))
	assert.Equal(a.t, "Bearer tok-123", r.Header.Get("Authorization"))
	a.mu.Lock()
	if r.URL.Query().Get("watch") != "1" {
		a.seen = append(a.seen, "list")
		l := a.lists[0]
		if len(a.lists) > 1 {
			a.lists = a.lists[1:]
		}
		a.mu.Unlock()
		_ = json.NewEncoder(w).Encode(l)
		return
	}
	a.seen = append(a.seen, "watch@"+r.URL.Query().Get("resourceVersion"))
	if len(a.watches) == 0 {
		a.mu.Unlock()
		<-r.Context().Done()
		return
	}
	evs := a.watches[0]
	a.watches = a.watches[1:]
	a.mu.Unlock()
	enc := json.NewEncoder(w)
	for _, ev := range evs {
		_ = enc.Encode(ev)
	}
}

func (a *apiServer) requests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen...)
}

func list(rv string, pods ...map[string]any) map[string]any {
	return map[string]any{"kind": "PodList", "metadata": map[string]any{"resourceVersion": rv}, "items": pods}
}

func ev(typ string, obj map[string]any) map[string]any {
	return map[string]any{"type": typ, "object": obj}
}

func TestListWatchRelistOnGone(t *testing.T) {
	t.Parallel()
	a := &apiServer{t: t,
		lists: []map[string]any{
			list("10", podJSON("a", "9", "10.0.0.1", false, nil)),
			list("20", podJSON("c", "19", "10.0.0.3", true, nil)),
		},
		watches: [][]map[string]any{
			{ev("ADDED", podJSON("b", "11", "10.0.0.2", true, nil)), ev("MODIFIED", podJSON("a", "12", "10.0.0.1", true, nil)),
				ev("BOOKMARK", map[string]any{"kind": "Pod", "metadata": map[string]any{"resourceVersion": "13"}})},
			{ev("DELETED", podJSON("b", "14", "10.0.0.2", true, nil))},
			{ev("ERROR", map[string]any{"kind": "Status", "code": 410, "message": "too old resource version: 14 (15)"})},
		}}
	srv := httptest.NewServer(a)
	defer srv.Close()
	tok := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tok, []byte("tok-123\n"), 0o600))
	w, err := podwatch.New(podwatch.Config{Server: srv.URL, Node: "gpu-1", TokenFile: tok, Backoff: 10 * time.Millisecond})
	require.NoError(t, err)
	_, synced := w.Pods()
	require.False(t, synced)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	require.Eventually(t, func() bool {
		pods, _ := w.Pods()
		return len(pods) == 1 && pods[0].Name == "c"
	}, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return len(a.requests()) == 6 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	assert.Equal(t, []string{"list", "watch@10", "watch@13", "watch@14", "list", "watch@20"}, a.requests(),
		"resume from the newest version (a bookmark's too); 410 relists")
	pods, synced := w.Pods()
	assert.True(t, synced)
	assert.Equal(t, podwatch.Pod{Namespace: "llm", Name: "c", UID: "uid-c", IP: "10.0.0.3", Ready: true,
		Started:    time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		Containers: []podwatch.Container{{Name: "server", Ports: []podwatch.Port{{Name: "http", Port: 8000, Protocol: "TCP"}}}}}, pods[0])
}

func TestForbiddenIsRetried(t *testing.T) {
	t.Parallel()
	var n sync.WaitGroup
	n.Add(2)
	calls := 0
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		calls++
		c := calls
		mu.Unlock()
		if c <= 2 {
			http.Error(w, `pods is forbidden: User "system:serviceaccount:nvml-scaler:agent" cannot list resource "pods"`, http.StatusForbidden)
			n.Done()
			return
		}
		_, _ = fmt.Fprint(w, `{"metadata":{"resourceVersion":"1"},"items":[]}`)
	}))
	defer srv.Close()
	w, err := podwatch.New(podwatch.Config{Server: srv.URL, Node: "gpu-1", Backoff: time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	n.Wait()
	require.Eventually(t, func() bool { _, s := w.Pods(); return s }, 5*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
}

func TestInCluster(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	_, err := podwatch.InCluster("n", t.TempDir(), env(nil))
	require.ErrorContains(t, err, "KUBERNETES_SERVICE_HOST")
	in := env(map[string]string{"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"})
	_, err = podwatch.InCluster("n", t.TempDir(), in)
	require.ErrorContains(t, err, "automountServiceAccountToken")
	_, err = podwatch.InCluster("", t.TempDir(), in)
	require.ErrorContains(t, err, "NODE_NAME")
	_, err = podwatch.New(podwatch.Config{Server: "ftp://x", Node: "n"})
	require.Error(t, err)
}

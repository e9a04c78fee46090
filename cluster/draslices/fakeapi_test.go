// SPDX-License-Identifier: Apache-2.0

package draslices_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nvml-scaler/nvml-scaler/cluster/draslices"
)

// fakeAPI serves ResourceSlice list and watch as the API server does, in
// JSON marshalled from k8s.io/api's own resource/v1 types: a list answers
// the current slices and their resourceVersion; a watch from a version
// replays every change after it, then streams new ones until the client
// goes. It checks the path, the field selector and the token.
type fakeAPI struct {
	t        *testing.T
	selector string

	mu      sync.Mutex
	rv      int
	slices  map[string]*resourcev1.ResourceSlice
	log     []watchEvent
	changed chan struct{} // closed and replaced on every change
	lists   int
	// gone is how many watches still to answer with an ERROR event of code
	// 410 (the version expired), as an API server does after compaction.
	gone int
}

type watchEvent struct {
	rv  int
	Typ string          `json:"type"`
	Obj json.RawMessage `json:"object"`
}

func newFakeAPI(t *testing.T, selector string) *fakeAPI {
	return &fakeAPI{t: t, selector: selector, slices: map[string]*resourcev1.ResourceSlice{}, changed: make(chan struct{})}
}

// put adds or replaces s (ADDED or MODIFIED), as the driver's publishing does.
func (a *fakeAPI) put(s *resourcev1.ResourceSlice) {
	a.mu.Lock()
	defer a.mu.Unlock()
	typ := "MODIFIED"
	if _, ok := a.slices[s.Name]; !ok {
		typ = "ADDED"
	}
	a.change(typ, s)
	a.slices[s.Name] = s
}

// remove deletes the slice named name (DELETED).
func (a *fakeAPI) remove(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.change("DELETED", a.slices[name])
	delete(a.slices, name)
}

// change records an event for s at a new resourceVersion; a.mu held.
func (a *fakeAPI) change(typ string, s *resourcev1.ResourceSlice) {
	a.rv++
	cp := s.DeepCopy()
	cp.ResourceVersion = strconv.Itoa(a.rv)
	s.ResourceVersion = cp.ResourceVersion
	obj, err := json.Marshal(cp)
	assert.NoError(a.t, err)
	a.log = append(a.log, watchEvent{rv: a.rv, Typ: typ, Obj: obj})
	close(a.changed)
	a.changed = make(chan struct{})
}

func (a *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	assert.Equal(a.t, draslices.Path, r.URL.Path)
	assert.Equal(a.t, a.selector, r.URL.Query().Get("fieldSelector"))
	assert.Equal(a.t, "Bearer tok-123", r.Header.Get("Authorization"))
	if r.URL.Query().Get("watch") != "1" {
		a.list(w)
		return
	}
	from, err := strconv.Atoi(r.URL.Query().Get("resourceVersion"))
	assert.NoError(a.t, err)
	enc := json.NewEncoder(w)
	if a.expired() {
		_ = enc.Encode(map[string]any{"type": "ERROR", "object": metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status: metav1.StatusFailure, Code: http.StatusGone, Reason: metav1.StatusReasonExpired,
			Message: "too old resource version: " + strconv.Itoa(from)}})
		return
	}
	for {
		a.mu.Lock()
		var evs []watchEvent
		for _, ev := range a.log {
			if ev.rv > from {
				evs = append(evs, ev)
			}
		}
		changed := a.changed
		a.mu.Unlock()
		for _, ev := range evs {
			_ = enc.Encode(ev)
			from = ev.rv
		}
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		}
	}
}

// expired reports whether this watch is to be answered 410, counting it.
func (a *fakeAPI) expired() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gone == 0 {
		return false
	}
	a.gone--
	return true
}

// listed returns how many lists were answered.
func (a *fakeAPI) listed() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lists
}

func (a *fakeAPI) list(w http.ResponseWriter) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lists++
	l := resourcev1.ResourceSliceList{TypeMeta: metav1.TypeMeta{APIVersion: "resource.k8s.io/v1", Kind: "ResourceSliceList"},
		ListMeta: metav1.ListMeta{ResourceVersion: strconv.Itoa(a.rv)}}
	for _, s := range a.slices {
		l.Items = append(l.Items, *s.DeepCopy())
	}
	assert.NoError(a.t, json.NewEncoder(w).Encode(l))
}

// SPDX-License-Identifier: Apache-2.0

package draslices

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Path is where the API server serves ResourceSlices.
const Path = "/apis/resource.k8s.io/v1/resourceslices"

// maxObjectBytes bounds one list response or watch event.
const maxObjectBytes = 32 << 20

// errGone: the resourceVersion expired (HTTP 410 or a watch ERROR event with
// code 410): relist.
var errGone = errors.New("resource version too old")

// Run lists and watches until ctx ends, then returns nil. Call it once.
func (w *Watcher) Run(ctx context.Context) error {
	backoff := w.cfg.Backoff
	for ctx.Err() == nil {
		slices, rv, err := w.list(ctx)
		if err == nil {
			w.publish(slices)
			backoff = w.cfg.Backoff
			err = w.watchFrom(ctx, slices, rv)
		}
		if ctx.Err() != nil || errors.Is(err, errGone) {
			continue // stopping, or relist at once
		}
		w.cfg.Logger.Warn("resourceslice watch failed; retrying", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		backoff = min(2*backoff, 30*time.Second)
	}
	return nil // the context ended: not an error
}

func (w *Watcher) publish(slices map[string]*wireSlice) { w.idx.Store(newIndex(slices)) }

func (w *Watcher) request(ctx context.Context, query url.Values) (*http.Response, error) {
	query.Set("fieldSelector", "spec.nodeName="+w.cfg.Node+",spec.driver="+w.cfg.Driver)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(w.cfg.Server, "/")+Path+"?"+query.Encode(), nil)
	if err != nil {
		return nil, err
	}
	if w.cfg.TokenFile != "" {
		tok, err := os.ReadFile(w.cfg.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("service-account token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	req.Header.Set("Accept", "application/json")
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusGone {
		resp.Body.Close()
		return nil, errGone
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("GET resourceslices of driver %s on node %s: %s: %s", w.cfg.Driver, w.cfg.Node,
			resp.Status, strings.TrimSpace(string(msg)))
	}
	return resp, nil
}

func (w *Watcher) list(ctx context.Context) (map[string]*wireSlice, string, error) {
	resp, err := w.request(ctx, url.Values{})
	if err != nil {
		return nil, "", fmt.Errorf("list: %w", err)
	}
	defer resp.Body.Close()
	var list struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
		Items []*wireSlice `json:"items"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxObjectBytes)).Decode(&list); err != nil {
		return nil, "", fmt.Errorf("list: decoding the resourceslice list: %w", err)
	}
	slices := make(map[string]*wireSlice, len(list.Items))
	for _, s := range list.Items {
		slices[s.Metadata.Name] = s
	}
	return slices, list.Metadata.ResourceVersion, nil
}

// event is one watch event.
type event struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// watchFrom applies watch events to slices from rv until 410 (errGone), an
// error or ctx's end; a stream that ends is resumed from the newest version.
func (w *Watcher) watchFrom(ctx context.Context, slices map[string]*wireSlice, rv string) error {
	for {
		q := url.Values{"watch": {"1"}, "resourceVersion": {rv}, "allowWatchBookmarks": {"true"},
			"timeoutSeconds": {fmt.Sprint(int(w.cfg.WatchTimeout.Seconds()))}}
		resp, err := w.request(ctx, q)
		if err != nil {
			return fmt.Errorf("watch: %w", err)
		}
		rv, err = w.consume(resp.Body, slices, rv)
		resp.Body.Close()
		if err != nil {
			return err
		}
	}
}

func (w *Watcher) consume(body io.Reader, slices map[string]*wireSlice, rv string) (string, error) {
	dec := json.NewDecoder(body)
	for {
		var ev event
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				return rv, nil
			}
			return rv, fmt.Errorf("watch: decoding an event: %w", err)
		}
		if len(ev.Object) > maxObjectBytes {
			return rv, fmt.Errorf("watch: an event of %d bytes", len(ev.Object))
		}
		if ev.Type == "ERROR" {
			return rv, errorEvent(ev.Object)
		}
		s := &wireSlice{}
		if err := json.Unmarshal(ev.Object, s); err != nil {
			return rv, fmt.Errorf("watch: decoding a %s resourceslice: %w", ev.Type, err)
		}
		if s.Metadata.ResourceVersion != "" {
			rv = s.Metadata.ResourceVersion
		}
		switch ev.Type {
		case "ADDED", "MODIFIED":
			slices[s.Metadata.Name] = s
		case "DELETED":
			delete(slices, s.Metadata.Name)
		default: // BOOKMARK: only the version moves
			continue
		}
		w.publish(slices)
	}
}

// errorEvent turns a watch ERROR event's Status into errGone (code 410) or an
// error with its message.
func errorEvent(obj json.RawMessage) error {
	var st struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(obj, &st)
	if st.Code == http.StatusGone {
		return errGone
	}
	return fmt.Errorf("watch: error event %d: %s", st.Code, st.Message)
}

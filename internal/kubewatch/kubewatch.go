// SPDX-License-Identifier: Apache-2.0

// Package kubewatch lists and then watches one kind of Kubernetes object
// over plain HTTP(S), without client-go: what the agent's pod watch
// (cluster/podwatch) and ResourceSlice watch (cluster/draslices) share. A
// watch that ends is resumed from the newest resourceVersion; 410 Gone (the
// version expired, as an HTTP status or a watch ERROR event) relists at once;
// other failures back off, doubling to 30 s.
package kubewatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// MaxObjectBytes bounds one list response or watch event.
const MaxObjectBytes = 32 << 20

// maxBackoff is where the backoff stops doubling.
const maxBackoff = 30 * time.Second

// ErrGone means the resourceVersion expired (HTTP 410 or a watch ERROR event with
// code 410): relist.
var ErrGone = errors.New("resource version too old")

// Config is one list+watch.
type Config struct {
	// Server is the API server's base URL, e.g. https://10.96.0.1:443.
	Server string
	// Path is the collection, e.g. /api/v1/pods.
	Path string
	// FieldSelector narrows it, e.g. spec.nodeName=n1; "" for none.
	FieldSelector string
	// Kind names one object in errors and logs, e.g. "pod".
	Kind string
	// What names the collection in errors, e.g. "pods on node n1".
	What string
	// TokenFile is re-read for every request (projected tokens rotate); ""
	// sends no token.
	TokenFile string
	// Client carries the CA; nil means http.DefaultClient.
	Client *http.Client
	// WatchTimeout asks the server to end each watch after this long (it is
	// then resumed); 0 means 5 minutes.
	WatchTimeout time.Duration
	// Backoff after a failed list or watch, doubling to 30 s; 0 means 1 s.
	Backoff time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Item is one decoded object: its key in the map Publish receives and its
// resourceVersion.
type Item[T any] struct {
	Key             string
	ResourceVersion string
	Object          T
}

// Watch keeps one collection as a map by key; Run owns the connection.
type Watch[T any] struct {
	cfg Config
	// decode reads one object's JSON.
	decode func(json.RawMessage) (Item[T], error)
	// publish receives the whole map after each list and each change; the
	// map is the Watch's own and changes after publish returns.
	publish func(map[string]T)
}

// New checks cfg (an http or https server URL) and returns a Watch that has
// listed nothing yet.
func New[T any](cfg Config, decode func(json.RawMessage) (Item[T], error), publish func(map[string]T)) (*Watch[T], error) {
	u, err := url.Parse(cfg.Server)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("API server %q: want an https:// URL", cfg.Server)
	}
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	if cfg.WatchTimeout <= 0 {
		cfg.WatchTimeout = 5 * time.Minute
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Watch[T]{cfg: cfg, decode: decode, publish: publish}, nil
}

// Run lists and watches until ctx ends, then returns nil.
func (w *Watch[T]) Run(ctx context.Context) error {
	backoff := w.cfg.Backoff
	for ctx.Err() == nil {
		objs, rv, err := w.List(ctx)
		if err == nil {
			w.publish(objs)
			backoff = w.cfg.Backoff
			err = w.watchFrom(ctx, objs, rv)
		}
		if ctx.Err() != nil || errors.Is(err, ErrGone) {
			continue // stopping, or relist at once
		}
		w.cfg.Logger.Warn(w.cfg.Kind+" watch failed; retrying", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		backoff = min(2*backoff, maxBackoff)
	}
	return nil // the context ended: not an error
}

// List lists the collection once and returns it with its resourceVersion;
// it does not publish.
func (w *Watch[T]) List(ctx context.Context) (map[string]T, string, error) {
	resp, err := w.request(ctx, url.Values{})
	if err != nil {
		return nil, "", fmt.Errorf("list: %w", err)
	}
	defer resp.Body.Close()
	var list struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
		Items []json.RawMessage `json:"items"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, MaxObjectBytes)).Decode(&list); err != nil {
		return nil, "", fmt.Errorf("list: decoding the %s list: %w", w.cfg.Kind, err)
	}
	objs := make(map[string]T, len(list.Items))
	for _, raw := range list.Items {
		it, err := w.decode(raw)
		if err != nil {
			return nil, "", fmt.Errorf("list: decoding the %s list: %w", w.cfg.Kind, err)
		}
		objs[it.Key] = it.Object
	}
	return objs, list.Metadata.ResourceVersion, nil
}

func (w *Watch[T]) request(ctx context.Context, query url.Values) (*http.Response, error) {
	if w.cfg.FieldSelector != "" {
		query.Set("fieldSelector", w.cfg.FieldSelector)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(w.cfg.Server, "/")+w.cfg.Path+"?"+query.Encode(), nil)
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
		return nil, ErrGone
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s: %s", w.cfg.What, resp.Status, strings.TrimSpace(string(msg)))
	}
	return resp, nil
}

// event is one watch event.
type event struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// watchFrom applies watch events to objs from rv until 410 (ErrGone), an
// error or ctx's end; a stream that ends is resumed from the newest version.
func (w *Watch[T]) watchFrom(ctx context.Context, objs map[string]T, rv string) error {
	for {
		q := url.Values{"watch": {"1"}, "resourceVersion": {rv}, "allowWatchBookmarks": {"true"},
			"timeoutSeconds": {fmt.Sprint(int(w.cfg.WatchTimeout.Seconds()))}}
		resp, err := w.request(ctx, q)
		if err != nil {
			return fmt.Errorf("watch: %w", err)
		}
		rv, err = w.consume(resp.Body, objs, rv)
		resp.Body.Close()
		if err != nil {
			return err
		}
	}
}

func (w *Watch[T]) consume(body io.Reader, objs map[string]T, rv string) (string, error) {
	dec := json.NewDecoder(body)
	for {
		var ev event
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				return rv, nil
			}
			return rv, fmt.Errorf("watch: decoding an event: %w", err)
		}
		if len(ev.Object) > MaxObjectBytes {
			return rv, fmt.Errorf("watch: an event of %d bytes", len(ev.Object))
		}
		if ev.Type == "ERROR" {
			return rv, errorEvent(ev.Object)
		}
		it, err := w.decode(ev.Object)
		if err != nil {
			return rv, fmt.Errorf("watch: decoding a %s %s: %w", ev.Type, w.cfg.Kind, err)
		}
		if it.ResourceVersion != "" {
			rv = it.ResourceVersion
		}
		switch ev.Type {
		case "ADDED", "MODIFIED":
			objs[it.Key] = it.Object
		case "DELETED":
			delete(objs, it.Key)
		default: // BOOKMARK: only the version moves
			continue
		}
		w.publish(objs)
	}
}

// errorEvent turns a watch ERROR event's Status into ErrGone (code 410) or an
// error with its message.
func errorEvent(obj json.RawMessage) error {
	var st struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(obj, &st)
	if st.Code == http.StatusGone {
		return ErrGone
	}
	return fmt.Errorf("watch: error event %d: %s", st.Code, st.Message)
}

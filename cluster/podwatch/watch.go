// SPDX-License-Identifier: Apache-2.0

package podwatch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// ServiceAccountDir is where Kubernetes mounts a pod's token and CA.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// maxObjectBytes bounds one list response or watch event.
const maxObjectBytes = 32 << 20

// Config configures a [Watcher].
type Config struct {
	// Server is the API server's base URL, e.g. https://10.96.0.1:443.
	Server string
	// Node is the node whose pods are watched (spec.nodeName).
	Node string
	// TokenFile is re-read for every request (projected tokens rotate).
	TokenFile string
	// Client carries the CA; nil means one built by InCluster.
	Client *http.Client
	// WatchTimeout asks the server to end each watch after this long (it is
	// then resumed); 0 means 5 minutes.
	WatchTimeout time.Duration
	// Backoff after a failed list or watch, doubling to 30 s; 0 means 1 s.
	Backoff time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// InCluster returns a Config for node from the pod's environment
// (KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT) and service-account
// mount (dir, normally ServiceAccountDir).
func InCluster(node, dir string, getenv func(string) string) (Config, error) {
	host, port := getenv("KUBERNETES_SERVICE_HOST"), getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return Config{}, errors.New("pod watch: KUBERNETES_SERVICE_HOST and _PORT are unset: not running in a pod")
	}
	if node == "" {
		return Config{}, errors.New("pod watch: no node name (set NODE_NAME from spec.nodeName)")
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return Config{}, fmt.Errorf("pod watch: the service-account CA: %w (is automountServiceAccountToken on?)", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return Config{}, fmt.Errorf("pod watch: %s/ca.crt holds no PEM certificate", dir)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, Proxy: nil}
	return Config{Server: "https://" + net.JoinHostPort(host, port), Node: node,
		TokenFile: filepath.Join(dir, "token"), Client: &http.Client{Transport: tr}}, nil
}

// Watcher keeps the node's pods; Run owns the connection.
type Watcher struct {
	cfg  Config
	pods atomic.Pointer[[]Pod]
	// synced is true after the first successful list.
	synced atomic.Bool
}

// New checks cfg and returns a Watcher with no pods yet.
func New(cfg Config) (*Watcher, error) {
	u, err := url.Parse(cfg.Server)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("pod watch: API server %q: want an https:// URL", cfg.Server)
	}
	if cfg.Node == "" {
		return nil, errors.New("pod watch: no node name")
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
	w := &Watcher{cfg: cfg}
	w.pods.Store(&[]Pod{})
	return w, nil
}

// Pods returns the node's pods as last seen, sorted by namespace/name; the
// slice is shared and must not be modified. Synced is false until the first
// list succeeded.
func (w *Watcher) Pods() (pods []Pod, synced bool) { return *w.pods.Load(), w.synced.Load() }

// errGone: the resourceVersion expired (HTTP 410 or a watch ERROR event with
// code 410): relist.
var errGone = errors.New("resource version too old")

// Run lists and watches until ctx ends, then returns nil.
func (w *Watcher) Run(ctx context.Context) error {
	backoff := w.cfg.Backoff
	for ctx.Err() == nil {
		pods, rv, err := w.list(ctx)
		if err == nil {
			w.publish(pods)
			w.synced.Store(true)
			backoff = w.cfg.Backoff
			err = w.watchFrom(ctx, pods, rv)
		}
		if ctx.Err() != nil || errors.Is(err, errGone) {
			continue // stopping, or relist at once
		}
		w.cfg.Logger.Warn("pod watch failed; retrying", "err", err, "in", backoff)
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

func (w *Watcher) publish(pods map[string]Pod) {
	out := make([]Pod, 0, len(pods))
	for _, p := range pods {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	w.pods.Store(&out)
}

func (w *Watcher) request(ctx context.Context, query url.Values) (*http.Response, error) {
	query.Set("fieldSelector", "spec.nodeName="+w.cfg.Node)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(w.cfg.Server, "/")+"/api/v1/pods?"+query.Encode(), nil)
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
		return nil, fmt.Errorf("GET pods on node %s: %s: %s", w.cfg.Node, resp.Status, strings.TrimSpace(string(msg)))
	}
	return resp, nil
}

func (w *Watcher) list(ctx context.Context) (map[string]Pod, string, error) {
	resp, err := w.request(ctx, url.Values{})
	if err != nil {
		return nil, "", fmt.Errorf("list: %w", err)
	}
	defer resp.Body.Close()
	var list struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
		Items []wirePod `json:"items"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxObjectBytes)).Decode(&list); err != nil {
		return nil, "", fmt.Errorf("list: decoding the pod list: %w", err)
	}
	pods := make(map[string]Pod, len(list.Items))
	for i := range list.Items {
		p := list.Items[i].pod()
		pods[p.Key()] = p
	}
	return pods, list.Metadata.ResourceVersion, nil
}

// event is one watch event.
type event struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// watchFrom applies watch events to pods from rv until the stream ends
// (nil: resume from the newest version), 410 (errGone) or an error.
func (w *Watcher) watchFrom(ctx context.Context, pods map[string]Pod, rv string) error {
	for {
		q := url.Values{"watch": {"1"}, "resourceVersion": {rv}, "allowWatchBookmarks": {"true"},
			"timeoutSeconds": {fmt.Sprint(int(w.cfg.WatchTimeout.Seconds()))}}
		resp, err := w.request(ctx, q)
		if err != nil {
			return fmt.Errorf("watch: %w", err)
		}
		rv, err = w.consume(resp.Body, pods, rv)
		resp.Body.Close()
		if err != nil {
			return err
		}
	}
}

func (w *Watcher) consume(body io.Reader, pods map[string]Pod, rv string) (string, error) {
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
			var st struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			_ = json.Unmarshal(ev.Object, &st)
			if st.Code == http.StatusGone {
				return rv, errGone
			}
			return rv, fmt.Errorf("watch: error event %d: %s", st.Code, st.Message)
		}
		var wp wirePod
		if err := json.Unmarshal(ev.Object, &wp); err != nil {
			return rv, fmt.Errorf("watch: decoding a %s pod: %w", ev.Type, err)
		}
		if wp.Metadata.ResourceVersion != "" {
			rv = wp.Metadata.ResourceVersion
		}
		switch ev.Type {
		case "ADDED", "MODIFIED":
			p := wp.pod()
			pods[p.Key()] = p
		case "DELETED":
			delete(pods, wp.Metadata.Namespace+"/"+wp.Metadata.Name)
		default: // BOOKMARK: only the version moves
			continue
		}
		w.publish(pods)
	}
}

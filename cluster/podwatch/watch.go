// SPDX-License-Identifier: Apache-2.0

package podwatch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"time"

	"github.com/nvml-scaler/nvml-scaler/internal/kubewatch"
)

// ServiceAccountDir is where Kubernetes mounts a pod's token and CA.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

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
	watch *kubewatch.Watch[Pod]
	node  string
	pods  atomic.Pointer[[]Pod]
	// synced is true after the first successful list.
	synced atomic.Bool
}

// New checks cfg and returns a Watcher with no pods yet.
func New(cfg Config) (*Watcher, error) {
	w := &Watcher{node: cfg.Node}
	kw, err := kubewatch.New(kubewatch.Config{Server: cfg.Server, Path: "/api/v1/pods",
		FieldSelector: "spec.nodeName=" + cfg.Node, Kind: "pod", What: "pods on node " + cfg.Node,
		TokenFile: cfg.TokenFile, Client: cfg.Client, WatchTimeout: cfg.WatchTimeout, Backoff: cfg.Backoff,
		Logger: cfg.Logger}, decodePod, w.publish)
	if err != nil {
		return nil, fmt.Errorf("pod watch: %w", err)
	}
	if cfg.Node == "" {
		return nil, errors.New("pod watch: no node name")
	}
	w.watch = kw
	w.pods.Store(&[]Pod{})
	return w, nil
}

// Pods returns the node's pods as last seen, sorted by namespace/name; the
// slice is shared and must not be modified. Synced is false until the first
// list succeeded.
func (w *Watcher) Pods() (pods []Pod, synced bool) { return *w.pods.Load(), w.synced.Load() }

// Run lists and watches until ctx ends, then returns nil.
func (w *Watcher) Run(ctx context.Context) error { return w.watch.Run(ctx) }

// publish stores the pods sorted; every publish follows a successful list,
// so it also marks the watcher synced.
func (w *Watcher) publish(pods map[string]Pod) {
	out := make([]Pod, 0, len(pods))
	for _, p := range pods {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	w.pods.Store(&out)
	w.synced.Store(true)
}

// decodePod reads one pod's JSON, keyed namespace/name.
func decodePod(raw json.RawMessage) (kubewatch.Item[Pod], error) {
	var wp wirePod
	if err := json.Unmarshal(raw, &wp); err != nil {
		return kubewatch.Item[Pod]{}, err
	}
	p := wp.pod()
	return kubewatch.Item[Pod]{Key: p.Key(), ResourceVersion: wp.Metadata.ResourceVersion, Object: p}, nil
}

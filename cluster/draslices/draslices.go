// SPDX-License-Identifier: Apache-2.0

// Package draslices keeps one node's DRA ResourceSlices (resource.k8s.io/v1)
// from the Kubernetes API server and answers which GPU or MIG UUID a DRA
// device is, without client-go: a list and then a watch of
// /apis/resource.k8s.io/v1/resourceslices?fieldSelector=spec.nodeName=<node>,spec.driver=<driver>
// over plain HTTPS with the pod's service-account token and CA.
//
// The kubelet's PodResources API names a container's DRA devices by driver,
// pool and device name only ("gpu.nvidia.com", "<node>", "gpu-0"); NVIDIA's
// DRA driver publishes each device's UUID as the attribute "uuid" of that
// device in the node's ResourceSlices, so the name resolves to the UUID NVML
// reports. A watch that ends is resumed from the last resourceVersion; 410
// Gone (the version expired) relists. RBAC needed: get, list and watch on
// resourceslices in the API group resource.k8s.io, nothing else.
package draslices

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/nvml-scaler/nvml-scaler/internal/kubewatch"
)

// UUIDAttribute is the device attribute NVIDIA's DRA driver publishes a GPU's
// or MIG device's UUID under, in the driver's own domain: "uuid", or
// qualified "gpu.nvidia.com/uuid" (both name the same attribute).
const UUIDAttribute = "uuid"

// Config configures a [Watcher].
type Config struct {
	// Server is the API server's base URL, e.g. https://10.96.0.1:443.
	Server string
	// Node is the node whose slices are watched (spec.nodeName).
	Node string
	// Driver is the DRA driver whose slices are watched (spec.driver), e.g.
	// gpu.nvidia.com.
	Driver string
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

// Watcher keeps the node's ResourceSlices of one driver; Run owns the
// connection, and DeviceUUID is safe for concurrent use.
type Watcher struct {
	watch *kubewatch.Watch[*wireSlice]
	node  string
	idx   atomic.Pointer[index] // nil until the first successful list
}

// New checks cfg and returns a Watcher that has listed nothing yet.
func New(cfg Config) (*Watcher, error) {
	w := &Watcher{node: cfg.Node}
	kw, err := kubewatch.New(kubewatch.Config{Server: cfg.Server, Path: Path,
		FieldSelector: "spec.nodeName=" + cfg.Node + ",spec.driver=" + cfg.Driver, Kind: "resourceslice",
		What:      "resourceslices of driver " + cfg.Driver + " on node " + cfg.Node,
		TokenFile: cfg.TokenFile, Client: cfg.Client, WatchTimeout: cfg.WatchTimeout, Backoff: cfg.Backoff,
		Logger: cfg.Logger}, decodeSlice, w.publish)
	if err != nil {
		return nil, fmt.Errorf("resourceslice watch: %w", err)
	}
	if cfg.Node == "" {
		return nil, errors.New("resourceslice watch: no node name (set NODE_NAME from spec.nodeName)")
	}
	if cfg.Driver == "" {
		return nil, errors.New("resourceslice watch: no DRA driver name (e.g. gpu.nvidia.com)")
	}
	w.watch = kw
	return w, nil
}

// Errors of DeviceUUID, for errors.Is.
var (
	// ErrNotListed: the slices have not been listed yet (or the API server
	// has not answered since the agent started).
	ErrNotListed = errors.New("the node's ResourceSlices are not listed yet")
	// ErrNoDevice: no slice of the pool's newest generation lists the device.
	ErrNoDevice = errors.New("no ResourceSlice lists the device")
	// ErrNoUUID: the device is listed without a string "uuid" attribute.
	ErrNoUUID = errors.New("the device has no uuid attribute in its ResourceSlice")
)

// DeviceUUID returns the "uuid" attribute of device in pool, as the
// driver's slices on this node publish it now: a GPU UUID ("GPU-…") or a MIG
// UUID ("MIG-…"). It fails, wrapping ErrNotListed, ErrNoDevice or ErrNoUUID
// and naming the device, when it cannot say; a driver other than
// Config.Driver is ErrNoDevice (its slices are not watched).
func (w *Watcher) DeviceUUID(driver, pool, device string) (string, error) {
	idx := w.idx.Load()
	name := fmt.Sprintf("device %s of pool %s of driver %s on node %s", device, pool, driver, w.node)
	if idx == nil {
		return "", fmt.Errorf("%s: %w", name, ErrNotListed)
	}
	d, ok := idx.devices[deviceKey{driver, pool, device}]
	switch {
	case !ok:
		return "", fmt.Errorf("%s: %w", name, ErrNoDevice)
	case d.uuid == "":
		return "", fmt.Errorf("%s: %w (slice %s; NVIDIA's driver publishes none for a MIG device it creates on demand, DynamicMIG)",
			name, ErrNoUUID, d.slice)
	}
	return d.uuid, nil
}

// SPDX-License-Identifier: Apache-2.0

package attribution

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// Watcher defaults.
const (
	// DefaultInterval is how often a Watcher asks the kubelet when
	// Config.Interval is 0. A pod that lands on a GPU is attributed within it.
	DefaultInterval = time.Second
	// maxMessage matches the kubelet's own PodResources clients (16 MiB).
	maxMessage = 16 << 20
)

// Config configures a [Watcher].
type Config struct {
	// Socket is the kubelet's PodResources unix socket; "" means DefaultSocket.
	Socket string
	// Interval between List calls; 0 means DefaultInterval.
	Interval time.Duration
	// Timeout bounds one List call; 0 means Interval.
	Timeout time.Duration
	// Logger receives availability changes (not every poll); nil discards.
	Logger *slog.Logger
	// Now is the clock for Attribution.Time; nil means time.Now.
	Now func() time.Time
	// DRA resolves DRA devices to UUIDs (the node's ResourceSlices); nil
	// leaves them unattributed, each with a note.
	DRA DRADevices
}

// Watcher asks the kubelet which container holds which device, every Interval,
// and publishes each new answer as an immutable [Attribution]. Current is safe
// for concurrent use and never blocks on the kubelet.
type Watcher struct {
	socket   string
	interval time.Duration
	timeout  time.Duration
	log      *slog.Logger
	now      func() time.Time
	dra      DRADevices
	conn     *grpc.ClientConn
	client   podresourcesv1.PodResourcesListerClient
	cur      atomic.Pointer[Attribution]
}

// NewWatcher checks cfg and returns a Watcher whose Current says "not read
// yet" until the first poll. It does not connect: a missing socket shows up in
// Current, not as an error here.
func NewWatcher(cfg Config) (*Watcher, error) {
	if cfg.Socket == "" {
		cfg.Socket = DefaultSocket
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Interval < 0 || cfg.Timeout < 0 {
		return nil, fmt.Errorf("attribution: interval %v and timeout %v must not be negative", cfg.Interval, cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = cfg.Interval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// A short reconnect backoff: the kubelet recreates its socket on restart,
	// and gRPC's default (up to 120 s) would hide it for minutes.
	bo := backoff.DefaultConfig
	bo.MaxDelay = 5 * time.Second
	conn, err := grpc.NewClient("unix://"+cfg.Socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bo, MinConnectTimeout: cfg.Timeout}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage)))
	if err != nil {
		return nil, fmt.Errorf("attribution: kubelet socket %s: %w", cfg.Socket, err)
	}
	w := &Watcher{socket: cfg.Socket, interval: cfg.Interval, timeout: cfg.Timeout, log: cfg.Logger,
		now: cfg.Now, dra: cfg.DRA, conn: conn, client: podresourcesv1.NewPodResourcesListerClient(conn)}
	w.cur.Store(Unavailable("the kubelet has not been asked yet", cfg.Now()))
	return w, nil
}

// Current returns the newest answer; never nil.
func (w *Watcher) Current() *Attribution { return w.cur.Load() }

// Close closes the connection to the kubelet; Poll fails afterwards. Run
// calls it when it returns.
func (w *Watcher) Close() error { return w.conn.Close() }

// Run polls every Interval until ctx ends, then closes the connection and
// returns nil. Call it once.
func (w *Watcher) Run(ctx context.Context) error {
	defer w.Close()
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	for {
		w.Poll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Poll asks the kubelet once, publishes the answer unless it says the same as
// the current one (which keeps its Time), and returns what is current.
func (w *Watcher) Poll(ctx context.Context) *Attribution {
	next := w.list(ctx)
	prev := w.cur.Load()
	if prev.SameAnswer(next) {
		return prev
	}
	if prev.Available != next.Available || prev.Reason != next.Reason {
		if next.Available {
			w.log.Info("gpu attribution available", "socket", w.socket, "devices", len(next.Owners))
		} else {
			w.log.Warn("gpu attribution unavailable", "socket", w.socket, "reason", next.Reason)
		}
	}
	for _, n := range NewNotes(prev.Notes, next.Notes) { // each new note once, not every poll
		w.log.Warn("gpu not attributed", "note", n)
	}
	w.cur.Store(next)
	return next
}

func (w *Watcher) list(ctx context.Context) *Attribution {
	now := w.now()
	if _, err := os.Stat(w.socket); err != nil {
		return Unavailable(socketReason(w.socket, err), now)
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	resp, err := w.client.List(ctx, &podresourcesv1.ListPodResourcesRequest{})
	if err != nil {
		return Unavailable(fmt.Sprintf("kubelet PodResources List on %s: %s", w.socket, status.Convert(err).Message()), now)
	}
	return FromList(resp, now, w.dra)
}

// socketReason explains a socket that cannot be used, with the fix.
func socketReason(socket string, err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("kubelet PodResources socket %s does not exist: mount the host's /var/lib/kubelet/pod-resources into the agent", socket)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Sprintf("kubelet PodResources socket %s: permission denied: the agent must run as root or in the socket's group", socket)
	}
	return fmt.Sprintf("kubelet PodResources socket %s: %v", socket, err)
}

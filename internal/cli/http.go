// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// httpShutdownTimeout bounds the HTTP server's graceful shutdown.
const httpShutdownTimeout = 5 * time.Second

// httpLimits bound the HTTP server's clients (health probes, Prometheus).
type httpLimits struct {
	// readHeader, read and write bound a request's headers, the whole
	// request, and the response; idle closes a keep-alive connection that
	// has sent nothing for that long.
	readHeader, read, write, idle time.Duration
	// maxHeader bounds a request's headers (bytes); maxConns the connections
	// served at once.
	maxHeader, maxConns int
}

// defaultHTTPLimits are serve's: a /metrics scrape with per-GPU series writes
// in milliseconds, and Prometheus re-connects after an idle close.
var defaultHTTPLimits = httpLimits{readHeader: 5 * time.Second, read: 10 * time.Second,
	write: 30 * time.Second, idle: 60 * time.Second, maxHeader: 16 << 10, maxConns: 64}

// healthMux serves serve's HTTP endpoints:
//
//   - /healthz: 200 while the process answers and has been without fresh
//     data for at most --liveness-not-ready-limit (the liveness probe), else
//     503 with the reason, so the kubelet recreates the container.
//   - /readyz: 200 while the sampler has a fresh snapshot, else 503 with the
//     reason (no sweep yet, NVML not loaded or being re-initialised, stale
//     data).
//   - /metrics: the Prometheus registry (package internal/metrics).
//
// With engine signals on, serve adds engineExplainPath.
//
// They mean what gRPC health's "liveness" and "readiness" mean.
func healthMux(s *scaler.Sampler, now func() time.Time, metrics http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := s.Live(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, err)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		snap, err := s.Current()
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, err) // "not ready: …" or "stale: …"
			return
		}
		fmt.Fprintf(w, "ready: snapshot %d, %d device(s), %v old\n",
			snap.Seq, len(snap.GPUs), now().Sub(snap.Start).Round(time.Millisecond))
	})
	return mux
}

// serveHTTP serves h on lis within lim until ctx ends, then shuts down
// gracefully.
func serveHTTP(ctx context.Context, lis net.Listener, h http.Handler, lim httpLimits, log *slog.Logger) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.readHeader,
		ReadTimeout:       lim.read,
		WriteTimeout:      lim.write,
		IdleTimeout:       lim.idle,
		MaxHeaderBytes:    lim.maxHeader,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(scaler.LimitListener(lis, lim.maxConns, nil)) }()
	select {
	case err := <-served:
		return fmt.Errorf("http %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), httpShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("http %s: shutdown: %w", lis.Addr(), err)
	}
	return nil
}

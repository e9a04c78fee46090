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

// serveHTTP serves h on lis until ctx ends, then shuts down gracefully.
func serveHTTP(ctx context.Context, lis net.Listener, h http.Handler, log *slog.Logger) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(lis) }()
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

// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/nvml-scaler/nvml-scaler/scaler"
)

type serveFlags struct {
	listen, httpListen string
	interval           time.Duration
	nodeName           string
	log                logFlags
	source             sourceFlags
}

func newServeCmd(d *deps) *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve KEDA's external scaler API on this node's GPUs (the DaemonSet's process)",
		Long: `serve sweeps every GPU through NVML each --interval and answers KEDA's
ExternalScaler gRPC calls (GetMetricSpec, GetMetrics, IsActive, StreamIsActive)
from the newest sweep, plus gRPC health checks. HTTP on --http-listen serves
/healthz (the process is up) and /readyz (200 only while the data is fresh,
503 with the reason otherwise).

Without a GPU, --replay runs it on a recording. SIGTERM or SIGINT drain open
calls and exit 0.`,
		Example: `  nvml-scaler serve
  nvml-scaler serve --replay testdata/recordings/h200-inference-ramp.json --log-format text`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(cmd); err != nil {
				return err
			}
			return runServe(cmd.Context(), d, f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.listen, "listen", ":6000", "gRPC address (host:port) KEDA connects to")
	fs.StringVar(&f.httpListen, "http-listen", ":8080", "HTTP address (host:port) for /healthz and /readyz")
	newDuration(fs, &f.interval, "interval", scaler.DefaultInterval, "time between sweeps of every GPU, at least 100ms")
	fs.StringVar(&f.nodeName, "node-name", "", "node name reported in snapshots (default: $NODE_NAME, else the host name)")
	f.log.register(fs)
	f.source.register(fs)
	return cmd
}

func (f *serveFlags) validate(cmd *cobra.Command) error {
	if err := checkMinDuration("interval", f.interval, scaler.MinInterval); err != nil {
		return err
	}
	for name, addr := range map[string]string{"listen": f.listen, "http-listen": f.httpListen} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return usageErrorf("--%s %q: want host:port, e.g. :6000 or 127.0.0.1:0", name, addr)
		}
	}
	return f.source.validate(cmd.Flags())
}

// nodeName resolves the node name: the flag, else $NODE_NAME (set by the
// DaemonSet from spec.nodeName), else the host name.
func nodeName(d *deps, flag string) string {
	if flag != "" {
		return flag
	}
	if v, ok := d.lookupEnv("NODE_NAME"); ok && v != "" {
		return v
	}
	if h, err := d.hostname(); err == nil {
		return h
	}
	return "unknown"
}

func runServe(ctx context.Context, d *deps, f *serveFlags) error {
	log := f.log.logger(d.stderr)
	node := nodeName(d, f.nodeName)
	src, desc, err := f.source.open(d, log)
	if err != nil {
		return err
	}
	sampler, err := scaler.NewSampler(scaler.SamplerConfig{Source: src, Node: node, Interval: f.interval, Logger: log, Now: d.now})
	if err != nil {
		return errors.Join(err, src.Close())
	}
	srv, err := scaler.NewServer(scaler.ServerConfig{Sampler: sampler, Logger: log})
	if err != nil {
		return errors.Join(err, sampler.Close())
	}
	glis, hlis, err := listen(ctx, f.listen, f.httpListen)
	if err != nil {
		return errors.Join(err, sampler.Close())
	}
	log.Info("nvml-scaler starting", "version", buildInfo(d).Version,
		"grpc", glis.Addr().String(), "http", hlis.Addr().String(),
		"source", desc, "node", node, "interval", f.interval)
	if d.onListen != nil {
		d.onListen(glis.Addr().String(), hlis.Addr().String())
	}

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 3)
	go func() { done <- srv.Serve(ctx, glis) }()
	go func() { done <- serveHTTP(ctx, hlis, healthMux(sampler, d.now), log) }()
	go func() {
		<-ctx.Done()
		if parent.Err() != nil {
			log.Info("nvml-scaler stopping: draining open calls")
		}
		done <- nil
	}()
	first := <-done // nil only once ctx has ended: a signal
	cancel()
	err = errors.Join(first, <-done, <-done)
	if err != nil {
		return err
	}
	log.Info("nvml-scaler stopped")
	return nil
}

// listen opens the gRPC and HTTP listeners, so that their addresses (port 0
// resolved) can be logged before serving.
func listen(ctx context.Context, grpcAddr, httpAddr string) (net.Listener, net.Listener, error) {
	var lc net.ListenConfig
	glis, err := lc.Listen(ctx, "tcp", grpcAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("--listen: %w", err)
	}
	hlis, err := lc.Listen(ctx, "tcp", httpAddr)
	if err != nil {
		glis.Close()
		return nil, nil, fmt.Errorf("--http-listen: %w", err)
	}
	return glis, hlis, nil
}

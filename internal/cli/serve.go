// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/nvml-scaler/nvml-scaler/internal/metrics"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

type serveFlags struct {
	listen, httpListen string
	interval           time.Duration
	notReadyLimit      time.Duration
	nodeName           string
	perGPUMetrics      bool
	reflection         bool
	log                logFlags
	source             sourceFlags
	tls                serveTLSFlags
	nodeAPI            nodeAPIFlags
	engine             engineFlags
}

func newServeCmd(d *deps) *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve KEDA's external scaler API on this node's GPUs (the DaemonSet's process)",
		Long: `serve sweeps every GPU through NVML each --interval and answers KEDA's
ExternalScaler gRPC calls (GetMetricSpec, GetMetrics, IsActive, StreamIsActive)
from the newest sweep, plus gRPC health checks ("liveness", "readiness").
HTTP on --http-listen serves /healthz (the process is up: gRPC liveness),
/readyz (200 only while the data is fresh, 503 with the reason otherwise:
gRPC readiness) and /metrics (Prometheus; nvml_scaler_* series).

gRPC is plaintext unless --tls-cert and --tls-key are given (a warning is
logged); --tls-client-ca requires client certificates (mutual TLS). The files
are re-read every --tls-reload-interval, so a renewed certificate is used for
new connections without restarting or dropping open ones.

Without a GPU, --replay runs it on a recording. SIGTERM, SIGINT or SIGHUP
stop accepting calls, finish the ones in flight, end open streams, shut NVML
down and exit 0; whatever is stuck, the process exits within 30s of the
signal.`,
		Example: `  nvml-scaler serve
  nvml-scaler serve --tls-cert /tls/tls.crt --tls-key /tls/tls.key --tls-client-ca /tls/ca.crt
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
	fs.StringVar(&f.httpListen, "http-listen", ":8080", "HTTP address (host:port) for /healthz, /readyz and /metrics")
	newDuration(fs, &f.interval, "interval", scaler.DefaultInterval, "time between sweeps of every GPU, at least 100ms")
	newDuration(fs, &f.notReadyLimit, "liveness-not-ready-limit", scaler.DefaultNotReadyLimit,
		"how long without fresh GPU data before liveness fails and the kubelet recreates the container (0: never)")
	fs.StringVar(&f.nodeName, "node-name", "", "node name reported in snapshots (default: $NODE_NAME, else the host name)")
	fs.BoolVar(&f.perGPUMetrics, "per-gpu-metrics", false, "also export each GPU's catalogue metrics on /metrics (nvml_scaler_gpu_*{uuid,index,model})")
	fs.BoolVar(&f.reflection, "grpc-reflection", false, "register the gRPC reflection service (for grpcurl); it describes the API to any caller")
	f.log.register(fs)
	f.source.register(fs)
	f.tls.register(fs)
	f.nodeAPI.register(fs)
	f.engine.register(fs)
	return cmd
}

func (f *serveFlags) validate(cmd *cobra.Command) error {
	if err := checkMinDuration("interval", f.interval, scaler.MinInterval); err != nil {
		return err
	}
	if f.notReadyLimit < 0 {
		return usageErrorf("--liveness-not-ready-limit %v: want 0 (never) or a positive duration such as 10m", f.notReadyLimit)
	}
	for _, l := range [...]struct{ name, addr string }{{"listen", f.listen}, {"http-listen", f.httpListen}} {
		if err := checkListenAddr(l.name, l.addr, ":6000"); err != nil {
			return err
		}
	}
	if err := f.tls.validate(); err != nil {
		return err
	}
	if err := f.nodeAPI.validate(); err != nil {
		return err
	}
	if err := f.engine.validate(); err != nil {
		return err
	}
	if f.nodeAPI.dra && f.nodeAPI.listen == "" && !f.engine.pods {
		return usageErrorf("--dra attributes DRA GPUs to pods, which only --node-api-listen and --engine-pods use: add one, or drop --dra")
	}
	return f.source.validate(cmd.Flags())
}

// checkListenAddr returns a usage error unless addr is host:port with a port
// number from 0 to 65535 (0: any free port); example is shown in the error.
func checkListenAddr(name, addr, example string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usageErrorf("--%s %q: want host:port, e.g. %s or 127.0.0.1:0", name, addr, example)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || port != strconv.FormatUint(n, 10) {
		return usageErrorf("--%s %q: port %q: want a number from 0 to 65535, e.g. %s", name, addr, port, example)
	}
	return nil
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
	tlsr, err := f.tls.reloader(log)
	if err != nil {
		return err
	}
	m := metrics.New(metrics.Options{PerGPU: f.perGPUMetrics, Now: d.now})
	f.source.onNVMLError = m.NVMLError
	src, desc, err := f.source.open(d, log, f.interval)
	if err != nil {
		return err
	}
	if err := f.engine.recordedEngines(src, f.source.replay, f.source.replaySpeed); err != nil {
		return errors.Join(err, src.Close())
	}
	sampler, err := scaler.NewSampler(scaler.SamplerConfig{Source: src, Node: node, Interval: f.interval,
		Logger: log, Now: d.now, OnSweep: m.ObserveSweep, NotReadyLimit: f.notReadyLimit})
	if err != nil {
		return errors.Join(err, src.Close())
	}
	m.WatchSampler(sampler)
	for _, watch := range [...]struct {
		flag string
		on   bool
	}{{"--engine-pods", f.engine.pods}, {"--dra", f.nodeAPI.dra}} {
		if v, _ := d.lookupEnv("NODE_NAME"); watch.on && f.nodeName == "" && v == "" {
			return errors.Join(usageErrorf("%s: no node name: set --node-name or $NODE_NAME (from spec.nodeName)", watch.flag), sampler.Close())
		}
	}
	dra, err := f.nodeAPI.openDRA(node, d.serviceAccountDir, func(k string) string { v, _ := d.lookupEnv(k); return v }, log)
	if err != nil {
		return errors.Join(err, sampler.Close())
	}
	attr, err := f.nodeAPI.openAttribution(f.nodeAPI.listen != "" || f.engine.pods, dra, log, d.now)
	if err != nil {
		return errors.Join(err, sampler.Close())
	}
	closeAttr := func() error {
		if attr == nil {
			return nil
		}
		return attr.Close()
	}
	eng, err := openEngine(d, &f.engine, f.interval, node, attr, sampler, log, m)
	if err != nil {
		return errors.Join(err, closeAttr(), sampler.Close())
	}
	srv, err := scaler.NewServer(m.Instrument(scaler.ServerConfig{Sampler: sampler, Logger: log,
		GRPCOptions: countedCreds(tlsr, m), Reflection: f.reflection, Engines: eng.metrics()}))
	if err != nil {
		return errors.Join(err, closeAttr(), sampler.Close())
	}
	glis, hlis, err := listen(ctx, f.listen, f.httpListen)
	if err != nil {
		return errors.Join(err, closeAttr(), sampler.Close())
	}
	napi, err := f.nodeAPI.open(ctx, sampler, attr, eng.views(), log, d.now)
	if err != nil {
		return errors.Join(err, glis.Close(), hlis.Close(), closeAttr(), sampler.Close())
	}
	log.Info("nvml-scaler starting", "version", buildInfo(d).Version,
		"grpc", glis.Addr().String(), "http", hlis.Addr().String(),
		"source", desc, "node", node, "interval", f.interval, "tls", tlsMode(f.tls))
	if tlsr == nil {
		log.Warn(plaintextWarning)
	}
	if d.onListen != nil {
		d.onListen(glis.Addr().String(), hlis.Addr().String())
	}

	parent := ctx
	g, ctx := errgroup.WithContext(ctx) // the first failure stops the rest
	if tlsr != nil {
		g.Go(func() error { tlsr.Run(ctx); return nil })
	}
	g.Go(func() error { return srv.Serve(ctx, glis) })
	if attr != nil {
		g.Go(func() error { _ = attr.Run(ctx); return nil }) // unavailable is an answer, not a failure
	}
	if dra != nil {
		g.Go(func() error { return dra.Run(ctx) }) // retries with backoff until ctx ends
	}
	if napi != nil {
		g.Go(func() error { return napi.run(ctx, grpcCreds(tlsr)...) })
	}
	if eng != nil {
		g.Go(func() error { return eng.run(ctx) })
	}
	mux := healthMux(sampler, d.now, m.Handler())
	if eng != nil {
		mux.Handle("GET "+engineExplainPath, engineExplainHandler(eng.explain))
	}
	g.Go(func() error { return serveHTTP(ctx, hlis, mux, defaultHTTPLimits, log) })
	g.Go(func() error {
		<-ctx.Done()
		if parent.Err() != nil {
			log.Info("nvml-scaler stopping: draining open calls")
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	log.Info("nvml-scaler stopped")
	return nil
}

func tlsMode(f serveTLSFlags) string {
	switch {
	case f.clientCA != "":
		return "mutual"
	case f.cert != "":
		return "server"
	}
	return "off"
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

// SPDX-License-Identifier: Apache-2.0

//go:build !agent

package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nvml-scaler/nvml-scaler/cluster/aggregator"
	"github.com/nvml-scaler/nvml-scaler/internal/tlsreload"
)

// aggregateFlags configure the cluster aggregator.
type aggregateFlags struct {
	listen              string
	httpListen          string
	agentsService       string
	agentsPort          int
	agentsPortName      string
	agents              []string
	discoveryInterval   time.Duration
	maxWindow           time.Duration
	namespace           string
	allowCrossNamespace bool
	dra                 bool
	kubeconfig          string
	log                 logFlags
	tls                 serveTLSFlags
	agentsTLS           agentsTLSFlags
}

func newAggregateCmd(d *deps) *cobra.Command {
	f := &aggregateFlags{}
	cmd := &cobra.Command{
		Use:   "aggregate",
		Short: "Serve KEDA for the whole cluster from every node's agent",
		Long: `aggregate runs the cluster aggregator: a small unprivileged Deployment with no GPU.
It discovers the node agents ('serve --node-api-listen') through a headless
Service, keeps one snapshot stream per agent, follows each ScaledObject's
scaleTargetRef to its pods and answers KEDA's ExternalScaler calls with exactly
the GPUs allocated to those pods, on whichever nodes they run. An agent that
hosts selected GPUs and stops answering makes the answer Unavailable (KEDA's
fallback applies), never a smaller sum. See docs/cluster.md.

KEDA-facing gRPC takes serve's TLS flags (--tls-cert, --tls-key,
--tls-client-ca, --tls-reload-interval) and limits; without --tls-cert it is
plaintext and a warning is logged. --agents-tls and the other --agents-* TLS
flags dial the agents' node API with TLS (and a client certificate when the
agents require one).

--dra (off by default, as serve --dra) also counts pods that hold GPUs
through DRA ResourceClaims (driver gpu.nvidia.com): the aggregator then also
watches resource.k8s.io/v1 ResourceClaims, which needs Kubernetes 1.34 or
later and get, list and watch on resourceclaims (chart
attribution.dra.enabled, kustomize components/dra). The agents attribute
those GPUs only with serve --dra. On a cluster without that API the
aggregator stays unready and says so.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			return runAggregate(cmd.Context(), d, f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.listen, "listen", ":6000", "gRPC address (host:port) KEDA connects to")
	fs.StringVar(&f.httpListen, "http-listen", "", "HTTP address (host:port) for /healthz, /readyz and /metrics, plaintext (the kubelet's probes, Prometheus), e.g. :8080 as the chart passes; empty: off")
	fs.StringVar(&f.agentsService, "agents-service", "", "DNS name of the agents' headless Service, e.g. nvml-scaler-peers.nvml-scaler.svc")
	fs.IntVar(&f.agentsPort, "agents-port", 6001, "the agents' node-API port; 0 looks it up in SRV records by --agents-port-name")
	fs.StringVar(&f.agentsPortName, "agents-port-name", "node-api", "the Service port name for SRV lookups")
	fs.StringSliceVar(&f.agents, "agents", nil, "a fixed list of agent addresses (host:port) instead of DNS discovery")
	newDuration(fs, &f.discoveryInterval, "discovery-interval", aggregator.DefaultDiscoveryInterval, "time between agent discoveries")
	newDuration(fs, &f.maxWindow, "max-window", aggregator.DefaultMaxWindow, "the longest trigger window served (memory grows with it)")
	fs.StringVar(&f.namespace, "namespace", "", "watch only this namespace (then a Role suffices); empty: all")
	fs.BoolVar(&f.allowCrossNamespace, "allow-cross-namespace", false, "let a trigger's namespace key name another namespace than its ScaledObject's")
	fs.BoolVar(&f.dra, "dra", false, "also count GPUs pods hold through DRA ResourceClaims of gpu.nvidia.com (needs Kubernetes 1.34+, "+
		"resource.k8s.io/v1, and get, list and watch on resourceclaims; chart attribution.dra.enabled); the agents need serve --dra")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file; empty: the in-cluster service account")
	f.log.register(fs)
	f.tls.register(fs)
	f.agentsTLS.register(fs)
	return cmd
}

func (f *aggregateFlags) validate() error {
	if _, _, err := net.SplitHostPort(f.listen); err != nil {
		return usageErrorf("--listen %q: want host:port, e.g. :6000 or 127.0.0.1:0", f.listen)
	}
	if f.httpListen != "" {
		if _, _, err := net.SplitHostPort(f.httpListen); err != nil {
			return usageErrorf("--http-listen %q: want host:port, e.g. :8080, or empty for none", f.httpListen)
		}
	}
	if len(f.agents) == 0 && f.agentsService == "" {
		return usageErrorf("no agents: give --agents-service (the agents' headless Service) or --agents")
	}
	for _, a := range f.agents {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return usageErrorf("--agents %q: want host:port", a)
		}
	}
	if f.agentsPort < 0 || f.agentsPort > 65535 {
		return usageErrorf("--agents-port %d: want 0 (SRV lookup) to 65535", f.agentsPort)
	}
	if err := checkMinDuration("discovery-interval", f.discoveryInterval, time.Second); err != nil {
		return err
	}
	if err := f.tls.validate(); err != nil {
		return err
	}
	return f.agentsTLS.validate()
}

func runAggregate(ctx context.Context, d *deps, f *aggregateFlags) error {
	log := f.log.logger(d.stderr)
	tlso, err := f.tlsOptions(log)
	if err != nil {
		return err
	}
	kube, err := kubeClient(f.kubeconfig)
	if err != nil {
		return err
	}
	var disc aggregator.Discoverer = aggregator.DNS{Name: f.agentsService, Port: f.agentsPort, PortName: f.agentsPortName}
	if len(f.agents) > 0 {
		disc = aggregator.Static(f.agents)
	}
	agg, err := aggregator.New(aggregator.Config{Discovery: disc, Kube: kube, Namespace: f.namespace,
		DiscoveryInterval: f.discoveryInterval, MaxWindow: f.maxWindow,
		AllowCrossNamespace: f.allowCrossNamespace, DRA: f.dra, Logger: log, Now: d.now,
		GRPCOptions: tlso.grpcOpts, DialOptions: tlso.dialOpts})
	if err != nil {
		return err
	}
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", f.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	var hlis net.Listener
	if f.httpListen != "" {
		if hlis, err = (&net.ListenConfig{}).Listen(ctx, "tcp", f.httpListen); err != nil {
			return errors.Join(fmt.Errorf("--http-listen: %w", err), lis.Close())
		}
	}
	log.Info("aggregator starting", "listen", lis.Addr().String(), "http_listen", addrOf(hlis), "agents_service", f.agentsService,
		"agents", f.agents, "namespace", f.namespace, "dra", f.dra, "tls", tlsMode(f.tls), "agents_tls", agentsTLSMode(f.agentsTLS))
	if tlso.server == nil {
		log.Warn(plaintextWarning)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for _, r := range []*tlsreload.Reloader{tlso.server, tlso.client} {
		if r != nil {
			wg.Go(func() { r.Run(ctx) })
		}
	}
	if hlis == nil {
		return agg.Serve(ctx, lis)
	}
	if d.onListen != nil {
		d.onListen(lis.Addr().String(), hlis.Addr().String())
	}
	var httpErr error
	wg.Go(func() {
		if httpErr = serveHTTP(ctx, hlis, aggregateMux(agg), defaultHTTPLimits, log); httpErr != nil {
			cancel() // the HTTP listener failed: stop gRPC too
		}
	})
	err = agg.Serve(ctx, lis)
	cancel()
	wg.Wait()
	return errors.Join(err, httpErr)
}

// aggregateMux serves aggregate's HTTP endpoints, as serve's:
//
//   - /healthz: 200 while the process answers (liveness).
//   - /readyz: 200 once every informer has listed, else 503 (readiness;
//     an unreachable agent does not make the aggregator unready).
//   - /metrics: the aggregator's Prometheus registry.
//   - /debug/engine: the pods behind an engine trigger's value (query).
func aggregateMux(agg *aggregator.Aggregator) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", agg.MetricsHandler())
	mux.Handle("GET "+engineExplainPath, engineExplainHandler(agg.ExplainEngine))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !agg.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready: "+agg.NotReadyReason())
			return
		}
		fmt.Fprintln(w, "ready: the Kubernetes cache has synced")
	})
	return mux
}

// addrOf is l's address, or "" for none.
func addrOf(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

// kubeClient builds a dynamic client from a kubeconfig file, or from the pod's
// service account when path is empty.
func kubeClient(path string) (dynamic.Interface, error) {
	var rc *rest.Config
	var err error
	if path != "" {
		rc, err = clientcmd.BuildConfigFromFlags("", path)
	} else {
		rc, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes client config (run in a pod with a service account, or pass --kubeconfig): %w", err)
	}
	c, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return c, nil
}

// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The scaling benchmark (`make bench-scaling`, issue 11): one replayed load
// drives two Deployments side by side on the bed's control plane.
//
//   - A "nvml-scaler": a ScaledObject with an external trigger on an agent
//     sampling every 500 ms.
//   - B "prometheus": a second agent emulating the DCGM exporter — its own
//     per-GPU /metrics (--per-gpu-metrics) collected every 30 s, DCGM's
//     default collect interval — scraped every 15 s (the low end of the
//     exporter chart's 15–30 s) by a real Prometheus, and KEDA's prometheus
//     trigger on the same series.
//
// Both triggers are Value targets of benchTarget sm_active_percent per
// replica, pollingInterval 2 s, min 1 / max 6 replicas, the same HPA (sync
// 2 s, downscale stabilization 6 s).
//
// Load model: demand D(t) is work in units of one GPU's recorded
// sm_active_percent. Every 250 ms the driver splits it across each path's
// Ready replicas, u = D / ready, and makes that path's agent serve the
// recorded sample (H200 ramp recording: idle and the duty010…duty100
// phases) whose sm_active_percent is nearest u; above the highest recorded
// step (78.5 at duty100) a replica is saturated. The HPA then computes
// ceil(ready × u / target), so a path converges on need = ceil(D / target).
const (
	benchTarget   = 40.0
	benchMin      = 1
	benchMax      = 6
	benchTick     = 250 * time.Millisecond
	benchPromEach = 15 * time.Second
	benchDCGMEach = 30 * time.Second
)

// benchScenario is a demand over time (seconds since the start → D).
type benchScenario struct {
	name   string
	length time.Duration
	stepAt time.Duration // the load change the delays are measured from
	demand func(at time.Duration) float64
}

// benchScenarios are the loads the benchmark replays.
func benchScenarios() []benchScenario {
	return []benchScenario{
		{name: "step", length: 200 * time.Second, stepAt: 20 * time.Second, demand: func(at time.Duration) float64 {
			if at < 20*time.Second {
				return 0
			}
			return 150
		}},
		{name: "ramp", length: 200 * time.Second, stepAt: 20 * time.Second, demand: func(at time.Duration) float64 {
			// 0 → 200 linearly over 120 s from t = 20 s, then held.
			return 200 * min(max((at-20*time.Second).Seconds()/120, 0), 1)
		}},
	}
}

// TestScalingBench runs the scaling benchmark when E2E_BENCH_SCALING names
// the directory for its results (timelines as TSV, the table as Markdown).
func TestScalingBench(t *testing.T) {
	out := os.Getenv("E2E_BENCH_SCALING")
	if out == "" {
		t.Skip("E2E_BENCH_SCALING is not set: the scaling benchmark runs with make bench-scaling")
	}
	require.NoError(t, os.MkdirAll(out, 0o755))
	prom, err := findPrometheus()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := startBed(ctx, t.TempDir())
	require.NoError(t, err, "starting the control plane")
	t.Cleanup(func() {
		if t.Failed() {
			b.describe()
		}
		b.stop()
	})
	b.createNode(t, "gpu-a")
	var rows []string
	for _, sc := range benchScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			rows = append(rows, runScenario(t, b, prom, sc, out)...)
		})
	}
	table := "| scenario | path | first change (s after step) | need | first at need (s) | ends at need | final count | at it for good (s) | replica-s over | replica-s under | oscillations |\n" +
		"|---|---|---|---|---|---|---|---|---|---|---|\n" + strings.Join(rows, "")
	t.Log("\n" + table)
	require.NoError(t, os.WriteFile(filepath.Join(out, "scaling.md"), []byte(table), 0o644))
}

// findPrometheus returns the prometheus binary ($PROMETHEUS or PATH).
func findPrometheus() (string, error) {
	for _, p := range []string{os.Getenv("PROMETHEUS"), "/usr/bin/prometheus"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no prometheus binary: apt-get install prometheus (Debian), or set PROMETHEUS")
}

// benchPath is one Deployment, its agent and what the driver saw.
type benchPath struct {
	name, ns string
	agent    *agent
	samples  []benchSample
}

type benchSample struct {
	at          time.Duration
	demand, u   float64
	spec, ready int32
}

// runScenario runs every path through sc and returns their table rows.
func runScenario(t *testing.T, b *bed, prom string, sc benchScenario, out string) []string {
	rec := loadRecording(t, rampRecording)
	steps := benchSteps(t)
	target := fmt.Sprintf("%g", benchTarget)
	meta := map[string]string{"metric": "sm_active_percent", "aggregation": "max", "targetValue": target}
	polled := &benchPath{name: "nvml-scaler", ns: b.namespace(t, sc.name+"-a")}
	push := &benchPath{name: "nvml-scaler push", ns: b.namespace(t, sc.name+"-a-push")}
	chain := &benchPath{name: "prometheus", ns: b.namespace(t, sc.name+"-b")}
	paths := []*benchPath{polled, push, chain}
	polled.agent = startAgent(t, b, "gpu-a", rec, benchAgentName("-poll"))
	push.agent = startAgent(t, b, "gpu-a", rec, benchAgentName("-push"))
	chain.agent = startAgent(t, b, "gpu-a", rec, func(t *testing.T, ag *agent) []string {
		benchAgentName("-dcgm")(t, ag)
		return []string{"--interval=" + benchDCGMEach.String(), "--per-gpu-metrics"}
	})
	promURL := startPrometheus(t, b, prom, strings.TrimSuffix(strings.TrimPrefix(chain.agent.health, "http://"), "/readyz"))
	for _, x := range paths {
		x.agent.fake.SetStep(uint64(steps[0].index))
		b.deployment(t, x.ns, "vllm", benchMin, "gpu-a")
		b.waitReplicas(t, x.ns, "vllm", benchMin, time.Minute, "the Deployment starts")
	}
	sos := []string{
		scaledObject(polled.ns, "vllm", polled.agent.grpc, "Value", meta, benchMin, benchMax, ""),
		strings.Replace(scaledObject(push.ns, "vllm", push.agent.grpc, "Value", meta, benchMin, benchMax, ""),
			"- type: external\n", "- type: external-push\n", 1),
		promScaledObject(chain.ns, promURL, target),
	}
	for i, x := range paths {
		require.NoError(t, b.applyYAML(context.Background(), []byte(sos[i]), applyCreate))
		require.NoError(t, poll(context.Background(), time.Minute, pollEvery, func(ctx context.Context) (bool, error) {
			_, err := b.hpa(ctx, x.ns, "vllm")
			return err == nil, err
		}), "KEDA makes the HPA of %s", x.name)
	}
	drive(t, b, sc, steps, paths)
	var rows []string
	for _, x := range paths {
		file := sc.name + "-" + strings.ReplaceAll(x.name, " ", "-") + ".tsv"
		writeSamples(t, filepath.Join(out, file), x.samples)
		rows = append(rows, summarize(sc, x.samples).row(sc.name, x.name))
	}
	require.NoError(t, plotScenario(filepath.Join(out, "scaling-"+sc.name+".png"), sc, paths))
	return rows
}

// benchAgentName gives an agent its own name (and log file).
func benchAgentName(suffix string) agentOption {
	return func(_ *testing.T, ag *agent) []string {
		ag.name += suffix
		return nil
	}
}

// drive replays sc's demand: every benchTick it splits the demand across
// each path's Ready replicas and serves the nearest recorded step.
func drive(t *testing.T, b *bed, sc benchScenario, steps []benchStep, paths []*benchPath) {
	start := time.Now()
	for at := time.Duration(0); at < sc.length; at = time.Since(start) {
		d := sc.demand(at)
		for _, x := range paths {
			spec, ready, err := b.replicas(context.Background(), x.ns, "vllm")
			require.NoError(t, err)
			u := d / float64(max(ready, 1))
			x.agent.fake.SetStep(uint64(nearestStep(steps, u).index))
			x.samples = append(x.samples, benchSample{at: at, demand: d, u: u, spec: spec, ready: ready})
		}
		require.NoError(t, b.alive())
		time.Sleep(benchTick)
	}
}

// benchStep is a recorded sample the driver may serve.
type benchStep struct {
	index int
	value float64 // its sm_active_percent
}

// benchSteps are the middle samples of the ramp recording's idle and duty phases.
func benchSteps(t *testing.T) []benchStep {
	rec := loadRecording(t, rampRecording)
	var s []benchStep
	for _, ph := range []string{"idle_prealloc", "duty010", "duty020", "duty030", "duty040", "duty050", "duty060", "duty070", "duty080", "duty090", "duty100"} {
		i, v := phaseSample(t, rec, ph)
		s = append(s, benchStep{index: i, value: v})
	}
	return s
}

// nearestStep is the recorded step whose value is nearest u.
func nearestStep(steps []benchStep, u float64) benchStep {
	best := steps[0]
	for _, s := range steps[1:] {
		if math.Abs(s.value-u) < math.Abs(best.value-u) {
			best = s
		}
	}
	return best
}

// startPrometheus runs prometheus on loopback with its own config and data
// directory, scraping target's /metrics every benchPromEach; it returns its URL.
func startPrometheus(t *testing.T, b *bed, bin, target string) string {
	t.Helper()
	port, err := freePort()
	require.NoError(t, err)
	dir := filepath.Join(b.dir, "prometheus")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "data"), 0o755))
	cfg := fmt.Sprintf("global: {scrape_interval: %s, evaluation_interval: %s}\nscrape_configs:\n  - job_name: dcgm-emulated\n    static_configs: [{targets: [%q]}]\n",
		benchPromEach, benchPromEach, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o644))
	p, err := startProc(b.dir, "prometheus", bin, []string{
		"--config.file=" + cfgPath, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + hostPort(port), "--log.level=warn",
	})
	require.NoError(t, err)
	t.Cleanup(func() { p.stop(10 * time.Second) })
	url := "http://" + hostPort(port)
	require.NoError(t, waitHTTP(context.Background(), p, url+"/-/ready", nil), "prometheus ready")
	return url
}

// promScaledObject is path B's ScaledObject: KEDA's prometheus trigger on
// the emulated exporter's series, the same target as path A.
func promScaledObject(ns, server, target string) string {
	return fmt.Sprintf(`apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: vllm, namespace: %s}
spec:
  scaleTargetRef: {name: vllm}
  pollingInterval: 2
  cooldownPeriod: 5
  minReplicaCount: %d
  maxReplicaCount: %d
  triggers:
    - type: prometheus
      metricType: Value
      metadata:
        serverAddress: %q
        query: "max(nvml_scaler_gpu_sm_active_percent)"
        threshold: %q
`, ns, benchMin, benchMax, server, target)
}

func writeSamples(t *testing.T, path string, s []benchSample) {
	var sb strings.Builder
	sb.WriteString("t_s\tdemand\tper_replica\tspec\tready\n")
	for _, x := range s {
		fmt.Fprintf(&sb, "%.2f\t%.1f\t%.1f\t%d\t%d\n", x.at.Seconds(), x.demand, x.u, x.spec, x.ready)
	}
	require.NoError(t, os.WriteFile(path, []byte(sb.String()), 0o644))
}

// benchResult is one path's figures for one scenario.
type benchResult struct {
	first, settle time.Duration // after the step: first change, at the final count for good; -1: never
	reach         time.Duration // after the step: first at the final demand's need; -1: never
	final, need   int32         // the last count; what the last demand needed
	over, under   float64       // replica-seconds of Ready replicas above / below need
	oscillations  int           // direction changes of spec
}

// need is the replica count demand d needs at the benchmark's target.
func need(d float64) int32 {
	return int32(min(max(math.Ceil(d/benchTarget), benchMin), benchMax))
}

func summarize(sc benchScenario, s []benchSample) benchResult {
	r := benchResult{first: -1, settle: -1, reach: -1}
	if len(s) == 0 {
		return r
	}
	r.final, r.need = s[len(s)-1].spec, need(s[len(s)-1].demand)
	var before int32 = -1
	lastDir := 0
	for i, x := range s {
		if x.at < sc.stepAt {
			before = x.spec
		} else if r.first < 0 && before >= 0 && x.spec != before {
			r.first = x.at - sc.stepAt
		}
		if r.reach < 0 && x.at >= sc.stepAt && x.spec == r.need {
			r.reach = x.at - sc.stepAt
		}
		if x.spec != r.final {
			r.settle = -1
		} else if r.settle < 0 && x.at >= sc.stepAt {
			r.settle = x.at - sc.stepAt
		}
		if i == 0 {
			continue
		}
		dt := (x.at - s[i-1].at).Seconds()
		n := need(s[i-1].demand)
		r.over += dt * float64(max(s[i-1].ready-n, 0))
		r.under += dt * float64(max(n-s[i-1].ready, 0))
		if d := sign(x.spec - s[i-1].spec); d != 0 {
			if lastDir != 0 && d != lastDir {
				r.oscillations++
			}
			lastDir = d
		}
	}
	return r
}

func sign(d int32) int {
	switch {
	case d > 0:
		return 1
	case d < 0:
		return -1
	}
	return 0
}

func (r benchResult) row(scenario, path string) string {
	secs := func(d time.Duration) string {
		if d < 0 {
			return "never"
		}
		return fmt.Sprintf("%.1f", d.Seconds())
	}
	return fmt.Sprintf("| %s | %s | %s | %d | %s | %t | %d | %s | %.0f | %.0f | %d |\n",
		scenario, path, secs(r.first), r.need, secs(r.reach), r.final == r.need, r.final, secs(r.settle), r.over, r.under, r.oscillations)
}

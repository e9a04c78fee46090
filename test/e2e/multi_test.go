// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ourMetric is the HPA metric KEDA names after our trigger (index 0) in
// multiTriggerSO; the cron trigger's is s1-cron-….
const ourMetric = "s0-nvml-sm-active-percent-sum"

// multiTriggerSO is ScaledObject ns/vllm with two triggers, as scenario 3's:
// ours on addr (the sum of sm_active_percent, target 20) and the cron
// trigger with its window in the future (inactive); extra goes under spec.
func multiTriggerSO(ns, addr, extra string) string {
	start, end := cronWindow(time.Now(), false)
	return scaledObject(ns, "vllm", addr, "AverageValue",
		map[string]string{"metric": "sm_active_percent", "aggregation": "sum", "targetValue": "20"},
		1, 6, extra) + fmt.Sprintf(cronTrigger, start, end)
}

// kedaState is what KEDA has made of a ScaledObject: the metrics of its HPA's
// spec (nil before the HPA exists) and its Ready condition.
type kedaState struct {
	hpa     bool
	metrics []string
	ready   string // status (reason), "" before KEDA set it
}

func (s kedaState) has(metric string) bool { return slices.Contains(s.metrics, metric) }

func (s kedaState) String() string {
	hpa := "no HPA"
	if s.hpa {
		hpa = "HPA metrics [" + strings.Join(s.metrics, " ") + "]"
	}
	return fmt.Sprintf("%s, Ready=%s", hpa, s.ready)
}

func (b *bed) kedaState(ctx context.Context, ns, so string) (kedaState, error) {
	var s kedaState
	obj, err := b.dyn.Resource(scaledObjectGVR).Namespace(ns).Get(ctx, so, metav1.GetOptions{})
	if err != nil {
		return s, err
	}
	for _, c := range conditions(obj.Object) {
		if c["type"] == "Ready" {
			s.ready = fmt.Sprintf("%v (%v)", c["status"], c["reason"])
		}
	}
	h, err := b.hpa(ctx, ns, so)
	if apierrors.IsNotFound(err) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	s.hpa, s.metrics = true, hpaSpecMetrics(h)
	return s, nil
}

// hpaSpecMetrics names the external metrics of the HPA's spec.
func hpaSpecMetrics(h *autoscalingv2.HorizontalPodAutoscaler) []string {
	names := []string{}
	for _, m := range h.Spec.Metrics {
		if m.External != nil {
			names = append(names, m.External.Metric.Name)
		}
	}
	return names
}

// hpaCurrent is the HPA's newest reading of metric (average value per
// replica), or -1 without one.
func hpaCurrent(h *autoscalingv2.HorizontalPodAutoscaler, metric string) float64 {
	for _, m := range h.Status.CurrentMetrics {
		if m.External != nil && m.External.Metric.Name == metric && m.External.Current.AverageValue != nil {
			return m.External.Current.AverageValue.AsApproximateFloat64()
		}
	}
	return -1
}

// watchKEDA marks every change of the ScaledObject's kedaState on tl until the
// test ends, looking every pollEvery.
func (b *bed) watchKEDA(t *testing.T, tl *timeline, ns, so string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := ""
		for ctx.Err() == nil {
			s, err := b.kedaState(ctx, ns, so)
			now := s.String()
			if err != nil {
				now = "error: " + err.Error()
			}
			if now != last && ctx.Err() == nil {
				tl.mark("KEDA: " + now)
				last = now
			}
			select {
			case <-ctx.Done():
			case <-time.After(pollEvery):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// waitKEDA waits until cond holds for the ScaledObject's kedaState and
// returns the state and how long the wait took.
func (b *bed) waitKEDA(t *testing.T, ns, so string, timeout time.Duration, why string, cond func(kedaState) bool) (kedaState, time.Duration) {
	t.Helper()
	start := time.Now()
	var s kedaState
	err := poll(context.Background(), timeout, pollEvery, func(ctx context.Context) (bool, error) {
		if err := b.alive(); err != nil {
			return true, err
		}
		var err error
		if s, err = b.kedaState(ctx, ns, so); err != nil {
			return false, err
		}
		if cond(s) {
			return true, nil
		}
		return false, fmt.Errorf("%v", s)
	})
	require.NoError(t, err, "%s/%s: %s", ns, so, why)
	return s, time.Since(start)
}

// holdKEDA checks for d that cond keeps holding for the ScaledObject's
// kedaState and that the Deployment keeps spec replicas.
func (b *bed) holdKEDA(t *testing.T, ns, so string, d time.Duration, spec int32, why string, cond func(kedaState) bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(pollEvery) {
		s, err := b.kedaState(context.Background(), ns, so)
		require.NoError(t, err)
		require.True(t, cond(s), "%s: %v", why, s)
		got, _, err := b.replicas(context.Background(), ns, so)
		require.NoError(t, err)
		require.Equal(t, spec, got, "%s: replicas", why)
	}
}

// waitUnready waits until the agent's /readyz answers 503: its data is stale.
func (a *agent) waitUnready(t *testing.T) {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	require.NoError(t, poll(context.Background(), time.Minute, pollEvery, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.health, nil)
		if err != nil {
			return true, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			return true, nil
		}
		return false, fmt.Errorf("/readyz %d", resp.StatusCode)
	}), "agent %s goes stale", a.name)
}

// requireOurReading checks that the HPA reads our metric: sum / replicas.
func (b *bed) requireOurReading(t *testing.T, ns string, sum float64) {
	t.Helper()
	require.NoError(t, poll(context.Background(), 30*time.Second, pollEvery, func(ctx context.Context) (bool, error) {
		h, err := b.hpa(ctx, ns, "vllm")
		if err != nil {
			return false, err
		}
		got := hpaCurrent(h, ourMetric) * float64(h.Status.CurrentReplicas)
		if h.Status.CurrentReplicas == 0 || got < sum-0.5 || got > sum+0.5 {
			return false, fmt.Errorf("the HPA reads %s %.2f × %d replicas", ourMetric, hpaCurrent(h, ourMetric), h.Status.CurrentReplicas)
		}
		return true, nil
	}), "the HPA reads our metric: %.2f in all", sum)
}

// testMultiTriggerStale is scenario 7 (issue #16): a two-trigger ScaledObject
// created while our agent is stale (an NVML call hangs: /readyz 503, which a
// Service with publishNotReadyAddresses still routes to). GetMetricSpec
// answers whatever the freshness, so the HPA KEDA creates carries our metric
// from the start; GetMetrics fails (no scaling on no data) until the agent is
// fresh, and then the replicas follow our value: ceil(52.4 / 20) = 3.
func testMultiTriggerStale(t *testing.T, b *bed) {
	ns := b.namespace(t, "multi-stale")
	b.createNode(t, "gpu-a")
	a := startAgent(t, b, "gpu-a", loadRecording(t, rampRecording))
	v := a.setPhase(t, "duty070")
	b.deployment(t, ns, "vllm", 1, "gpu-a")
	b.waitReplicas(t, ns, "vllm", 1, time.Minute, "the Deployment starts")
	tl := b.record(t, ns, "vllm", "vllm")
	a.fake.Hold(holdSymbol)
	a.waitUnready(t)
	tl.mark("agent stale (" + holdSymbol + " hangs): /readyz 503, still listening")

	require.NoError(t, b.applyYAML(context.Background(), []byte(multiTriggerSO(ns, a.grpc, "")), applyCreate))
	tl.mark("ScaledObject created: our trigger + cron (inactive)")
	b.watchKEDA(t, tl, ns, "vllm")
	s, took := b.waitKEDA(t, ns, "vllm", time.Minute, "the HPA KEDA creates carries our metric",
		func(s kedaState) bool { return s.hpa })
	tl.mark(fmt.Sprintf("HPA created %v after the ScaledObject", took.Round(100*time.Millisecond)))
	require.True(t, s.has(ourMetric), "created while the agent is stale, the HPA has our metric: %v", s)
	require.Len(t, s.metrics, 2, "and the cron trigger's: %v", s)
	b.holdKEDA(t, ns, "vllm", 3*hpaSync, 1, "stale: no value, no scaling", func(s kedaState) bool { return s.has(ourMetric) })

	a.fake.Release(holdSymbol)
	tl.mark(fmt.Sprintf("agent fresh again, serving duty070: %.2f", v))
	b.waitReplicas(t, ns, "vllm", 3, time.Minute, "fresh: ceil(52.4 / 20)")
	b.requireOurReading(t, ns, v)
	assert.LessOrEqual(t, tl.maxSpec(), int32(3))
}

// testMultiTriggerUnreachable is scenario 8 (issue #16): the same
// ScaledObject created while nothing listens on our scalerAddress (the agent
// killed). KEDA v2.21 builds the HPA from the specs it can fetch
// (controllers/keda/hpa.go, getScaledObjectMetricSpecs): the cron trigger's
// only. Its scale loop, failing on our trigger with no trigger active and no
// fallback, sets Ready=False (TriggerError); when the agent is back the loop
// sets Ready=True, and that transition (ScaleObjectReadyConditionPredicate)
// reconciles the ScaledObject: the HPA gets our metric and the replicas
// follow it.
func testMultiTriggerUnreachable(t *testing.T, b *bed) {
	ns := b.namespace(t, "multi-down")
	a, tl := startKilledAgent(t, b, ns)
	require.NoError(t, b.applyYAML(context.Background(), []byte(multiTriggerSO(ns, a.grpc, "")), applyCreate))
	tl.mark("ScaledObject created: our trigger + cron (inactive), no fallback")
	b.watchKEDA(t, tl, ns, "vllm")
	requireHPAWithoutOurs(t, b, tl, ns)
	b.waitKEDA(t, ns, "vllm", time.Minute, "the scale loop reports our trigger failing",
		func(s kedaState) bool { return strings.HasPrefix(s.ready, "False") })
	b.holdKEDA(t, ns, "vllm", 5*pollingInterval, 1, "unreachable: the HPA stays without our metric",
		func(s kedaState) bool { return s.hpa && !s.has(ourMetric) })

	v := a.setPhase(t, "duty070")
	a.start(t)
	tl.mark(fmt.Sprintf("agent restarted, serving duty070: %.2f", v))
	s, took := b.waitKEDA(t, ns, "vllm", 2*time.Minute, "the HPA gets our metric once the scaler is back",
		func(s kedaState) bool { return s.has(ourMetric) })
	tl.mark(fmt.Sprintf("HPA has our metric %v after the agent came back", took.Round(100*time.Millisecond)))
	t.Logf("the HPA got our metric %v after the agent came back: %v", took.Round(100*time.Millisecond), s)
	b.waitReplicas(t, ns, "vllm", 3, time.Minute, "ceil(52.4 / 20)")
	b.requireOurReading(t, ns, v)
}

// testMultiTriggerUnreachableFallback is scenario 9 (issue #16): scenario 8
// with a fallback, as every example of ours has. Failing with a fallback
// set, KEDA's scale loop keeps Ready=True (pkg/scaling/executor: it waits
// for the fallback, which the HPA never asks for: it has no metric of
// ours), so no transition reconciles the ScaledObject: the HPA stays without
// our metric after the agent is back, replicas stay put and no fallback
// applies. Deleting the HPA (an event on an object KEDA owns) makes KEDA
// recreate it, with our metric.
func testMultiTriggerUnreachableFallback(t *testing.T, b *bed) {
	ns := b.namespace(t, "multi-down-fb")
	a, tl := startKilledAgent(t, b, ns)
	fallback := fmt.Sprintf("  fallback: {failureThreshold: 2, replicas: %d, behavior: currentReplicasIfHigher}\n", fallbackReplicas)
	require.NoError(t, b.applyYAML(context.Background(), []byte(multiTriggerSO(ns, a.grpc, fallback)), applyCreate))
	tl.mark("ScaledObject created: our trigger + cron (inactive), fallback")
	b.watchKEDA(t, tl, ns, "vllm")
	requireHPAWithoutOurs(t, b, tl, ns)
	b.holdKEDA(t, ns, "vllm", 5*pollingInterval, 1, "unreachable: no metric of ours, no fallback",
		func(s kedaState) bool { return s.hpa && !s.has(ourMetric) })

	v := a.setPhase(t, "duty070")
	a.start(t)
	tl.mark(fmt.Sprintf("agent restarted, serving duty070: %.2f", v))
	const stuck = 30 * time.Second
	b.holdKEDA(t, ns, "vllm", stuck, 1, "the agent is back, and the HPA still lacks our metric",
		func(s kedaState) bool { return s.hpa && !s.has(ourMetric) && strings.HasPrefix(s.ready, "True") })
	tl.mark(fmt.Sprintf("%v with the agent back: still no metric of ours in the HPA", stuck))

	require.NoError(t, b.kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Delete(context.Background(), "keda-hpa-vllm", metav1.DeleteOptions{}))
	tl.mark("HPA keda-hpa-vllm deleted (the remedy)")
	s, took := b.waitKEDA(t, ns, "vllm", time.Minute, "KEDA recreates the HPA with our metric",
		func(s kedaState) bool { return s.has(ourMetric) })
	tl.mark(fmt.Sprintf("HPA recreated with our metric %v after the delete", took.Round(100*time.Millisecond)))
	t.Logf("the HPA was recreated with our metric %v after the delete: %v", took.Round(100*time.Millisecond), s)
	b.waitReplicas(t, ns, "vllm", 3, time.Minute, "ceil(52.4 / 20)")
	b.requireOurReading(t, ns, v)
}

// startKilledAgent starts an agent for gpu-a, kills it (its port then has
// nothing listening), creates the Deployment and starts the timeline.
func startKilledAgent(t *testing.T, b *bed, ns string) (*agent, *timeline) {
	t.Helper()
	b.createNode(t, "gpu-a")
	a := startAgent(t, b, "gpu-a", loadRecording(t, rampRecording))
	a.p.kill()
	b.deployment(t, ns, "vllm", 1, "gpu-a")
	b.waitReplicas(t, ns, "vllm", 1, time.Minute, "the Deployment starts")
	tl := b.record(t, ns, "vllm", "vllm")
	tl.mark("agent killed (SIGKILL): nothing listens on " + a.grpc)
	return a, tl
}

// requireHPAWithoutOurs waits for the HPA and checks that it has the cron
// trigger's metric only.
func requireHPAWithoutOurs(t *testing.T, b *bed, tl *timeline, ns string) {
	t.Helper()
	s, took := b.waitKEDA(t, ns, "vllm", time.Minute, "KEDA creates the HPA", func(s kedaState) bool { return s.hpa })
	tl.mark(fmt.Sprintf("HPA created %v after the ScaledObject", took.Round(100*time.Millisecond)))
	require.False(t, s.has(ourMetric), "created while the scaler is unreachable: %v", s)
	require.Len(t, s.metrics, 1, "the cron trigger's only: %v", s)
	require.True(t, strings.HasPrefix(s.metrics[0], "s1-cron-"), "%v", s)
}

// SPDX-License-Identifier: Apache-2.0

package aggregator

import (
	"fmt"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nvml-scaler/nvml-scaler/cluster/agent"
	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/scaler"
	"github.com/nvml-scaler/nvml-scaler/scaler/enginetrigger"
)

// engineKeep is how much engine history a pod keeps: the longest engine
// `window` and a margin for staleness.
const engineKeep = enginetrigger.MaxWindow + time.Minute

// enginePod is one pod's engine scrapes as the aggregator holds them.
type enginePod struct {
	pod      agent.EnginePod
	hist     engine.History
	interval time.Duration // the agent's engine scrape interval
}

// engineState returns the engine pods of n, each pod's history carried over
// from prev (the same agent epoch) with its new reading appended when newer.
// skew moves the agent's reading times onto the aggregator's clock.
func engineState(prev map[string]enginePod, n *agent.Node, skew time.Duration) map[string]enginePod {
	if len(n.EnginePods) == 0 {
		return nil
	}
	out := make(map[string]enginePod, len(n.EnginePods))
	for _, p := range n.EnginePods {
		key := p.Namespace + "/" + p.Name
		st := enginePod{pod: p, hist: prev[key].hist, interval: n.EngineInterval}
		if r := p.Reading; r != nil {
			r.Time = r.Time.Add(skew) // decoded for this view alone: not shared yet
			if old := st.hist.Newest(); old == nil || r.Time.After(old.Time) {
				st.hist = st.hist.Add(r, engineKeep)
			}
		}
		out[key] = st
	}
	return out
}

// evaluateEngine serves an engine trigger: the Ready, not terminating pods of
// q's target, across nodes, each from the engine scrapes its node's agent
// streamed, combined as the node server combines its pods (histograms merged
// before a mean or quantile; `model` selecting each pod's series of that
// model; onMissing for a pod without a value, and for a pod whose agent, of
// an older release, streams no per-model samples when `model` is set).
func (a *Aggregator) evaluateEngine(q *query) (float64, error) {
	c, err := a.explainEngine(q)
	return c.Value, err
}

// ExplainEngine answers an engine trigger as GetMetrics does, naming the
// pods that contributed and those left out with their reason (not Ready,
// terminating, no scrape, …): what `query` shows. Errors are gRPC status
// errors; InvalidArgument when ref's metric is not an engine metric.
func (a *Aggregator) ExplainEngine(ref *pb.ScaledObjectRef) (enginetrigger.Contribution, error) {
	q, err := a.parseQuery(ref)
	if err != nil {
		return enginetrigger.Contribution{}, err
	}
	if q.engine == nil {
		return enginetrigger.Contribution{}, status.Error(codes.InvalidArgument, "not an engine metric: only engine triggers (requests_waiting, ttft_seconds, …) name their pods")
	}
	return a.explainEngine(q)
}

func (a *Aggregator) explainEngine(q *query) (enginetrigger.Contribution, error) {
	pods, err := a.selectPods(q)
	if err != nil {
		return enginetrigger.Contribution{}, err
	}
	var skipped []enginetrigger.LeftOut
	now := a.now()
	nodes := *a.nodes.Load()
	v := &watch.View{}
	devices := &scaler.Snapshot{}
	for _, p := range pods.pods {
		if why := notCounted(p.ready, p.terminating, p.nodeName, q); why != "" {
			skipped = append(skipped, enginetrigger.LeftOut{Name: p.key, Reason: why})
			continue
		}
		wp := watch.Pod{Name: p.key, Namespace: p.Namespace, GPUs: []string{}}
		nv, why := pickView(nodes[p.nodeName], now)
		switch {
		case nv == nil:
			wp.Err = fmt.Errorf("pod %s on node %s: %w: %s", p.key, p.nodeName, watch.ErrAbsent, why)
		default:
			devices.GPUs = append(devices.GPUs, nv.node.Snapshot.GPUs...)
			ep, ok := nv.engines[p.key]
			if !ok {
				wp.Err = fmt.Errorf("pod %s: %w: the agent on node %s streams no engine scrape of it (is serve --engine-pods on, and does the pod hold a GPU there?)",
					p.key, watch.ErrAbsent, p.nodeName)
				break
			}
			wp.GPUs, wp.Engine, wp.History, wp.Err = ep.pod.GPUs, ep.pod.Engine, ep.hist, ep.pod.Err
			if wp.Err == nil && q.engine.Model != "" && !ep.pod.PerModel {
				wp.Err = fmt.Errorf("pod %s: %w: the agent on node %s streams no per-model samples (a release before them), so model %q cannot select its series; upgrade that agent, or leave out model",
					p.key, watch.ErrAbsent, p.nodeName, q.engine.Model)
			}
			v.Interval = max(v.Interval, ep.interval)
		}
		v.Pods = append(v.Pods, wp)
	}
	if len(v.Pods) == 0 {
		return enginetrigger.Contribution{LeftOut: skipped},
			status.Errorf(codes.NotFound, "%s: no Ready pod of %s to read engine metrics from", q.engine.Metric, pods.what)
	}
	if v.Interval <= 0 {
		v.Interval = time.Second // no pod was read; the interval then judges nothing
	}
	srv := enginetrigger.New(fixedView{v}, func() time.Time { return now }, func() *scaler.Snapshot { return devices })
	c, err := srv.Explain(v.Pods[0].Namespace, q.engine)
	c.LeftOut = append(c.LeftOut, skipped...)
	return c, err
}

// notCounted says why a pod of the target does not count for an engine
// trigger; "" when it counts.
func notCounted(ready, terminating bool, node string, q *query) string {
	switch {
	case terminating:
		return "terminating: does not count"
	case !ready:
		return "not Ready: does not count"
	case node == "":
		return "not scheduled on a node yet"
	case !q.nodeAllowed(node):
		return fmt.Sprintf("on node %s, which nodeNames leaves out", node)
	}
	return ""
}

// fixedView serves one View.
type fixedView struct{ v *watch.View }

func (f fixedView) View() *watch.View { return f.v }

// SPDX-License-Identifier: Apache-2.0

package aggregator

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nvml-scaler/nvml-scaler/cluster/attribution"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// maxReasons bounds how many devices an error message lists.
const maxReasons = 8

// selected is the outcome of resolving a query to GPUs.
type selected struct {
	what string
	// values holds the trigger's metric of each selected GPU (absent for a
	// GPU that is not healthy); from says where each came from.
	values []scaler.Value
	from   []gpuRef
	// Counts for "why is nothing selected" answers.
	pods, gpuPods, pending, offNodes, attributed int
	// nor completes the "no GPU resources" answer: with DRA, nor claims.
	nor string
}

type gpuRef struct {
	v   *view
	pos int
}

func (r gpuRef) gpu() *scaler.GPU { return &r.v.node.Snapshot.GPUs[r.pos] }

// evaluate returns the value GetMetrics reports for q now. Errors are gRPC
// status errors (see the package doc).
func (a *Aggregator) evaluate(q *query) (float64, error) {
	if q.engine != nil {
		return a.evaluateEngine(q)
	}
	sel, err := a.selectGPUs(q)
	if err != nil {
		return 0, err
	}
	t := &q.trigger
	if len(sel.values) == 0 {
		return 0, sel.noGPU(t)
	}
	if err := sel.missing(t); err != nil {
		return 0, err
	}
	v, n := scaler.Combine(sel.values, t.Aggregation)
	if n == 0 {
		return 0, noValue(sel, t)
	}
	if t.Window <= 0 {
		return v, nil
	}
	for i, ref := range sel.from {
		if mean, n := ref.v.hist.mean(ref.pos, t.Metric, ref.v.start.Add(-t.Window)); n > 0 {
			sel.values[i] = scaler.Value{V: mean, Status: scaler.StatusOK}
		}
	}
	v, _ = scaler.Combine(sel.values, t.Aggregation)
	return v, nil
}

// selectGPUs resolves q to pods, then to the GPUs allocated to them, failing
// when any pod that should hold GPUs is on a node the aggregator cannot see.
func (a *Aggregator) selectGPUs(q *query) (*selected, error) {
	pods, err := a.selectPods(q)
	if err != nil {
		return nil, err
	}
	now := a.now()
	nodes := *a.nodes.Load()
	sel := &selected{what: pods.what}
	if a.works.claims != nil {
		sel.nor = " nor hold " + attribution.DRADriver + " devices through ResourceClaims"
	}
	var seen dedup
	for _, p := range pods.pods {
		if p.phase == "Succeeded" || p.phase == "Failed" {
			continue
		}
		sel.pods++
		gpus, unresolved := a.works.podGPUs(p)
		if gpus == 0 && unresolved == "" {
			continue
		}
		sel.gpuPods++
		if q.trigger.Aggregation == scaler.AggAvg && (!p.ready || p.terminating) {
			// avg is the per-pod figure the HPA multiplies by its ready pods
			// (metricType Value): a pod still loading its model, or on its way
			// out, is not one of them, and its idle GPU would drag the mean down.
			sel.pending++
			continue
		}
		if unresolved != "" && p.phase == "Running" && !p.terminating {
			// A running pod's claims are allocated: the cache lags, and a sum
			// without the pod would be smaller. One on its way out may have
			// lost its claim already.
			return nil, status.Errorf(codes.Unavailable, "pod %s/%s of %s runs on node %s, but %s",
				p.Namespace, p.Name, sel.what, p.nodeName, unresolved)
		}
		if p.nodeName == "" || unresolved != "" {
			sel.pending++ // not scheduled, or its claims not allocated (or gone) yet
			continue
		}
		if !q.nodeAllowed(p.nodeName) {
			sel.offNodes++
			continue
		}
		v, why := pickView(nodes[p.nodeName], now)
		if v == nil {
			return nil, status.Errorf(codes.Unavailable, "pod %s/%s of %s runs on node %s, whose GPUs cannot be read: %s",
				p.Namespace, p.Name, sel.what, p.nodeName, why)
		}
		if attr := v.node.Attribution; !attr.Available {
			return nil, status.Errorf(codes.Unavailable, "pod %s/%s of %s runs on node %s, whose GPU attribution is unavailable: %s",
				p.Namespace, p.Name, sel.what, p.nodeName, attr.Reason)
		}
		positions := v.byPod[p.key]
		if len(positions) == 0 {
			if p.phase == "Running" {
				return nil, status.Errorf(codes.Unavailable, "pod %s/%s of %s runs on node %s and requests %d GPU(s), "+
					"but the node's kubelet attributes none to it yet%s", p.Namespace, p.Name, sel.what, p.nodeName, gpus,
					podNotes(v.node.Attribution.Notes, p.key))
			}
			sel.pending++
			continue
		}
		for _, i := range positions {
			sel.attributed++
			ref := gpuRef{v, i}
			g := ref.gpu()
			if !q.trigger.Selector.IsZero() && !q.trigger.Selector.Matches(&g.Device) || !seen.add(ref) {
				continue
			}
			val := g.Metrics[q.trigger.Metric]
			if g.Health != scaler.HealthOK {
				val = scaler.Value{} // the node server skips unhealthy devices
			}
			sel.values = append(sel.values, val)
			sel.from = append(sel.from, ref)
		}
	}
	return sel, nil
}

// podNotes returns, as "; the agent notes: …", the attribution notes that
// name pod key ("namespace/name"), at most maxReasons; "" when none does.
func podNotes(notes []string, key string) string {
	out := attribution.NotesOfPod(notes, key, maxReasons)
	if len(out) == 0 {
		return ""
	}
	return "; the agent notes: " + strings.Join(out, "; ")
}

// missing answers Unavailable, naming them, when t's onMissing policy is
// fail and a selected GPU is not healthy (lost, failed, hung): a cluster sum
// without it would under-report. nil otherwise.
func (s *selected) missing(t *scaler.Trigger) error {
	if t.OnMissing.For(t.Aggregation) != scaler.MissingFail {
		return nil
	}
	var why []string
	n := 0
	for _, ref := range s.from {
		g := ref.gpu()
		if g.Health == scaler.HealthOK {
			continue
		}
		n++
		if len(why) < maxReasons {
			why = append(why, scaler.MissingReason(g)+" on "+ref.v.node.Snapshot.Node)
		}
	}
	if n == 0 {
		return nil
	}
	if n > len(why) {
		why = append(why, fmt.Sprintf("and %d more", n-len(why)))
	}
	return scaler.MissingGPUsError(t, len(s.from), why)
}

// selectPods resolves q to its pods: the ScaledObject's target's, or those
// podSelector selects. Errors are gRPC status errors.
func (a *Aggregator) selectPods(q *query) (selection, error) {
	if !a.works.synced.Load() {
		return selection{}, status.Error(codes.Unavailable, "the aggregator is not ready: "+a.works.notReadyReason())
	}
	var pods selection
	var err error
	if q.selector != nil {
		pods, err = a.works.labelledPods(q.namespace, q.selector, q.rawSelector)
	} else {
		pods, err = a.works.targetPods(q.soNamespace, q.soName)
	}
	if err != nil {
		var se *selectError
		switch {
		case errors.As(err, &se) && se.notFound:
			return selection{}, status.Error(codes.NotFound, err.Error())
		case errors.As(err, &se):
			return selection{}, status.Error(codes.FailedPrecondition, err.Error())
		}
		return selection{}, status.Error(codes.Internal, err.Error())
	}
	return pods, nil
}

// pickView returns the freshest connected view among a node's agents, or nil
// and why there is none.
func pickView(conns []*agentConn, now time.Time) (*view, string) {
	if len(conns) == 0 {
		return nil, "no agent has reported this node (is the agent running there, and discovered?)"
	}
	var best *view
	var why []string
	for _, c := range conns {
		v := c.view.Load()
		switch {
		case !c.connected.Load():
			msg := "not connected"
			if e := c.lastErr.Load(); e != nil {
				msg = *e
			}
			why = append(why, fmt.Sprintf("agent %s is disconnected: %s", c.addr, msg))
		case !v.fresh(now):
			why = append(why, fmt.Sprintf("agent %s is stale: its newest snapshot is %v old (limit %d sweep intervals of %v)",
				c.addr, now.Sub(v.start).Round(time.Millisecond), scaler.StaleIntervals, v.node.Interval))
		case best == nil || v.start.After(best.start):
			best = v
		}
	}
	if best == nil {
		return nil, strings.Join(why, "; ")
	}
	return best, ""
}

// noGPU answers a selection that holds no GPU: 0 at zero replicas or when
// every pod that wants GPUs is still pending, NotFound otherwise.
func (s *selected) noGPU(t *scaler.Trigger) error {
	switch {
	case s.gpuPods == 0 && s.pods > 0:
		return status.Errorf(codes.NotFound, "the %d pod(s) of %s request no %s resources%s", s.pods, s.what, GPUResourcePrefix, s.nor)
	case s.attributed > 0:
		return status.Errorf(codes.NotFound, "none of the %d GPU(s) allocated to %s matches %s", s.attributed, s.what, t.Selector.String())
	case s.offNodes > 0 && s.pending == 0:
		return status.Errorf(codes.NotFound, "none of the %d pod(s) of %s with GPUs runs on the nodes in %s", s.offNodes, s.what, KeyNodeNames)
	}
	return nil // zero replicas, or only pending pods: the value is 0
}

// noValue explains why the selected GPUs gave no value, with the node
// server's codes: FailedPrecondition when the metric is not supported on any
// of them, Unavailable otherwise.
func noValue(s *selected, t *scaler.Trigger) error {
	unsupported := 0
	var why []string
	for _, ref := range s.from {
		g := ref.gpu()
		v := g.Metrics[t.Metric]
		var r string
		switch {
		case g.Health == scaler.HealthLost:
			r = "lost"
		case g.Health != scaler.HealthOK:
			r = fmt.Sprintf("%s: %v", g.Health, g.Err)
		case v.Status == scaler.StatusNotSupported:
			unsupported++
			r = "not supported"
		default:
			r = v.Status.String()
		}
		if len(why) < maxReasons {
			why = append(why, fmt.Sprintf("%s on %s %s", g.UUID, ref.v.node.Snapshot.Node, r))
		}
	}
	code := codes.Unavailable
	if unsupported == len(s.from) {
		code = codes.FailedPrecondition
	}
	return status.Errorf(code, "metric %s has no value on the %d GPU(s) of %s: %v", t.Metric, len(s.from), s.what, why)
}

// dedup remembers which GPUs a request already counted (a GPU shared by two
// selected pods counts once) without a map entry per GPU: one bit per device
// position per node, with a map only for positions past 63.
type dedup struct {
	bits map[*view]uint64
	more map[gpuRef]bool
}

// add reports whether ref is new, and remembers it.
func (d *dedup) add(ref gpuRef) bool {
	if ref.pos >= 64 {
		if d.more == nil {
			d.more = map[gpuRef]bool{}
		}
		if d.more[ref] {
			return false
		}
		d.more[ref] = true
		return true
	}
	if d.bits == nil {
		d.bits = map[*view]uint64{}
	}
	b := d.bits[ref.v]
	if b&(1<<ref.pos) != 0 {
		return false
	}
	d.bits[ref.v] = b | 1<<ref.pos
	return true
}

// SPDX-License-Identifier: Apache-2.0

package enginetrigger

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// Views is where the newest engine view comes from: a *watch.Watcher.
type Views interface{ View() *watch.View }

// Devices returns the node's newest snapshot, whose devices GPU selectors
// match: (*scaler.Sampler).Latest.
type Devices func() *scaler.Snapshot

// Server implements scaler.EngineMetrics over a Watcher's views.
type Server struct {
	views   Views
	now     func() time.Time
	devices Devices
}

// New returns a Server reading views; now nil means time.Now; devices nil
// means no GPU is known, so a trigger with a GPU selector selects no pod.
func New(views Views, now func() time.Time, devices Devices) *Server {
	if now == nil {
		now = time.Now
	}
	if devices == nil {
		devices = func() *scaler.Snapshot { return nil }
	}
	return &Server{views: views, now: now, devices: devices}
}

// Serves implements scaler.EngineMetrics.
func (s *Server) Serves(md map[string]string) bool { return Serves(md) }

// Spec implements scaler.EngineMetrics.
func (s *Server) Spec(md map[string]string) (string, float64, error) {
	t, err := Parse(md)
	if err != nil {
		return "", 0, status.Error(codes.InvalidArgument, err.Error())
	}
	return t.MetricName(), t.Target, nil
}

// Evaluate implements scaler.EngineMetrics: see [Server.Value].
func (s *Server) Evaluate(namespace string, md map[string]string) (float64, float64, error) {
	t, err := Parse(md)
	if err != nil {
		return 0, 0, status.Error(codes.InvalidArgument, err.Error())
	}
	v, _, err := s.Value(namespace, &t)
	return v, t.Activation, err
}

// Value returns t's value now over the targets that count for it, and the
// names of those that contributed. A pod counts when it is in namespace and,
// with a GPU selector, one of its GPUs is selected; an operator-set
// --engine-target counts when t has no GPU selector. Errors are gRPC status
// errors: NotFound when no target counts; Unavailable when a target has no usable reading or not
// enough data in the window (with onMissing: skip, only when none has);
// FailedPrecondition when a target's engine does not export the metric.
func (s *Server) Value(namespace string, t *Trigger) (float64, []string, error) {
	c, err := s.Explain(namespace, t)
	return c.Value, c.Contributed, err
}

// Explain is Value with the targets that counted but were left out, each
// with its reason; they are listed with the error too, so that `query` can
// name them whichever way the call went.
func (s *Server) Explain(namespace string, t *Trigger) (Contribution, error) {
	pods := s.counted(namespace, t)
	if len(pods) == 0 {
		return Contribution{}, status.Errorf(codes.NotFound,
			"no engine target on this node counts for this trigger: no GPU pod in namespace %q (%s) with engine signals on, and no --engine-target", namespace, t.Selector.String())
	}
	now, interval := s.now(), s.views.View().Interval
	var c Contribution
	var ws []engine.Window
	var why []string
	var failed error // the first failure, under onMissing: fail
	code := codes.Unavailable
	for _, p := range pods {
		w, err := window(p, t, now, interval)
		if err != nil {
			if errors.Is(err, engine.ErrNotExported) {
				code = codes.FailedPrecondition
			}
			why = append(why, err.Error())
			c.LeftOut = append(c.LeftOut, LeftOut{Name: p.Name, Reason: strings.TrimPrefix(err.Error(), p.Name+": ")})
			if !t.SkipMissing && failed == nil {
				failed = status.Errorf(code, "%s: %v (onMissing: fail)", t.Metric, err)
			}
			continue
		}
		ws = append(ws, w)
		c.Contributed = append(c.Contributed, p.Name)
	}
	switch {
	case failed != nil:
		return c, failed
	case len(ws) == 0:
		return c, status.Errorf(code, "%s: no engine target has a value: %s", t.Metric, strings.Join(why, "; "))
	}
	val, err := engine.Combine(ws, t.Aggregation, t.Quantile)
	if err != nil {
		code := codes.Unavailable
		if errors.Is(err, engine.ErrInvalid) {
			code = codes.FailedPrecondition
		}
		return c, status.Errorf(code, "%s over %v: %v", t.Metric, c.Contributed, err)
	}
	c.Value = val
	return c, nil
}

func window(p *watch.Pod, t *Trigger, now time.Time, interval time.Duration) (engine.Window, error) {
	if err := p.Usable(now, interval); err != nil {
		return engine.Window{}, err
	}
	w, err := p.History.WindowOf(t.Metric, t.Model, t.Window)
	if err != nil {
		return engine.Window{}, fmt.Errorf("%s (%s): %w", p.Name, p.Engine, err)
	}
	return w, nil
}

// counted returns the targets that count for t in namespace.
func (s *Server) counted(namespace string, t *Trigger) []*watch.Pod {
	v := s.views.View()
	var selected map[string]bool // GPU UUID → selected; nil: no selector
	if !t.Selector.IsZero() {
		selected = map[string]bool{}
		if snap := s.devices(); snap != nil {
			for i := range snap.GPUs {
				d := &snap.GPUs[i].Device
				selected[d.UUID] = t.Selector.Matches(d)
			}
		}
	}
	var out []*watch.Pod
	for i := range v.Pods {
		p := &v.Pods[i]
		switch {
		case p.GPUs == nil && p.Namespace == "": // an operator-set target
			if selected == nil {
				out = append(out, p)
			}
		case p.Namespace != namespace:
		case selected == nil || slices.ContainsFunc(p.GPUs, func(u string) bool { return selected[u] }):
			out = append(out, p)
		}
	}
	return out
}

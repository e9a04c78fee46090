// SPDX-License-Identifier: Apache-2.0

package enginetrigger

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
)

// Views is where the newest engine view comes from: a *watch.Watcher.
type Views interface{ View() *watch.View }

// Server implements scaler.EngineMetrics over a Watcher's views.
type Server struct {
	views Views
	now   func() time.Time
}

// New returns a Server reading views; now nil means time.Now.
func New(views Views, now func() time.Time) *Server {
	if now == nil {
		now = time.Now
	}
	return &Server{views: views, now: now}
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
func (s *Server) Evaluate(md map[string]string) (float64, float64, error) {
	t, err := Parse(md)
	if err != nil {
		return 0, 0, status.Error(codes.InvalidArgument, err.Error())
	}
	v, _, err := s.Value(&t)
	return v, t.Activation, err
}

// Value returns t's value over every engine target now, and the names of the
// targets that contributed. Errors are gRPC status errors: NotFound when no
// target is configured; Unavailable when a target has no usable reading or not
// enough data in the window (with onMissing: skip, only when none has);
// FailedPrecondition when a target's engine does not export the metric.
func (s *Server) Value(t *Trigger) (float64, []string, error) {
	v := s.views.View()
	if len(v.Pods) == 0 {
		return 0, nil, status.Error(codes.NotFound, "no engine target on this node: start serve with --engine-target name=URL")
	}
	now := s.now()
	var ws []engine.Window
	var names, why []string
	code := codes.Unavailable
	for i := range v.Pods {
		p := &v.Pods[i]
		w, err := window(p, t, now, v.Interval)
		if err != nil {
			if errors.Is(err, engine.ErrNotExported) {
				code = codes.FailedPrecondition
			}
			why = append(why, err.Error())
			if t.SkipMissing {
				continue
			}
			return 0, nil, status.Errorf(code, "%s: %v (onMissing: fail)", t.Metric, err)
		}
		ws = append(ws, w)
		names = append(names, p.Name)
	}
	if len(ws) == 0 {
		return 0, nil, status.Errorf(code, "%s: no engine target has a value: %s", t.Metric, strings.Join(why, "; "))
	}
	val, err := engine.Combine(ws, t.Aggregation, t.Quantile)
	if err != nil {
		c := codes.Unavailable
		if errors.Is(err, engine.ErrInvalid) {
			c = codes.FailedPrecondition
		}
		return 0, nil, status.Errorf(c, "%s over %v: %v", t.Metric, names, err)
	}
	return val, names, nil
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

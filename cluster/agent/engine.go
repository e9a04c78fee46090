// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/proto/nodev1"
)

// EngineViews provides the newest engine scrapes; *watch.Watcher is one.
type EngineViews interface{ View() *watch.View }

// EnginePod is one pod's newest engine scrape as received from its agent.
type EnginePod struct {
	Namespace string
	Name      string
	// GPUs are the UUIDs of the pod's GPUs on that node.
	GPUs []string
	// Engine is the profile that read it; "" before a scrape.
	Engine engine.Engine
	// Err says why the pod has no usable reading (wrapping
	// watch.ErrAbsent); nil when Reading is set.
	Err error
	// Reading is the newest reading, on the agent's clock; its per-model
	// samples do not travel (Reading.ByModel is nil).
	Reading *engine.Reading
}

// encodeEngines writes the pods of v (operator-set --engine-target endpoints
// are node-local and stay off the stream), each with its newest reading or
// why it has none at now.
func encodeEngines(v *watch.View, now time.Time) []*nodev1.EnginePod {
	if v == nil {
		return nil
	}
	var out []*nodev1.EnginePod
	for i := range v.Pods {
		p := &v.Pods[i]
		if p.Namespace == "" {
			continue
		}
		_, name, _ := strings.Cut(p.Name, "/") // a pod target is named namespace/name
		m := &nodev1.EnginePod{Namespace: p.Namespace, Name: name, GpuUuids: p.GPUs, Engine: string(p.Engine)}
		if err := p.Usable(now, v.Interval); err != nil {
			m.Error = err.Error()
		} else {
			r := p.History.Newest()
			m.ReadUnixNanos = r.Time.UnixNano()
			m.Samples = encodeSamples(r)
		}
		out = append(out, m)
	}
	return out
}

func encodeSamples(r *engine.Reading) []*nodev1.EngineSample {
	out := make([]*nodev1.EngineSample, engine.NumMetrics)
	for m := range engine.NumMetrics {
		s := &r.Samples[m]
		es := &nodev1.EngineSample{Metric: m.String(), Value: s.V, Den: s.Den}
		if s.Err != nil {
			es.Error = s.Err.Error()
		}
		if h := s.Hist; h != nil {
			es.Bounds, es.Counts, es.Sum, es.Count = h.Bounds, h.Counts, h.Sum, h.Count
		}
		out[m] = es
	}
	return out
}

// decodeEngines reads m's engine pods. A metric this build does not know is
// skipped; one that is not sent is absent with that reason.
func decodeEngines(m *nodev1.Snapshot) ([]EnginePod, error) {
	var out []EnginePod
	for _, ep := range m.GetEnginePods() {
		p := EnginePod{Namespace: ep.GetNamespace(), Name: ep.GetName(), GPUs: ep.GetGpuUuids(), Engine: engine.Engine(ep.GetEngine())}
		if p.Namespace == "" || p.Name == "" {
			return nil, fmt.Errorf("node %q snapshot %d: an engine pod without namespace and name", m.GetNode(), m.GetSeq())
		}
		if e := ep.GetError(); e != "" || len(ep.GetSamples()) == 0 {
			if e == "" {
				e = "no reading sent"
			}
			p.Err = fmt.Errorf("%s/%s on node %s: %w: %s", p.Namespace, p.Name, m.GetNode(), watch.ErrAbsent, e)
			out = append(out, p)
			continue
		}
		r := &engine.Reading{Engine: p.Engine, Time: time.Unix(0, ep.GetReadUnixNanos())}
		for mt := range engine.NumMetrics {
			r.Samples[mt].Err = fmt.Errorf("%s: the agent sent no value: %w", mt, errNotSent)
		}
		for _, s := range ep.GetSamples() {
			mt, ok := engine.ParseMetric(s.GetMetric())
			if !ok {
				continue // a newer agent's metric
			}
			if len(s.GetBounds()) != len(s.GetCounts()) {
				return nil, fmt.Errorf("node %q snapshot %d, pod %s/%s, %s: %d histogram bounds for %d counts",
					m.GetNode(), m.GetSeq(), p.Namespace, p.Name, mt, len(s.GetBounds()), len(s.GetCounts()))
			}
			r.Samples[mt] = decodeSample(s)
		}
		p.Reading = r
		out = append(out, p)
	}
	return out, nil
}

// errNotSent: the agent's catalogue lacks the metric (an older agent).
var errNotSent = errors.New("not sent by the agent")

func decodeSample(s *nodev1.EngineSample) engine.Sample {
	out := engine.Sample{V: s.GetValue(), Den: s.GetDen()}
	if e := s.GetError(); e != "" {
		out.Err = errors.New(e)
	}
	if len(s.GetBounds()) > 0 {
		out.Hist = &engine.Histogram{Bounds: s.GetBounds(), Counts: s.GetCounts(), Sum: s.GetSum(), Count: s.GetCount()}
	}
	return out
}

// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"errors"
	"fmt"
	"time"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/proto/nodev1"
)

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
		if err := decodeSamples(ep.GetSamples(), &r.Samples); err != nil {
			return nil, fmt.Errorf("node %q snapshot %d, pod %s/%s: %w", m.GetNode(), m.GetSeq(), p.Namespace, p.Name, err)
		}
		if err := decodeModels(ep.GetModels(), r); err != nil {
			return nil, fmt.Errorf("node %q snapshot %d, pod %s/%s: %w", m.GetNode(), m.GetSeq(), p.Namespace, p.Name, err)
		}
		p.Reading, p.PerModel = r, ep.GetModels() != nil
		out = append(out, p)
	}
	return out, nil
}

// decodeSamples fills into from ss: a metric this build does not know is
// skipped, one not sent is absent with errNotSent.
func decodeSamples(ss []*nodev1.EngineSample, into *[engine.NumMetrics]engine.Sample) error {
	for mt := range engine.NumMetrics {
		into[mt].Err = fmt.Errorf("%s: the agent sent no value: %w", mt, errNotSent)
	}
	for _, s := range ss {
		mt, ok := engine.ParseMetric(s.GetMetric())
		if !ok {
			continue // a newer agent's metric
		}
		if len(s.GetBounds()) != len(s.GetCounts()) {
			return fmt.Errorf("%s: %d histogram bounds for %d counts", mt, len(s.GetBounds()), len(s.GetCounts()))
		}
		into[mt] = decodeSample(s)
	}
	return nil
}

// decodeModels sets r's per-model samples from ms (nil: an older agent sent
// none). It keeps at most engine.MaxModels groups, as an agent does, and
// fails on a group without a model name or a name sent twice.
func decodeModels(ms *nodev1.EngineModels, r *engine.Reading) error {
	r.OnlyModel = ms.GetOnly()
	groups := ms.GetGroups()
	if len(groups) == 0 {
		return nil
	}
	if len(groups) > engine.MaxModels {
		groups = groups[:engine.MaxModels]
	}
	r.ByModel = make(map[string]*[engine.NumMetrics]engine.Sample, len(groups))
	for _, g := range groups {
		name := g.GetModel()
		if name == "" {
			return errors.New("a per-model sample group without a model name")
		}
		if _, dup := r.ByModel[name]; dup {
			return fmt.Errorf("model %q: two per-model sample groups", name)
		}
		var ss [engine.NumMetrics]engine.Sample
		if err := decodeSamples(g.GetSamples(), &ss); err != nil {
			return fmt.Errorf("model %q: %w", name, err)
		}
		r.ByModel[name] = &ss
	}
	return nil
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

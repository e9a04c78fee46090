// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"maps"
	"slices"
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
	// Reading is the newest reading, on the agent's clock, with its
	// per-model samples (Reading.OnlyModel, Reading.ByModel) when PerModel.
	Reading *engine.Reading
	// PerModel reports that the agent sent the reading's per-model samples.
	// An agent of a release before them sends none: its Reading holds the
	// sums over all models only, so a `model` filter cannot use it.
	PerModel bool
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
			m.Samples = encodeSamples(&r.Samples)
			m.Models = encodeModels(r)
		}
		out = append(out, m)
	}
	return out
}

// encodeModels writes r's per-model samples: its one model's name, or each
// model's samples (at most engine.MaxModels, as the reading holds them), in
// name order.
func encodeModels(r *engine.Reading) *nodev1.EngineModels {
	out := &nodev1.EngineModels{Only: r.OnlyModel}
	names := slices.Sorted(maps.Keys(r.ByModel))
	for _, name := range names {
		out.Groups = append(out.Groups, &nodev1.EngineModel{Model: name, Samples: encodeSamples(r.ByModel[name])})
	}
	return out
}

func encodeSamples(ss *[engine.NumMetrics]engine.Sample) []*nodev1.EngineSample {
	out := make([]*nodev1.EngineSample, engine.NumMetrics)
	for m := range engine.NumMetrics {
		s := &ss[m]
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

// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Reading is one scrape of one pod mapped onto the catalogue.
type Reading struct {
	// Engine is the profile that read it.
	Engine Engine
	// Time is when the scrape was taken (the scraper's clock).
	Time time.Time
	// Samples holds every catalogue metric, indexed by [Metric], over all
	// the pod's series.
	Samples [NumMetrics]Sample
	// OnlyModel is the one model all the series carry, when they carry one;
	// Samples are then its samples too.
	OnlyModel string
	// ByModel holds the samples per model (the profile's ModelLabel values,
	// at most MaxModels of them) when there are several; nil otherwise.
	// Readers use [Reading.Sample].
	ByModel map[string]*[NumMetrics]Sample
}

// MaxModels bounds the models one reading keeps apart (vLLM serves LoRA
// adapters under their own model_name); further models count only in the
// totals.
const MaxModels = 8

// Sample returns metric m of the given model ("" for all series); a sample
// carrying ErrNoModel when the reading has no series of that model.
func (r *Reading) Sample(m Metric, model string) *Sample {
	if model == "" || (model == r.OnlyModel && r.ByModel == nil) {
		return &r.Samples[m]
	}
	if s, ok := r.ByModel[model]; ok {
		return &s[m]
	}
	return &Sample{Err: fmt.Errorf("%s: %s reports no series with model %q: %w", m, r.Engine, model, ErrNoModel)}
}

// Sample is one metric in one [Reading]. With Err nil it holds, by the
// metric's [Kind]: a gauge's value in V; a counter's cumulative total in V; a
// latency's cumulative histogram in Hist, or (Triton) its cumulative sum in V
// and count in Den. With Err set it is absent and Err says why.
type Sample struct {
	V    float64
	Den  float64
	Hist *Histogram
	Err  error
}

// OK reports whether s holds a value.
func (s *Sample) OK() bool { return s.Err == nil }

// Read maps fams onto the catalogue at time t. With model set, only series
// whose model label equals it count (ErrNoModel when the engine labels no
// model or no series matches). Every metric is present or carries its reason:
// ErrNotExported naming the engine, ErrInvalid naming the family.
func (p *Profile) Read(fams Families, model string, t time.Time) Reading {
	r := Reading{Engine: p.Engine, Time: t}
	for m := range NumMetrics {
		r.Samples[m] = p.read(fams, m, model)
	}
	if model != "" || p.ModelLabel == "" {
		return r
	}
	models := p.Models(fams)
	if len(models) == 1 { // the common case: the totals are that model's
		r.OnlyModel = models[0]
		return r
	}
	r.ByModel = make(map[string]*[NumMetrics]Sample, len(models))
	for _, name := range models {
		var ss [NumMetrics]Sample
		for m := range NumMetrics {
			ss[m] = p.read(fams, m, name)
		}
		r.ByModel[name] = &ss
	}
	return r
}

// Models returns the distinct values of p's model label on the families p
// reads, sorted, at most MaxModels.
func (p *Profile) Models(fams Families) []string {
	if p.ModelLabel == "" {
		return nil
	}
	seen := map[string]bool{}
	for _, srcs := range p.sources {
		for _, src := range srcs {
			for _, m := range fams[src.num.family].GetMetric() {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == p.ModelLabel {
						seen[lp.GetValue()] = true
					}
				}
			}
		}
	}
	out := make([]string, 0, len(seen))
	for name := range seen {
		out = append(out, name)
	}
	slices.Sort(out)
	if len(out) > MaxModels {
		out = out[:MaxModels]
	}
	return out
}

func (p *Profile) read(fams Families, m Metric, model string) Sample {
	srcs := p.sources[m]
	if len(srcs) == 0 {
		return Sample{Err: fmt.Errorf("%s: %s does not export it: %w", m, p.Engine, ErrNotExported)}
	}
	if model != "" && p.ModelLabel == "" {
		return Sample{Err: fmt.Errorf("%s: %s labels no model, so model %q cannot select: %w", m, p.Engine, model, ErrNoModel)}
	}
	var noModel error
	for i := range srcs {
		s, ok := p.readSource(fams, &srcs[i], model, metricInfo[m].Kind)
		switch {
		case ok && errors.Is(s.Err, ErrNoModel):
			noModel = s.Err // an older family may still carry the model
		case ok && !errors.Is(s.Err, ErrNotExported):
			return s
		}
	}
	if noModel != nil {
		return Sample{Err: fmt.Errorf("%s: %w", m, noModel)}
	}
	return Sample{Err: fmt.Errorf("%s: this %s scrape has none of %v: %w", m, p.Engine, p.Families(m), ErrNotExported)}
}

// readSource reads one source of a metric of kind k; ok is false when its
// families are not in fams (the caller tries the next source).
func (p *Profile) readSource(fams Families, src *source, model string, k Kind) (Sample, bool) {
	f := fams[src.num.family]
	if f == nil {
		return Sample{}, false
	}
	sel := p.selector(src.num, model)
	if src.hist {
		h, err := sumHistograms(f, sel, src.scale)
		return Sample{Hist: h, Err: err}, true
	}
	v, err := sumValues(f, sel, src.avg)
	if err != nil || src.den == nil {
		return Sample{V: v * src.scale, Err: err}, true
	}
	df := fams[src.den.family]
	if df == nil {
		return Sample{}, false
	}
	d, err := sumValues(df, p.selector(*src.den, model), false)
	if err != nil {
		return Sample{Err: err}, true
	}
	if k == KindLatency { // keep the pair for Δnum/Δden over the window
		return Sample{V: v * src.scale, Den: d}, true
	}
	if d <= 0 {
		return Sample{Err: fmt.Errorf("%s is %v, cannot divide by it: %w", src.den.family, d, ErrInvalid)}, true
	}
	return Sample{V: v / d * src.scale}, true
}

// matcher decides whether one series counts.
type matcher struct{ label, value, modelLabel, model string }

func (p *Profile) selector(s series, model string) matcher {
	mt := matcher{label: s.label, value: s.value}
	if model != "" {
		mt.modelLabel, mt.model = p.ModelLabel, model
	}
	return mt
}

func (mt *matcher) match(m *dto.Metric) bool {
	okLabel, okModel := mt.label == "", mt.modelLabel == ""
	for _, lp := range m.GetLabel() {
		switch lp.GetName() {
		case mt.label:
			okLabel = okLabel || lp.GetValue() == mt.value
		case mt.modelLabel:
			okModel = okModel || lp.GetValue() == mt.model
		}
	}
	return okLabel && okModel
}

// sumValues sums (or averages) the gauge, counter or untyped samples of f that
// match; ErrInvalid on NaN/±Inf, ErrNoModel/ErrNotExported when none match.
func sumValues(f *dto.MetricFamily, mt matcher, avg bool) (float64, error) {
	sum, n := 0.0, 0
	for _, m := range f.GetMetric() {
		if !mt.match(m) {
			continue
		}
		var v float64
		switch {
		case m.Gauge != nil:
			v = m.Gauge.GetValue()
		case m.Counter != nil:
			v = m.Counter.GetValue()
		case m.Untyped != nil:
			v = m.Untyped.GetValue()
		default:
			return 0, fmt.Errorf("%s is a %s, want a gauge or counter: %w", f.GetName(), f.GetType(), ErrInvalid)
		}
		if !finite(v) {
			return 0, fmt.Errorf("%s = %v: %w", f.GetName(), v, ErrInvalid)
		}
		sum += v
		n++
	}
	if n == 0 {
		return 0, noMatch(f, mt)
	}
	if avg {
		return sum / float64(n), nil
	}
	return sum, nil
}

// sumHistograms merges the matching histograms of f, scaling bounds and sums.
func sumHistograms(f *dto.MetricFamily, mt matcher, scale float64) (*Histogram, error) {
	var out *Histogram
	for _, m := range f.GetMetric() {
		if !mt.match(m) {
			continue
		}
		if m.Histogram == nil {
			return nil, fmt.Errorf("%s is a %s, want a histogram: %w", f.GetName(), f.GetType(), ErrInvalid)
		}
		h, err := fromProto(m.Histogram, scale)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.GetName(), err)
		}
		if out == nil {
			out = &h
			continue
		}
		merged, ok := out.merged(&h)
		if !ok {
			return nil, fmt.Errorf("%s: series of one pod with different buckets: %w", f.GetName(), ErrInvalid)
		}
		out = &merged
	}
	if out == nil {
		return nil, noMatch(f, mt)
	}
	return out, nil
}

func fromProto(ph *dto.Histogram, scale float64) (Histogram, error) {
	bs := slices.Clone(ph.GetBucket())
	slices.SortFunc(bs, func(a, b *dto.Bucket) int {
		if a.GetUpperBound() < b.GetUpperBound() {
			return -1
		}
		if a.GetUpperBound() > b.GetUpperBound() {
			return 1
		}
		return 0
	})
	h := Histogram{Bounds: make([]float64, len(bs)), Counts: make([]float64, len(bs)), Sum: ph.GetSampleSum() * scale}
	h.Count = float64(ph.GetSampleCount())
	if ph.SampleCountFloat != nil {
		h.Count = ph.GetSampleCountFloat()
	}
	for i, b := range bs {
		h.Bounds[i] = b.GetUpperBound()
		if !math.IsInf(h.Bounds[i], 1) {
			h.Bounds[i] *= scale
		}
		h.Counts[i] = float64(b.GetCumulativeCount())
		if b.CumulativeCountFloat != nil {
			h.Counts[i] = b.GetCumulativeCountFloat()
		}
	}
	return h, h.validate()
}

func noMatch(f *dto.MetricFamily, mt matcher) error {
	if mt.modelLabel != "" {
		return fmt.Errorf("%s has no series with %s=%q: %w", f.GetName(), mt.modelLabel, mt.model, ErrNoModel)
	}
	if mt.label != "" {
		return fmt.Errorf("%s has no series with %s=%q: %w", f.GetName(), mt.label, mt.value, ErrNotExported)
	}
	return fmt.Errorf("%s has no series: %w", f.GetName(), ErrNotExported)
}

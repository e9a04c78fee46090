// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
)

// probeEngines scrapes --engine-target endpoints at probe's two sweeps.
type probeEngines struct {
	raw     []string
	targets []watch.Target
	hist    []engine.History
	errs    []error
}

func (p *probeEngines) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&p.raw, "engine-target", nil,
		"also scrape an inference server's metrics endpoint, name=URL (repeatable), and show its engine, queue, KV cache and TTFT")
}

func (p *probeEngines) validate() error {
	var err error
	p.targets, err = parseEngineTargets(p.raw)
	return err
}

// parseEngineTargets parses name=URL flags.
func parseEngineTargets(raw []string) ([]watch.Target, error) {
	var out []watch.Target
	seen := map[string]bool{}
	for _, r := range raw {
		name, url, ok := strings.Cut(r, "=")
		name, url = strings.TrimSpace(name), strings.TrimSpace(url)
		if !ok || name == "" || !(strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://")) {
			return nil, usageErrorf("--engine-target %q: want name=URL, e.g. vllm-0=http://127.0.0.1:8000/metrics", r)
		}
		if seen[name] {
			return nil, usageErrorf("--engine-target %q: the name %q is given twice", r, name)
		}
		seen[name] = true
		out = append(out, watch.Target{Name: name, Target: engine.Target{URL: url}})
	}
	return out, nil
}

// scrape reads every target once, at most timeout each.
func (p *probeEngines) scrape(ctx context.Context, now time.Time, timeout time.Duration) {
	if len(p.targets) == 0 {
		return
	}
	s, err := engine.NewScraper(engine.Options{Timeout: timeout})
	if err != nil {
		p.errs = make([]error, len(p.targets))
		for i := range p.errs {
			p.errs[i] = err
		}
		return
	}
	defer s.Close()
	if p.hist == nil {
		p.hist, p.errs = make([]engine.History, len(p.targets)), make([]error, len(p.targets))
	}
	for i, t := range p.targets {
		r, err := s.Read(ctx, t.Target, now)
		if p.errs[i] = err; err == nil {
			p.hist[i] = p.hist[i].Add(r, time.Hour)
		}
	}
}

// probeEngine is one engine target in probe's report; nil values are absent
// (Absent says why).
type probeEngine struct {
	Name                string             `json:"name"`
	URL                 string             `json:"url"`
	Engine              string             `json:"engine,omitempty"`
	Error               string             `json:"error,omitempty"`
	RequestsWaiting     *float64           `json:"requestsWaiting"`
	RequestsRunning     *float64           `json:"requestsRunning"`
	KVCacheUsagePercent *float64           `json:"kvCacheUsagePercent"`
	TTFTSeconds         *float64           `json:"ttftSeconds"` // mean between the two scrapes
	Metrics             map[string]float64 `json:"metrics"`
	Absent              map[string]string  `json:"absent,omitempty"`
}

func (p *probeEngines) report() []probeEngine {
	var out []probeEngine
	for i, t := range p.targets {
		e := probeEngine{Name: t.Name, URL: t.URL, Metrics: map[string]float64{}}
		if i < len(p.errs) && p.errs[i] != nil {
			e.Error = p.errs[i].Error()
		}
		if i >= len(p.hist) || p.hist[i].Newest() == nil {
			out = append(out, e)
			continue
		}
		h := p.hist[i]
		e.Engine = string(h.Newest().Engine)
		for m := range engine.NumMetrics {
			w, err := h.Window(m, time.Hour)
			var v float64
			if err == nil {
				v, err = engine.Combine([]engine.Window{w}, engine.Sum, 0)
			}
			if err != nil {
				if e.Absent == nil {
					e.Absent = map[string]string{}
				}
				e.Absent[m.String()] = err.Error()
				continue
			}
			e.Metrics[m.String()] = v
		}
		e.RequestsWaiting = value(e.Metrics, engine.RequestsWaiting)
		e.RequestsRunning = value(e.Metrics, engine.RequestsRunning)
		e.KVCacheUsagePercent = value(e.Metrics, engine.KVCacheUsage)
		e.TTFTSeconds = value(e.Metrics, engine.TTFT)
		out = append(out, e)
	}
	return out
}

func value(ms map[string]float64, m engine.Metric) *float64 {
	if v, ok := ms[m.String()]; ok {
		return &v
	}
	return nil
}

// writeEngines prints the engine targets' table, if any.
func writeEngines(w io.Writer, es []probeEngine) error {
	if len(es) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tENGINE\tWAITING\tRUNNING\tKV %\tTTFT\tURL")
	for _, e := range es {
		eng := e.Engine
		if e.Error != "" {
			eng = "error: " + e.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, eng, num(e.RequestsWaiting, "%.0f"),
			num(e.RequestsRunning, "%.0f"), num(e.KVCacheUsagePercent, "%.1f"), num(e.TTFTSeconds, "%.3fs"), e.URL)
	}
	return tw.Flush()
}

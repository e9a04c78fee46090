// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/nvml-scaler/nvml-scaler/cluster/podwatch"
	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/recording/enginerec"
)

// probeEngines scrapes --engine-target endpoints, the GPU pods of
// --engine-pods and a --replay recording's engine targets at probe's two
// sweeps.
type probeEngines struct {
	raw     []string
	pods    probePods
	targets []watch.Target
	// recorded plays a --replay recording's engine targets; nil without.
	recorded *enginerec.Player
	hist     []engine.History
	errs     []error
	// scraper is made at the first scrape and kept, with its connections
	// and buffers, for the next (probe's second sweep, each --watch frame);
	// close releases it.
	scraper *engine.Scraper
	// window is how far back report's rates and means reach (and the
	// history kept); 0 means an hour: all of a one-shot probe's scrapes.
	window time.Duration
}

// span is the window report reads over.
func (p *probeEngines) span() time.Duration {
	if p.window > 0 {
		return p.window
	}
	return time.Hour
}

func (p *probeEngines) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&p.raw, "engine-target", nil,
		"also scrape an inference server's metrics endpoint, name=URL (repeatable), and show its engine, queue, KV cache and TTFT")
	p.pods.register(fs)
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

// scrape reads every target once, at most timeout each, several at once.
func (p *probeEngines) scrape(ctx context.Context, now time.Time, timeout time.Duration) {
	if len(p.targets) == 0 {
		return
	}
	if p.scraper == nil {
		s, err := engine.NewScraper(engine.Options{Timeout: timeout})
		if err != nil {
			p.errs = make([]error, len(p.targets))
			for i := range p.errs {
				p.errs[i] = err
			}
			return
		}
		p.scraper = s
	}
	s := p.scraper
	if p.hist == nil {
		p.hist, p.errs = make([]engine.History, len(p.targets)), make([]error, len(p.targets))
	}
	// As serve's watch does: up to watch.DefaultConcurrency at once, so that a
	// slow target delays no other; each goroutine owns index i.
	sem := make(chan struct{}, watch.DefaultConcurrency)
	var wg sync.WaitGroup
	for i := range p.targets {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r, err := p.read(ctx, s, &p.targets[i], now)
			if p.errs[i] = err; err == nil {
				p.hist[i] = p.hist[i].Add(r, p.span())
			}
		})
	}
	wg.Wait()
}

// close releases the scraper's idle connections; a later scrape makes a new one.
func (p *probeEngines) close() {
	if p.scraper != nil {
		p.scraper.Close()
		p.scraper = nil
	}
}

// read scrapes t once as serve's watch does: a pod that cannot be scraped
// fails with its reason; a pod whose declared ports are probed keeps the
// first that a known engine answers on (for the second scrape).
func (p *probeEngines) read(ctx context.Context, s *engine.Scraper, t *watch.Target, now time.Time) (*engine.Reading, error) {
	if t.Invalid != nil {
		return nil, t.Invalid
	}
	if len(t.Probe) == 0 {
		return p.readOne(ctx, s, t.Name, t.Target, now)
	}
	var why []error
	for _, c := range t.Probe {
		r, err := p.readOne(ctx, s, t.Name, c, now)
		if err == nil {
			t.Target, t.Probe = c, nil
			return r, nil
		}
		why = append(why, fmt.Errorf("%s: %w", c.URL, err))
	}
	return nil, fmt.Errorf("no declared port serves a known engine's metrics (annotate %s): %w",
		podwatch.AnnotationPort, errors.Join(why...))
}

func (p *probeEngines) readOne(ctx context.Context, s *engine.Scraper, name string, et engine.Target, now time.Time) (*engine.Reading, error) {
	if p.recorded == nil || !p.recorded.Has(name) {
		return s.Read(ctx, et, now)
	}
	body, ct, err := p.recorded.Fetch(ctx, name, et)
	if err != nil {
		return nil, err
	}
	return s.Map(body, ct, et, now)
}

// probeEngine is one engine target in probe's report; nil values are absent
// (Absent says why).
type probeEngine struct {
	Name string `json:"name"`
	// Namespace, Pod and GPUs are an attributed pod's (--engine-pods).
	Namespace           string             `json:"namespace,omitempty"`
	Pod                 string             `json:"pod,omitempty"`
	GPUs                []string           `json:"gpus,omitempty"`
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
		e := probeEngine{Name: t.Name, Namespace: t.Namespace, GPUs: t.GPUs, URL: t.URL, Metrics: map[string]float64{}}
		if t.Namespace != "" {
			e.Pod = strings.TrimPrefix(t.Name, t.Namespace+"/")
		}
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
			w, err := h.Window(m, p.span())
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
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeAbsent(w, es)
}

// shownMetrics are the table's engine columns.
var shownMetrics = [...]engine.Metric{engine.RequestsWaiting, engine.RequestsRunning, engine.KVCacheUsage, engine.TTFT}

// writeAbsent says why each value the table shows as "-" is absent.
func writeAbsent(w io.Writer, es []probeEngine) error {
	first := true
	for _, e := range es {
		for _, m := range shownMetrics {
			why, ok := e.Absent[m.String()]
			if !ok {
				continue
			}
			if first {
				if _, err := fmt.Fprintln(w, "\nabsent:"); err != nil {
					return err
				}
				first = false
			}
			if _, err := fmt.Fprintf(w, "  %s: %s\n", e.Name, why); err != nil { // why names the metric
				return err
			}
		}
	}
	return nil
}

// SPDX-License-Identifier: Apache-2.0

// Package engine reads an inference server's own metrics — its queue, KV
// cache and latency — from the server's Prometheus `/metrics` endpoint and maps
// them onto engine-neutral catalogue metrics ([Metric]). It knows Prometheus
// exposition and HTTP and nothing of NVML, Kubernetes or gRPC: the agent asks
// it to scrape the pods it found, the node server and the aggregator ask it to
// turn a window of scrapes into one number.
//
// The flow, per pod:
//
//	Scraper.Scrape  (HTTP GET with limits) → body
//	Parse           (github.com/prometheus/common/expfmt) → families
//	Detect          (which engine, from its metric names; forceable) → *Profile
//	Profile.Read    (sum or average the series of one pod, merge histograms) → Reading
//	Series.Add / Series.Window (counters → rates, histograms → deltas over a window) → Window
//	Combine         (across pods: sum, avg, max; merged histograms → mean or quantile) → float64
//
// A metric an engine does not export is absent — never 0 — and the error says
// which engine lacks it ([ErrNotExported]). NaN and ±Inf are invalid, never a
// number ([ErrInvalid]). A counter that went down or a histogram whose bucket
// layout changed restarts the series: the window starts again from that scrape.
package engine

// SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// WatchSampler registers the gauges computed from s at each scrape: ready,
// snapshot age, GPU counts and, with Options.PerGPU, the per-device gauges.
// Call it once per Sampler.
func (m *Metrics) WatchSampler(s *scaler.Sampler) {
	c := &samplerCollector{m: m, s: s,
		ready: prometheus.NewDesc(namespace+"_ready",
			"1 while the newest snapshot is fresh (gRPC readiness SERVING, /readyz 200), else 0.", nil, nil),
		age: prometheus.NewDesc(namespace+"_snapshot_age_seconds",
			"Time since the newest snapshot's sweep started; absent before the first.", nil, nil),
		gpus: prometheus.NewDesc(namespace+"_gpus",
			"Devices (GPUs and MIG devices) in the newest snapshot.", nil, nil),
		lost: prometheus.NewDesc(namespace+"_gpus_lost",
			"Devices in the newest snapshot that NVML reports lost (GPU_IS_LOST, RESET_REQUIRED).", nil, nil),
	}
	if m.opts.PerGPU {
		labels := []string{"uuid", "index", "model"}
		c.up = prometheus.NewDesc(namespace+"_gpu_up",
			"1 when the device answered the newest fresh sweep, 0 when it is lost or failed.", labels, nil)
		for i := range c.perGPU {
			metric := scaler.Metric(i)
			c.perGPU[i] = prometheus.NewDesc(namespace+"_gpu_"+metric.String(),
				"The catalogue metric "+metric.String()+" of one device in the newest fresh snapshot; absent when the device lacks it.",
				labels, nil)
		}
	}
	m.reg.MustRegister(c)
}

// samplerCollector reads the Sampler's snapshots when scraped; it never
// touches NVML.
type samplerCollector struct {
	m                      *Metrics
	s                      *scaler.Sampler
	ready, age, gpus, lost *prometheus.Desc
	up                     *prometheus.Desc                    // nil unless PerGPU
	perGPU                 [scaler.NumMetrics]*prometheus.Desc // nil unless PerGPU
}

func (c *samplerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.ready, c.age, c.gpus, c.lost, c.up} {
		if d != nil {
			ch <- d
		}
	}
	for _, d := range c.perGPU {
		if d != nil {
			ch <- d
		}
	}
}

func (c *samplerCollector) Collect(ch chan<- prometheus.Metric) {
	cur, err := c.s.Current()
	ready := 0.0
	if err == nil {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, ready)
	snap := c.s.Latest()
	if snap == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, c.m.opts.Now().Sub(snap.Start).Seconds())
	lost := 0
	for i := range snap.GPUs {
		if snap.GPUs[i].Health == scaler.HealthLost {
			lost++
		}
	}
	ch <- prometheus.MustNewConstMetric(c.gpus, prometheus.GaugeValue, float64(len(snap.GPUs)))
	ch <- prometheus.MustNewConstMetric(c.lost, prometheus.GaugeValue, float64(lost))
	if c.up == nil || cur == nil {
		return // per-device numbers only from a fresh snapshot: stale ones would mislead
	}
	for i := range cur.GPUs {
		g := &cur.GPUs[i]
		labels := []string{g.UUID, strconv.Itoa(g.Index), g.Model}
		up := 0.0
		if g.Health == scaler.HealthOK {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, labels...)
		for m, v := range g.Metrics {
			if v.OK() {
				ch <- prometheus.MustNewConstMetric(c.perGPU[m], prometheus.GaugeValue, v.V, labels...)
			}
		}
	}
}

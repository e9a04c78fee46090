// SPDX-License-Identifier: Apache-2.0

package metrics

import "github.com/prometheus/client_golang/prometheus"

// EngineScrapes registers nvml_scaler_engine_scrapes_total{result} (result:
// ok, timeout, error, too_large, parse_error, unknown_engine) and returns the
// hook that counts one scrape. Call it once per Metrics; a second call fails.
func (m *Metrics) EngineScrapes() (func(result string), error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "engine_scrapes_total",
		Help: "Scrapes of inference-engine metrics endpoints (--engine-target), by result."}, []string{"result"})
	if err := m.reg.Register(c); err != nil {
		return nil, err
	}
	return func(result string) { c.WithLabelValues(result).Inc() }, nil
}

// SPDX-License-Identifier: Apache-2.0

// Package enginetest derives test bodies from the real engine bodies under
// engine/testdata/engines, for the engine and engine/watch tests: the names,
// labels and bucket layouts stay the engine's own; the changed numbers are
// test inputs, not engine output.
package enginetest

import (
	"bytes"
	"fmt"
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"

	"github.com/nvml-scaler/nvml-scaler/internal/clustertest"
)

// DataParallel returns body (Prometheus text) as one pod with n data-parallel
// engines, the way vLLM labels them (engine="0", engine="1", …); engine i's
// values are scaled by i+1. An error when body does not parse.
func DataParallel(body []byte, n int) ([]byte, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("enginetest: parse the body: %w", err)
	}
	var buf bytes.Buffer
	for _, f := range fams {
		var all []*dto.Metric
		for i := range n {
			for _, m := range f.Metric {
				c := proto.Clone(m).(*dto.Metric)
				c.Label = append(c.Label, &dto.LabelPair{Name: proto.String("engine"), Value: proto.String(strconv.Itoa(i))})
				clustertest.ScaleMetric(c, float64(i+1))
				all = append(all, c)
			}
		}
		f.Metric = all
		if _, err := expfmt.MetricFamilyToText(&buf, f); err != nil {
			return nil, fmt.Errorf("enginetest: encode %s: %w", f.GetName(), err)
		}
	}
	return buf.Bytes(), nil
}

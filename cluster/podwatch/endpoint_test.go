// SPDX-License-Identifier: Apache-2.0

package podwatch_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/cluster/podwatch"
)

func TestEndpoints(t *testing.T) {
	t.Parallel()
	ports := []podwatch.Container{
		{Name: "server", Ports: []podwatch.Port{{Name: "http", Port: 8000, Protocol: "TCP"}, {Name: "grpc", Port: 8001, Protocol: "TCP"}}},
		{Name: "sidecar", Ports: []podwatch.Port{{Name: "dns", Port: 53, Protocol: "UDP"}}},
	}
	withMetrics := []podwatch.Container{{Name: "triton", Ports: []podwatch.Port{
		{Name: "http", Port: 8000, Protocol: "TCP"}, {Name: "metrics", Port: 8002, Protocol: "TCP"}}}}
	tests := []struct {
		name       string
		ann        map[string]string
		containers []podwatch.Container
		want       []podwatch.Endpoint
		err        string
	}{
		{"our annotations", map[string]string{podwatch.AnnotationPort: "8001", podwatch.AnnotationPath: "/v1/metrics", podwatch.AnnotationEngine: "nim",
			"prometheus.io/port": "8000"}, ports,
			[]podwatch.Endpoint{{URL: "http://10.1.2.3:8001/v1/metrics", Engine: "nim", From: podwatch.AnnotationPort}}, ""},
		{"our annotation by port name", map[string]string{podwatch.AnnotationPort: "http"}, ports,
			[]podwatch.Endpoint{{URL: "http://10.1.2.3:8000/metrics", From: podwatch.AnnotationPort}}, ""},
		{"prometheus annotations", map[string]string{"prometheus.io/port": "8000", "prometheus.io/path": "/stats"}, ports,
			[]podwatch.Endpoint{{URL: "http://10.1.2.3:8000/stats", From: "prometheus.io/port"}}, ""},
		{"port named metrics", nil, withMetrics,
			[]podwatch.Endpoint{{URL: "http://10.1.2.3:8002/metrics", From: "port named metrics"}}, ""},
		{"declared TCP ports, probed", nil, ports, []podwatch.Endpoint{
			{URL: "http://10.1.2.3:8000/metrics", Probe: true, From: "declared port 8000 of server"},
			{URL: "http://10.1.2.3:8001/metrics", Probe: true, From: "declared port 8001 of server"}}, ""},
		{"an undeclared port is refused", map[string]string{podwatch.AnnotationPort: "9999"}, ports, nil, "names no port the pod declares"},
		{"a UDP port is refused", map[string]string{"prometheus.io/port": "53"}, ports, nil, "names no port the pod declares"},
		{"a relative path is refused", map[string]string{podwatch.AnnotationPort: "8000", podwatch.AnnotationPath: "metrics"}, ports, nil, "must start with /"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &podwatch.Pod{Namespace: "llm", Name: "vllm-0", IP: "10.1.2.3", Annotations: tt.ann, Containers: tt.containers}
			got, err := podwatch.Endpoints(p)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err := podwatch.Endpoints(&podwatch.Pod{Name: "pending"})
	require.ErrorContains(t, err, "no pod IP")
	assert.True(t, (&podwatch.Pod{Ready: true}).Counts())
	assert.False(t, (&podwatch.Pod{Ready: true, Terminating: true}).Counts())
}

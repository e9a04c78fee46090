// SPDX-License-Identifier: Apache-2.0

package podwatch

import (
	"fmt"
	"slices"
	"time"

	"github.com/nvml-scaler/nvml-scaler/cluster/attribution"
	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
)

// Targets returns the engine targets of pods: those that count (Ready, not
// terminating) and hold a GPU on this node according to attr, each with its
// namespace, its GPUs (device IDs mapped by uuid, e.g. index IDs to UUIDs)
// and the endpoint [Endpoints] chooses. A pod whose endpoint cannot be
// chosen (no IP yet, an annotation naming an undeclared port, an unknown
// engine name) is a target with Invalid set, so that it is absent with its
// reason. The result is sorted by namespace/name. An unavailable attr gives
// none.
func Targets(pods []Pod, attr *attribution.Attribution, uuid func(deviceID string) string) []watch.Target {
	if attr == nil || !attr.Available {
		return nil
	}
	gpus := map[string][]string{} // namespace/name → GPU UUIDs
	for _, o := range attr.Owners {
		k := o.Namespace + "/" + o.Pod
		id := uuid(o.DeviceID)
		if !slices.Contains(gpus[k], id) {
			gpus[k] = append(gpus[k], id)
		}
	}
	var out []watch.Target
	for i := range pods {
		p := &pods[i]
		g, ok := gpus[p.Key()]
		if !ok || !p.Counts() {
			continue
		}
		slices.Sort(g)
		t := watch.Target{Name: p.Key(), Namespace: p.Namespace, GPUs: g, Epoch: p.UID + "@" + p.Started.UTC().Format(time.RFC3339Nano)}
		t.Invalid = endpoint(p, &t)
		out = append(out, t)
	}
	return out
}

// endpoint fills t's endpoint from p, or returns why it cannot.
func endpoint(p *Pod, t *watch.Target) error {
	eps, err := Endpoints(p)
	if err != nil {
		return err
	}
	if len(eps) == 0 {
		return fmt.Errorf("pod %s declares no TCP containerPort: annotate %s", p.Key(), AnnotationPort)
	}
	for _, ep := range eps {
		et := engine.Target{URL: ep.URL}
		if ep.Engine != "" {
			prof, err := engine.ProfileFor(ep.Engine)
			if err != nil {
				return fmt.Errorf("pod %s: annotation %s: %w", p.Key(), AnnotationEngine, err)
			}
			et.Profile = prof
		}
		if !ep.Probe {
			t.Target = et
			return nil
		}
		t.Probe = append(t.Probe, et)
	}
	return nil
}

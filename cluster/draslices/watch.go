// SPDX-License-Identifier: Apache-2.0

package draslices

import (
	"context"
	"encoding/json"

	"github.com/nvml-scaler/nvml-scaler/internal/kubewatch"
)

// Path is where the API server serves ResourceSlices.
const Path = "/apis/resource.k8s.io/v1/resourceslices"

// Run lists and watches until ctx ends, then returns nil. Call it once.
func (w *Watcher) Run(ctx context.Context) error { return w.watch.Run(ctx) }

func (w *Watcher) publish(slices map[string]*wireSlice) { w.idx.Store(newIndex(slices)) }

// decodeSlice reads one ResourceSlice's JSON, keyed by its name.
func decodeSlice(raw json.RawMessage) (kubewatch.Item[*wireSlice], error) {
	s := &wireSlice{}
	if err := json.Unmarshal(raw, s); err != nil {
		return kubewatch.Item[*wireSlice]{}, err
	}
	return kubewatch.Item[*wireSlice]{Key: s.Metadata.Name, ResourceVersion: s.Metadata.ResourceVersion, Object: s}, nil
}

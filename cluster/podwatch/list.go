// SPDX-License-Identifier: Apache-2.0

package podwatch

import (
	"context"
	"fmt"
)

// List lists the node's pods once, without watching, publishes them (so that
// Pods returns them) and returns them sorted by namespace/name: what a
// one-shot reader such as `probe` needs. Errors name the node.
func (w *Watcher) List(ctx context.Context) ([]Pod, error) {
	pods, _, err := w.watch.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("pod watch: list the pods of node %s: %w", w.node, err)
	}
	w.publish(pods)
	out, _ := w.Pods()
	return out, nil
}

// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// parseMetadata merges --metadata flag values into md. Each value is a list
// of key=value pairs separated by commas; a piece without '=' continues the
// previous value, so lists need no quoting:
// "gpuIndexes=0,1,metric=sm_active_percent" sets gpuIndexes to "0,1". A key
// may appear once across all values. Errors are usage errors naming the piece.
func parseMetadata(md map[string]string, values []string) error {
	seen := map[string]bool{}
	for _, v := range values {
		key := ""
		for piece := range strings.SplitSeq(v, ",") {
			k, val, ok := strings.Cut(piece, "=")
			if !ok {
				if key == "" {
					return usageErrorf("--metadata %q: %q is not key=value: want key=value pairs separated by commas, e.g. metric=sm_active_percent,targetValue=60", v, piece)
				}
				md[key] += "," + piece
				continue
			}
			k = strings.TrimSpace(k)
			if k == "" {
				return usageErrorf("--metadata %q: %q has an empty key", v, piece)
			}
			if seen[k] {
				return usageErrorf("--metadata: key %q given twice", k)
			}
			seen[k] = true
			key = k
			md[k] = val
		}
	}
	return nil
}

// formatMetadata prints md as sorted key=value pairs.
func formatMetadata(md map[string]string) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(md)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", k, md[k])
	}
	return b.String()
}

// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"fmt"
	"strconv"
	"strings"
)

// Selector picks devices from a snapshot; set through ParseTrigger. Selectors
// combine with AND. The zero Selector picks every full GPU. MIG devices are
// picked only when named: by UUID in gpuUUIDs, or by their profile name in
// gpuModel — otherwise a node-wide sum would count each MIG slice twice, once
// in its parent.
type Selector struct {
	// The raw, validated lists: matching walks them without allocating.
	uuids, indexes, model string
}

// IsZero reports whether s selects by nothing, i.e. picks every full GPU.
func (s *Selector) IsZero() bool { return s.uuids == "" && s.indexes == "" && s.model == "" }

// Matches reports whether s picks d.
func (s *Selector) Matches(d *Device) bool {
	if s.uuids != "" && !listHas(s.uuids, d.UUID) {
		return false
	}
	if s.indexes != "" && (d.IsMIG() || !listHasIndex(s.indexes, d.Index)) {
		return false
	}
	if s.model != "" && !strings.EqualFold(s.model, d.Model) {
		return false
	}
	return !d.IsMIG() || s.uuids != "" || s.model != ""
}

// String describes the selection as trigger metadata, e.g.
// `gpuModel="NVIDIA H200" gpuIndexes="0,1"`.
func (s *Selector) String() string {
	if s.IsZero() {
		return "all GPUs (no gpuUUIDs, gpuIndexes or gpuModel)"
	}
	var parts []string
	for _, kv := range [...][2]string{{keyGPUUUIDs, s.uuids}, {keyGPUIndexes, s.indexes}, {keyGPUModel, s.model}} {
		if kv[1] != "" {
			parts = append(parts, fmt.Sprintf("%s=%q", kv[0], kv[1]))
		}
	}
	return strings.Join(parts, " ")
}

func listHas(list, want string) bool {
	for elem := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(elem) == want {
			return true
		}
	}
	return false
}

func listHasIndex(list string, want int) bool {
	for elem := range strings.SplitSeq(list, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(elem)); err == nil && n == want {
			return true
		}
	}
	return false
}

// inventory lists what a snapshot holds, for "no GPU matched" errors.
func inventory(snap *Snapshot) string {
	if len(snap.GPUs) == 0 {
		return "no GPUs"
	}
	var b strings.Builder
	for i := range snap.GPUs {
		g := &snap.GPUs[i]
		if i > 0 {
			b.WriteString("; ")
		}
		if g.IsMIG() {
			fmt.Fprintf(&b, "MIG device %s %q on GPU %d", g.UUID, g.Model, g.Index)
		} else {
			fmt.Fprintf(&b, "GPU %d %s %q", g.Index, g.UUID, g.Model)
		}
	}
	return b.String()
}

// ParseSelector parses only md's GPU selector keys (gpuUUIDs, gpuIndexes,
// gpuModel, each directly or with FromEnv) and ignores the rest, for
// triggers whose other keys another parser reads (engine metrics). Errors
// are *MetadataError naming the key.
func ParseSelector(md map[string]string) (Selector, error) {
	var t Trigger
	for _, k := range [...]string{keyGPUUUIDs, keyGPUIndexes, keyGPUModel} {
		rawKey := k
		raw, ok := md[k]
		if !ok {
			rawKey = k + fromEnvSuffix
			if raw, ok = md[rawKey]; !ok {
				continue
			}
		}
		if err := t.set(k, strings.TrimSpace(raw)); err != nil {
			err.Key, err.Value = rawKey, raw
			return Selector{}, err
		}
	}
	return t.Selector, nil
}

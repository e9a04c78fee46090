// SPDX-License-Identifier: Apache-2.0

package nvmlsource

import (
	"context"
	"errors"
	"fmt"

	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// list enumerates every GPU and its MIG slots. An entry of reuse with the
// same UUID keeps its GPM sampler and process buffer (the caller owns what
// is not reused). It fails only when the count fails or a call asks for
// re-initialisation; a GPU or slot that cannot be opened becomes an
// unusable entry.
func (s *Source) list(ctx context.Context, reuse map[string]*entry) ([]*entry, error) {
	s.lastList = s.opts.Now()
	n, err := s.lib.DeviceCount()
	if err != nil {
		s.report(err)
		return nil, fmt.Errorf("count GPUs: %w", err)
	}
	var out []*entry
	for i := range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		es, err := s.listGPU(i, reuse)
		if err != nil {
			s.report(err)
			return nil, err
		}
		out = append(out, es...)
	}
	return out, nil
}

// nodeLevel reports whether err is about NVML as a whole rather than one
// device: the Sampler must then initialise it again.
func nodeLevel(err error) bool { return errors.Is(classify(err), scaler.ErrReinit) }

// unusable makes the entry of a device whose handle or identity failed with
// err, or returns err itself when it is node-level.
func (s *Source) unusable(info scaler.Device, err error) (*entry, error) {
	if nodeLevel(err) {
		return nil, err
	}
	s.report(err)
	info.Unusable = classify(err)
	return &entry{info: info}, nil
}

// listGPU lists GPU i and its MIG slots.
func (s *Source) listGPU(i int, reuse map[string]*entry) ([]*entry, error) {
	d, err := s.lib.DeviceByIndex(i)
	if err != nil {
		e, err := s.unusable(scaler.Device{Index: i}, fmt.Errorf("GPU %d: open: %w", i, err))
		return []*entry{e}, err
	}
	info, err := identity(d, i)
	if err != nil {
		e, err := s.unusable(scaler.Device{Index: i}, err)
		return []*entry{e}, err
	}
	gpu := s.entryFor(d, info, reuse, func() *nvml.GPMSampler { return s.gpmSampler(d, info) })
	out := []*entry{gpu}
	slots, err := d.MIGSlots()
	if err != nil {
		if nodeLevel(err) {
			return nil, err
		}
		// The GPU itself answers; its MIG devices are listed again at the
		// next refresh.
		s.report(err)
		s.opts.Logger.Warn("listing MIG devices failed; retrying at the next refresh",
			"index", i, "uuid", info.UUID, "err", err)
		s.suspect.Store(true)
		return out, nil
	}
	for _, sl := range slots {
		mi := scaler.Device{Index: i, MIGParentUUID: info.UUID, MIGIndex: sl.Slot}
		if sl.Err != nil {
			e, err := s.unusable(mi, fmt.Errorf("GPU %d (%s) MIG slot %d: %w", i, info.UUID, sl.Slot, sl.Err))
			if err != nil {
				return nil, err
			}
			out = append(out, e)
			continue
		}
		id, err := identity(sl.Device, i)
		if err != nil {
			e, err := s.unusable(mi, err)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
			continue
		}
		mi.UUID, mi.Model = id.UUID, id.Model
		m := sl.Device
		out = append(out, s.entryFor(m, mi, reuse, func() *nvml.GPMSampler {
			if gpu.gpm == nil {
				return nil // no GPM on the parent: none per instance either
			}
			return s.migGPMSampler(d, m, mi)
		}))
	}
	gpu.migParent = len(slots) > 0
	return out, nil
}

// entryFor returns the entry of a device that opened: the reused one (with
// the fresh handle and identity) when reuse has its UUID, else a new one
// with the GPM sampler newGPM makes.
func (s *Source) entryFor(d nvml.Device, info scaler.Device, reuse map[string]*entry,
	newGPM func() *nvml.GPMSampler) *entry {
	if e, ok := reuse[info.UUID]; ok {
		delete(reuse, info.UUID)
		e.dev, e.info = d, info
		return e
	}
	return &entry{dev: d, info: info, gpm: newGPM()}
}

func identity(d nvml.Device, index int) (scaler.Device, error) {
	uuid, err := d.UUID()
	if err != nil {
		return scaler.Device{}, fmt.Errorf("GPU %d: UUID: %w", index, err)
	}
	name, err := d.Name()
	if err != nil {
		return scaler.Device{}, fmt.Errorf("GPU %d (%s): name: %w", index, uuid, err)
	}
	return scaler.Device{Index: index, UUID: uuid, Model: name}, nil
}

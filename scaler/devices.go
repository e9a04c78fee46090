// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"context"
	"fmt"
)

// refresh lets a [Refresher] Source list its devices again. The caller holds
// s.own.
func (s *Sampler) refresh(ctx context.Context) error {
	r, ok := s.src.(Refresher)
	if !ok {
		return nil
	}
	devs, changed, err := r.Refresh(ctx)
	switch {
	case Classify(err) == ClassReinit:
		return s.dropAll(err)
	case err != nil:
		s.log.Warn("listing the devices again failed; keeping the old list", "err", err)
	case changed:
		s.log.Info("device list changed", "devices", len(devs))
		s.setDevices(devs)
	}
	return nil
}

// setDevices replaces the device list, logging each device that is new to
// it (or changed between usable and unusable) once. The caller holds s.own.
func (s *Sampler) setDevices(devs []Device) {
	known := make(map[string]bool, len(s.devices))
	for _, d := range s.devices {
		known[deviceKey(d)] = true
	}
	s.devices = append(make([]Device, 0, len(devs)), devs...)
	for _, d := range devs {
		if known[deviceKey(d)] {
			continue
		}
		if d.Unusable != nil {
			s.log.Warn("gpu unusable: listed, not read; retrying at a bounded pace", "index", d.Index,
				"mig_parent", d.MIGParentUUID, "mig_index", d.MIGIndex, "uuid", d.UUID, "err", d.Unusable)
			continue
		}
		s.log.Info("gpu found", "index", d.Index, "uuid", d.UUID, "model", d.Model,
			"mig_parent", d.MIGParentUUID, "mig_index", d.MIGIndex)
	}
}

// deviceKey names a device and whether it is usable, for setDevices' log.
func deviceKey(d Device) string {
	return fmt.Sprintf("%d/%s/%d/%s/%t", d.Index, d.MIGParentUUID, d.MIGIndex, d.UUID, d.Unusable == nil)
}

// SPDX-License-Identifier: Apache-2.0

package nvmlsource

import (
	"context"
	"errors"
	"slices"

	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// Refresh lists the devices again, without re-initialising NVML, when
// RefreshInterval has passed since the last listing or a MIG handle stopped
// answering as its device; otherwise it returns nil, false, nil at once.
// Devices that are still there keep their GPM sampler and buffers. It
// returns the new list and true when the list differs (a GPU that could not
// be opened now opens, a MIG slice was destroyed or created); positions then
// refer to the new list. On error the old list stays; an error matching
// [scaler.ErrReinit] asks for Devices. It implements [scaler.Refresher].
func (s *Source) Refresh(ctx context.Context) ([]scaler.Device, bool, error) {
	if s.lib == nil || !s.inited {
		return nil, false, nil
	}
	if !s.suspect.Load() && s.opts.Now().Sub(s.lastList) < s.opts.RefreshInterval {
		return nil, false, nil
	}
	s.suspect.Store(false)
	reuse := make(map[string]*entry, len(s.entries))
	for _, e := range s.entries {
		if e.info.Unusable == nil {
			reuse[e.info.UUID] = e
		}
	}
	old := s.infos()
	entries, err := s.list(ctx, reuse)
	if err != nil {
		return nil, false, classify(err)
	}
	var errs []error
	for _, e := range reuse { // not listed again: gone
		if e.gpm != nil {
			errs = append(errs, e.gpm.Close())
		}
	}
	if err := errors.Join(errs...); err != nil {
		s.opts.Logger.Warn("freeing GPM samples of devices that are gone", "err", err)
	}
	s.entries = entries
	cur := s.infos()
	return cur, !slices.EqualFunc(old, cur, sameDevice), nil
}

// sameDevice reports whether two list entries name the same device in the
// same state (usable or not).
func sameDevice(a, b scaler.Device) bool {
	return a.Index == b.Index && a.UUID == b.UUID && a.MIGParentUUID == b.MIGParentUUID &&
		a.MIGIndex == b.MIGIndex && (a.Unusable == nil) == (b.Unusable == nil)
}

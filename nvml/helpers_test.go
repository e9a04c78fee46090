// SPDX-License-Identifier: Apache-2.0

package nvml_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/recording"
)

// fixtures are the real recordings every value test replays.
var fixtures = []string{"h200-steps.json", "h200-inference-ramp.json", "h100-two-tenants.json"}

func load(t testing.TB, name string) *recording.Recording {
	t.Helper()
	rec, err := recording.Load(filepath.Join("..", "testdata", "recordings", name))
	require.NoError(t, err)
	return rec
}

// open builds a fake library replaying rec, opens it through the real binding
// and initialises NVML. Cleanup shuts down and unloads.
func open(t testing.TB, rec *recording.Recording, opts ...fakenvml.Option) (*nvml.Library, *fakenvml.Fake) {
	t.Helper()
	f := fakenvml.New(t, rec, opts...)
	lib, err := nvml.Open(nvml.WithLibraryPath(f.LibPath))
	require.NoError(t, err)
	require.NoError(t, lib.Init())
	t.Cleanup(func() {
		_ = lib.Shutdown()
		require.NoError(t, lib.Close())
	})
	return lib, f
}

func device(t testing.TB, lib *nvml.Library, i int) nvml.Device {
	t.Helper()
	d, err := lib.DeviceByIndex(i)
	require.NoError(t, err)
	return d
}

// busiest returns the step with the highest recorded GPU utilization on
// device 0, so value tests cover a loaded GPU as well as an idle one.
func busiest(rec *recording.Recording) int {
	best, bestU := 0, uint32(0)
	for i, s := range rec.Samples {
		if u := s.Devices[0].Utilization; u.OK() && u.Value.GPU > bestU {
			best, bestU = i, u.Value.GPU
		}
	}
	return best
}

// withProcesses returns the step with the most compute processes on device 0.
func withProcesses(rec *recording.Recording) int {
	best, n := 0, 0
	for i, s := range rec.Samples {
		if p := s.Devices[0].Processes; p.OK() && len(p.Value) > n {
			best, n = i, len(p.Value)
		}
	}
	return best
}

// steppingClock returns a clock that moves 200 ms forward on every reading,
// so back-to-back GPM samples are GPMMinInterval apart.
func steppingClock() func() time.Time {
	t := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time {
		t = t.Add(2 * nvml.GPMMinInterval)
		return t
	}
}

// SPDX-License-Identifier: Apache-2.0

package nvml_test

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/nvml"
)

// The real error paths recorded on driver 580 come back as the same codes.
func TestRecordedErrorPaths(t *testing.T) {
	t.Parallel()
	rec := load(t, "h200-steps.json")
	lib, _ := open(t, rec)
	n, err := lib.DeviceCount()
	require.NoError(t, err)

	_, err = lib.DeviceByIndex(n)
	assert.ErrorIs(t, err, nvml.Return(rec.ErrorPaths["GetHandleByIndex(count)"]))
	_, err = lib.DeviceByIndex(999)
	assert.ErrorIs(t, err, nvml.Return(rec.ErrorPaths["GetHandleByIndex(999)"]))
	_, err = lib.DeviceByUUID("GPU-00000000-0000-0000-0000-000000000000")
	assert.ErrorIs(t, err, nvml.Return(rec.ErrorPaths["GetHandleByUUID(bogus)"]))
	_, err = device(t, lib, 0).MIGDeviceByIndex(0)
	assert.ErrorIs(t, err, nvml.Return(rec.ErrorPaths["GetMigDeviceHandleByIndex(0)"]))
	_, err = lib.DeviceByIndex(-1)
	assert.ErrorIs(t, err, nvml.ErrInvalidArgument)

	uuid := rec.Devices[0].UUID.Value
	d, err := lib.DeviceByUUID(uuid)
	require.NoError(t, err)
	got, err := d.UUID()
	require.NoError(t, err)
	assert.Equal(t, uuid, got)

	migs, err := device(t, lib, 0).MIGDevices()
	require.NoError(t, err)
	assert.Empty(t, migs, "MIG is off on the recorded GPUs")
}

func TestCallsAfterShutdownAreUninitialized(t *testing.T) {
	t.Parallel()
	rec := load(t, "h200-steps.json")
	f := fakenvml.New(t, rec)
	lib, err := nvml.Open(nvml.WithLibraryPath(f.LibPath))
	require.NoError(t, err)
	defer lib.Close()
	_, err = lib.DeviceCount()
	assert.ErrorIs(t, err, nvml.ErrUninitialized, "before init")
	require.NoError(t, lib.Init())
	require.NoError(t, lib.Shutdown())
	_, err = lib.DeviceCount()
	assert.ErrorIs(t, err, nvml.Return(rec.ErrorPaths["after_shutdown_GetCount"]))
	var ce *nvml.CallError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "nvmlDeviceGetCount_v2", ce.Func)
	assert.Equal(t, rec.ErrorStrings["1"], ce.Text)
}

func TestInitWithFlags(t *testing.T) {
	t.Parallel()
	f := fakenvml.New(t, load(t, "h200-steps.json"))
	lib, err := nvml.Open(nvml.WithLibraryPath(f.LibPath))
	require.NoError(t, err)
	defer lib.Close()
	require.NoError(t, lib.InitWithFlags(nvml.InitFlagNoGPUs))
	n, err := lib.DeviceCount()
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	require.NoError(t, lib.Shutdown())
}

func TestClosedLibraryRefusesCalls(t *testing.T) {
	t.Parallel()
	f := fakenvml.New(t, load(t, "h200-steps.json"))
	lib, err := nvml.Open(nvml.WithLibraryPath(f.LibPath))
	require.NoError(t, err)
	require.NoError(t, lib.Init())
	d, err := lib.DeviceByIndex(0)
	require.NoError(t, err)
	require.NoError(t, lib.Shutdown())
	require.NoError(t, lib.Close())
	require.NoError(t, lib.Close(), "Close twice is a no-op")
	for name, call := range map[string]func() error{
		"Init":        lib.Init,
		"DeviceCount": func() error { _, err := lib.DeviceCount(); return err },
		"Utilization": func() error { _, err := d.Utilization(); return err },
		"Name":        func() error { _, err := d.Name(); return err },
	} {
		err := call()
		assert.ErrorIs(t, err, nvml.ErrUninitialized, name)
		assert.Contains(t, err.Error(), "library closed", name)
	}
}

// Any function can return any code: each surfaces as that Return, wrapped in a
// CallError naming the C symbol, with the library's own text.
func TestInjectedReturnCodes(t *testing.T) {
	t.Parallel()
	rec := load(t, "h200-steps.json")
	calls := map[string]func(nvml.Device) error{
		"nvmlDeviceGetUtilizationRates":           func(d nvml.Device) error { _, err := d.Utilization(); return err },
		"nvmlDeviceGetMemoryInfo_v2":              func(d nvml.Device) error { _, err := d.Memory(); return err },
		"nvmlDeviceGetPowerUsage":                 func(d nvml.Device) error { _, err := d.PowerUsage(); return err },
		"nvmlDeviceGetEnforcedPowerLimit":         func(d nvml.Device) error { _, err := d.EnforcedPowerLimit(); return err },
		"nvmlDeviceGetTemperatureV":               func(d nvml.Device) error { _, err := d.Temperature(); return err },
		"nvmlDeviceGetClockInfo":                  func(d nvml.Device) error { _, err := d.SMClock(); return err },
		"nvmlDeviceGetComputeRunningProcesses_v3": func(d nvml.Device) error { _, err := d.ComputeProcesses(nil); return err },
		"nvmlDeviceGetName":                       func(d nvml.Device) error { _, err := d.Name(); return err },
		"nvmlDeviceGetUUID":                       func(d nvml.Device) error { _, err := d.UUID(); return err },
		"nvmlDeviceGetPciInfo_v3":                 func(d nvml.Device) error { _, err := d.PCIInfo(); return err },
		"nvmlDeviceGetArchitecture":               func(d nvml.Device) error { _, err := d.Architecture(); return err },
		"nvmlDeviceGetCudaComputeCapability":      func(d nvml.Device) error { _, _, err := d.ComputeCapability(); return err },
		"nvmlDeviceGetIndex":                      func(d nvml.Device) error { _, err := d.Index(); return err },
		"nvmlDeviceGetMigMode":                    func(d nvml.Device) error { _, _, err := d.MIGMode(); return err },
		"nvmlDeviceGetMaxMigDeviceCount":          func(d nvml.Device) error { _, err := d.MaxMIGDeviceCount(); return err },
		"nvmlGpmQueryDeviceSupport":               func(d nvml.Device) error { _, err := d.GPMSupported(); return err },
	}
	codes := []nvml.Return{nvml.ErrNotSupported, nvml.ErrNoPermission, nvml.ErrGPULost, nvml.ErrTimeout,
		nvml.ErrResetRequired, nvml.ErrNoData, nvml.ErrNotReady, nvml.ErrUnknown}
	for sym, call := range calls {
		for _, code := range codes {
			t.Run(sym+"/"+strconv.Itoa(int(code)), func(t *testing.T) {
				t.Parallel()
				opts := []fakenvml.Option{fakenvml.Fail(sym, int32(code), 0, 0)}
				if sym == "nvmlDeviceGetTemperatureV" { // NOT_SUPPORTED there falls back to the deprecated call
					opts = append(opts, fakenvml.Fail("nvmlDeviceGetTemperature", int32(code), 0, 0))
				}
				lib, _ := open(t, rec, opts...)
				err := call(device(t, lib, 0))
				require.ErrorIs(t, err, code)
				var ce *nvml.CallError
				require.ErrorAs(t, err, &ce)
				want := sym
				if sym == "nvmlDeviceGetTemperatureV" && code == nvml.ErrNotSupported {
					want = "nvmlDeviceGetTemperature" // the fallback answered last
				}
				assert.Equal(t, want, ce.Func)
				assert.Equal(t, lib.ErrorString(code), ce.Text)
			})
		}
	}
}

func TestInitFailures(t *testing.T) {
	t.Parallel()
	rec := load(t, "h200-steps.json")
	for _, code := range []nvml.Return{nvml.ErrDriverNotLoaded, nvml.ErrNoPermission, nvml.ErrLibRMVersionMismatch} {
		t.Run(code.Error(), func(t *testing.T) {
			t.Parallel()
			f := fakenvml.New(t, rec, fakenvml.Fail("nvmlInit_v2", int32(code), 0, 0))
			lib, err := nvml.Open(nvml.WithLibraryPath(f.LibPath))
			require.NoError(t, err)
			defer lib.Close()
			assert.ErrorIs(t, lib.Init(), code)
		})
	}
}

// Driver 580's nvmlErrorString answers "Unknown Error" for code 30, which it
// predates (the fake models it): the built-in text from nvml.h wins there,
// while the library's own texts win for the codes it knows.
func TestBuiltInTextWinsOverUnknownError(t *testing.T) {
	t.Parallel()
	lib, _ := open(t, load(t, "h200-steps.json"))
	assert.Equal(t, "Reset type not supported", lib.ErrorString(nvml.ErrResetTypeNotSupported))
	assert.Equal(t, "Unknown Error", lib.ErrorString(nvml.ErrUnknown))
	assert.Equal(t, "GPU is lost", lib.ErrorString(nvml.ErrGPULost))
}

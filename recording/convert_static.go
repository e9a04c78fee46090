// SPDX-License-Identifier: Apache-2.0

package recording

import (
	"encoding/json"
	"errors"
	"fmt"
)

// convertStatic reads static: the system answers and static.devices.
func convertStatic(raw json.RawMessage, meta pyMeta, rec *Recording) error {
	static, err := asObject(raw)
	if err != nil {
		return err
	}
	sys := &rec.System
	if sys.DriverVersion, err = callField(static, "nvmlSystemGetDriverVersion", decodeValue[string]); err != nil {
		return err
	}
	if sys.NVMLVersion, err = callField(static, "nvmlSystemGetNVMLVersion", decodeValue[string]); err != nil {
		return err
	}
	if sys.CUDADriverVersion, err = callField(static, "nvmlSystemGetCudaDriverVersion_v2", decodeValue[int32]); err != nil {
		return err
	}
	// pynvml's nvmlDeviceGetCount calls nvmlDeviceGetCount_v2.
	if sys.DeviceCount, err = callField(static, "nvmlDeviceGetCount", decodeValue[uint32]); err != nil {
		return err
	}
	devices, ok := static["devices"]
	if !ok {
		return errors.New(`missing field "devices"`)
	}
	list, err := decodeValue[[]json.RawMessage](devices)
	if err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	if sys.DeviceCount.OK() && int(sys.DeviceCount.Value) != len(list) {
		return fmt.Errorf("devices: %d entries, but nvmlDeviceGetCount said %d", len(list), sys.DeviceCount.Value)
	}
	rec.Devices = make([]Device, len(list))
	for i, d := range list {
		if rec.Devices[i], err = convertDevice(d, i, meta); err != nil {
			return fmt.Errorf("devices[%d]: %w", i, err)
		}
	}
	return nil
}

// convertDevice reads one static.devices entry, whose other getters are dropped.
func convertDevice(raw json.RawMessage, i int, meta pyMeta) (Device, error) {
	obj, err := asObject(raw)
	if err != nil {
		return Device{}, err
	}
	index, ok := obj["index"]
	if !ok {
		return Device{}, errors.New(`missing field "index"`)
	}
	d := Device{}
	if d.Index, err = decodeValue[uint32](index); err != nil {
		return Device{}, fmt.Errorf("index: %w", err)
	}
	if int(d.Index) != i {
		return Device{}, fmt.Errorf("index %d at position %d", d.Index, i)
	}
	steps := []func() error{
		func() (err error) { d.Name, err = callField(obj, "nvmlDeviceGetName", decodeValue[string]); return },
		func() (err error) { d.UUID, err = callField(obj, "nvmlDeviceGetUUID", decodeValue[string]); return },
		func() (err error) { d.PCI, err = callField(obj, "nvmlDeviceGetPciInfo_v3", asExact[PCIInfo]); return },
		func() (err error) {
			d.Architecture, err = callField(obj, "nvmlDeviceGetArchitecture", decodeValue[uint32])
			return
		},
		func() (err error) {
			d.ComputeCapability, err = callField(obj, "nvmlDeviceGetCudaComputeCapability", asPair[int32])
			return
		},
		func() (err error) { d.MemoryV1, err = callField(obj, "nvmlDeviceGetMemoryInfo", asExact[MemoryV1]); return },
		func() (err error) {
			d.PowerLimitMilliwatts, err = callField(obj, "nvmlDeviceGetEnforcedPowerLimit", decodeValue[uint32])
			return
		},
		func() (err error) { d.MIGMode, err = callField(obj, "nvmlDeviceGetMigMode", asMIGMode); return },
		func() (err error) {
			d.MaxMIGDeviceCount, err = callField(obj, "nvmlDeviceGetMaxMigDeviceCount", decodeValue[uint32])
			return
		},
		func() (err error) { d.GPMSupported, err = gpmSupport(obj, i, meta); return },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return Device{}, err
		}
	}
	if d.MIGMode.OK() && d.MIGMode.Value.Current != 0 {
		return Device{}, errors.New("MIG is enabled, and nvml_record.py records no MIG devices")
	}
	return d, nil
}

// asMIGMode reads pynvml's (current, pending) pair.
func asMIGMode(raw json.RawMessage) (MIGMode, error) {
	p, err := asPair[uint32](raw)
	return MIGMode{Current: p[0], Pending: p[1]}, err
}

// pyGPMSupport is nvmlGpmSupport_t as pynvml converts it.
type pyGPMSupport struct {
	Version           uint32 `json:"version"`
	IsSupportedDevice uint32 `json:"isSupportedDevice"`
}

// asGPMSupported reads nvmlGpmSupport_t's isSupportedDevice as a bool.
func asGPMSupported(raw json.RawMessage) (bool, error) {
	s, err := asExact[pyGPMSupport](raw)
	if err != nil {
		return false, err
	}
	if s.IsSupportedDevice > 1 {
		return false, fmt.Errorf("isSupportedDevice %d: want 0 or 1", s.IsSupportedDevice)
	}
	return s.IsSupportedDevice == 1, nil
}

// gpmSupport reads the static nvmlGpmQueryDeviceSupport answer, or for device 0
// (the one the script samples) meta.gpm_support, which holds the same call's value
// when it succeeded. A meta.gpm_support that is not an object is the repr of an
// exception, which has no return code, so it is an error.
func gpmSupport(obj map[string]json.RawMessage, i int, meta pyMeta) (Result[bool], error) {
	const key = "nvmlGpmQueryDeviceSupport"
	if _, ok := obj[key]; ok || i != 0 {
		return callField(obj, key, asGPMSupported)
	}
	raw, ok := meta["gpm_support"]
	if !ok {
		return Result[bool]{}, fmt.Errorf("missing field %q, and no meta.gpm_support", key)
	}
	v, err := asGPMSupported(raw)
	if err != nil {
		return Result[bool]{}, fmt.Errorf("meta.gpm_support: %w", err)
	}
	return Ok(v), nil
}

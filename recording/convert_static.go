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
	sys.DriverVersion = field(&err, static, "nvmlSystemGetDriverVersion", decodeValue[string])
	sys.NVMLVersion = field(&err, static, "nvmlSystemGetNVMLVersion", decodeValue[string])
	sys.CUDADriverVersion = field(&err, static, "nvmlSystemGetCudaDriverVersion_v2", decodeValue[int32])
	// pynvml's nvmlDeviceGetCount calls nvmlDeviceGetCount_v2.
	sys.DeviceCount = field(&err, static, "nvmlDeviceGetCount", decodeValue[uint32])
	if err != nil {
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
	d.Name = field(&err, obj, "nvmlDeviceGetName", decodeValue[string])
	d.UUID = field(&err, obj, "nvmlDeviceGetUUID", decodeValue[string])
	d.PCI = field(&err, obj, "nvmlDeviceGetPciInfo_v3", asExact[PCIInfo])
	d.Architecture = field(&err, obj, "nvmlDeviceGetArchitecture", decodeValue[uint32])
	d.ComputeCapability = field(&err, obj, "nvmlDeviceGetCudaComputeCapability", asPair[int32])
	d.MemoryV1 = field(&err, obj, "nvmlDeviceGetMemoryInfo", asExact[MemoryV1])
	d.PowerLimitMilliwatts = field(&err, obj, "nvmlDeviceGetEnforcedPowerLimit", decodeValue[uint32])
	d.MIGMode = field(&err, obj, "nvmlDeviceGetMigMode", asMIGMode)
	d.MaxMIGDeviceCount = field(&err, obj, "nvmlDeviceGetMaxMigDeviceCount", decodeValue[uint32])
	if err != nil {
		return Device{}, err
	}
	if d.GPMSupported, err = gpmSupport(obj, i, meta); err != nil {
		return Device{}, err
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

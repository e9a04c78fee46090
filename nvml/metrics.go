// SPDX-License-Identifier: Apache-2.0

package nvml

import "fmt"

// metricFuncs holds the C functions behind the readings in this file. It is
// embedded in functions, so a new reading is its field, its bind line and its
// method, all here. A reading whose C function is (nvmlDevice_t, unsigned int
// *) is not written here: it is a row of internal/readings.Fields, and
// counters_gen.go binds it.
type metricFuncs struct {
	utilization  func(dev uintptr, u *Utilization) Return
	memoryV2     func(dev uintptr, m *memoryV2) Return
	memoryV1     func(dev uintptr, m *memoryV1) Return
	temperature  func(dev uintptr, sensor uint32, c *uint32) Return
	temperatureV func(dev uintptr, t *temperatureV1) Return
	clockInfo    func(dev uintptr, clock uint32, mhz *uint32) Return
}

// resolveMetrics binds metricFuncs, as resolve does the rest.
func (l *Library) resolveMetrics() {
	f := &l.fn.metricFuncs
	l.bind(&f.utilization, "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetUtilizationRates")
	// Memory changes its struct with the version, so each layout gets its own
	// func; the v1 form is bound only when v2 is absent.
	if !l.bind(&f.memoryV2, "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetMemoryInfo_v2") {
		l.bind(&f.memoryV1, "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetMemoryInfo")
	}
	l.bind(&f.temperature, "nvmlDeviceGetTemperature", "nvmlDeviceGetTemperature")
	l.bind(&f.temperatureV, "nvmlDeviceGetTemperatureV", "nvmlDeviceGetTemperatureV")
	l.bind(&f.clockInfo, "nvmlDeviceGetClockInfo", "nvmlDeviceGetClockInfo")
	l.resolvePlain()
}

// Utilization returns the GPU and memory-controller busy percentages over the
// driver's last sample period (nvmlDeviceGetUtilizationRates). On a MIG device
// it fails with ErrNotSupported. It lags GPM by about a second after load stops.
func (d Device) Utilization() (Utilization, error) {
	const key = "nvmlDeviceGetUtilizationRates"
	var u Utilization
	if err := d.lib.usable(d.lib.fn.utilization == nil, key); err != nil {
		return u, err
	}
	return u, d.lib.check(key, d.lib.fn.utilization(d.handle, &u))
}

// Memory is framebuffer memory in bytes. Used excludes Reserved (memory the
// driver holds for itself), so Total = Reserved + Free + Used.
type Memory struct {
	Total    uint64
	Reserved uint64
	Free     uint64
	Used     uint64
}

// Memory returns framebuffer usage (nvmlDeviceGetMemoryInfo_v2). On drivers
// without the v2 call it falls back to nvmlDeviceGetMemoryInfo, whose used
// includes reserved memory: then Reserved is 0 and Used includes it.
func (d Device) Memory() (Memory, error) {
	const key = "nvmlDeviceGetMemoryInfo"
	f2, f1 := d.lib.fn.memoryV2, d.lib.fn.memoryV1
	if err := d.lib.usable(f2 == nil && f1 == nil, key); err != nil {
		return Memory{}, err
	}
	if f2 != nil {
		m := memoryV2{version: memoryV2Version}
		if err := d.lib.check(key, f2(d.handle, &m)); err != nil {
			return Memory{}, err
		}
		return Memory{Total: m.total, Reserved: m.reserved, Free: m.free, Used: m.used}, nil
	}
	var m memoryV1
	if err := d.lib.check(key, f1(d.handle, &m)); err != nil {
		return Memory{}, err
	}
	return Memory{Total: m.total, Free: m.free, Used: m.used}, nil
}

// Temperature is the GPU die temperature in °C (NVML_TEMPERATURE_GPU), from
// nvmlDeviceGetTemperatureV on R580 and later, else — or when that answers
// NOT_SUPPORTED or ARGUMENT_VERSION_MISMATCH — from the deprecated
// nvmlDeviceGetTemperature. A temperature below 0 °C fails with
// ErrInvalidArgument rather than wrapping around.
func (d Device) Temperature() (uint32, error) {
	if d.lib.fn.temperatureV != nil {
		const keyV = "nvmlDeviceGetTemperatureV"
		if err := d.lib.usable(false, keyV); err != nil {
			return 0, err
		}
		t := temperatureV1{version: temperatureV1Version, sensorType: 0} // NVML_TEMPERATURE_GPU
		r := d.lib.fn.temperatureV(d.handle, &t)
		switch {
		case r == Success && t.temperature < 0:
			return 0, fmt.Errorf("%s: %d °C: %w", keyV, t.temperature, ErrInvalidArgument)
		case r == Success:
			return uint32(t.temperature), nil
		case (r != ErrNotSupported && r != ErrArgumentVersionMismatch) || d.lib.fn.temperature == nil:
			return 0, d.lib.check(keyV, r)
		}
	}
	const key = "nvmlDeviceGetTemperature"
	if err := d.lib.usable(d.lib.fn.temperature == nil, key); err != nil {
		return 0, err
	}
	var c uint32
	const sensorGPU = 0 // NVML_TEMPERATURE_GPU
	if err := d.lib.check(key, d.lib.fn.temperature(d.handle, sensorGPU, &c)); err != nil {
		return 0, err
	}
	return c, nil
}

// SMClock is the current SM clock in MHz (nvmlDeviceGetClockInfo, NVML_CLOCK_SM).
func (d Device) SMClock() (uint32, error) {
	const key = "nvmlDeviceGetClockInfo"
	if err := d.lib.usable(d.lib.fn.clockInfo == nil, key); err != nil {
		return 0, err
	}
	var mhz uint32
	const clockSM = 1 // NVML_CLOCK_SM
	if err := d.lib.check(key, d.lib.fn.clockInfo(d.handle, clockSM, &mhz)); err != nil {
		return 0, err
	}
	return mhz, nil
}

// SPDX-License-Identifier: Apache-2.0

package scaler

import "math"

// derive turns one device's raw Reading into catalogue metrics. It is pure: the
// Sampler calls it once per device per sweep.
func derive(r *Reading) [NumMetrics]Value {
	var out [NumMetrics]Value
	if r.Utilization.OK {
		out[GPUUtilization] = percent(float64(r.Utilization.Value.GPU), 0)
		out[MemoryBusy] = percent(float64(r.Utilization.Value.Memory), 0)
	} else {
		out[GPUUtilization] = absent(r.Utilization.Err)
		out[MemoryBusy] = out[GPUUtilization]
	}
	if m := r.Memory; m.OK {
		out[MemoryUsedBytes] = number(float64(m.Value.Used))
		out[MemoryUsedPercent] = ratio(float64(m.Value.Used), float64(m.Value.Total)-float64(m.Value.Reserved))
	} else {
		out[MemoryUsedBytes] = absent(m.Err)
		out[MemoryUsedPercent] = out[MemoryUsedBytes]
	}
	deriveOne(r, &out)
	switch {
	case !r.PowerMilliwatts.OK:
		out[PowerPercent] = out[PowerWatts]
	case !r.PowerLimitMilliwatts.OK:
		out[PowerPercent] = absent(r.PowerLimitMilliwatts.Err)
	default:
		out[PowerPercent] = ratio(float64(r.PowerMilliwatts.Value), float64(r.PowerLimitMilliwatts.Value))
	}
	if r.Processes.OK {
		out[ProcessCount] = number(float64(len(r.Processes.Value)))
	} else {
		out[ProcessCount] = absent(r.Processes.Err)
	}
	return out
}

// number returns v as a present Value, or StatusInvalid when v is NaN, ±Inf or
// negative: no metric in the catalogue can be negative, and KEDA would turn any
// of these into 0.
func number(v float64) Value {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return Value{Status: StatusInvalid}
	}
	return Value{V: v, Status: StatusOK}
}

// gpmSlack is how far above 100 a GPM percentage may read: it is a float
// computed from two samples' counters, and may round past 100.
const gpmSlack = 0.5

// percent returns v as a present Value, or StatusInvalid when it is not a
// percentage NVML can mean: above 100 (plus slack), or what number refuses.
// NVML documents utilization rates and GPM metrics as 0–100; an SM activity
// of 250 % is a broken reading, not load.
func percent(v, slack float64) Value {
	if v > 100+slack {
		return Value{Status: StatusInvalid}
	}
	return number(v)
}

// ratio returns num/den in percent, or StatusInvalid when den is not positive.
func ratio(num, den float64) Value {
	if !(den > 0) {
		return Value{Status: StatusInvalid}
	}
	return number(num / den * 100)
}

// fromUint scales a counter NVML answered. All ones (4294967295) is no
// reading: no watt, degree or MHz value comes near it, and it is what an
// unset or failed uint32 holds.
func fromUint(f Field[uint32], scale float64) Value {
	if !f.OK {
		return absent(f.Err)
	}
	if f.Value == math.MaxUint32 {
		return Value{Status: StatusInvalid}
	}
	return number(float64(f.Value) * scale)
}

func fromGPM(f Field[float64]) Value {
	if !f.OK {
		return absent(f.Err)
	}
	return percent(f.Value, gpmSlack)
}

// absent maps a field's error onto the Status of a missing value.
func absent(err error) Value {
	switch Classify(err) {
	case ClassNone:
		return Value{Status: StatusMissing}
	case ClassNotSupported:
		return Value{Status: StatusNotSupported}
	default:
		return Value{Status: StatusFailed}
	}
}

// readingLost reports whether any field of r says the GPU is lost.
func readingLost(r *Reading) bool { return readingErr(r, ClassGPULost) != nil }

// readingErr returns the first error of class c among r's fields, or nil.
func readingErr(r *Reading, c ErrorClass) error {
	for _, err := range r.FieldErrs() {
		if Classify(err) == c {
			return err
		}
	}
	for _, f := range r.GPM {
		if Classify(f.Err) == c {
			return f.Err
		}
	}
	return nil
}

// SPDX-License-Identifier: Apache-2.0

// Package recording defines nvml-scaler's recording format: what NVML answered on a
// real GPU, call by call, over time. Recordings drive the replay source (running the
// scaler without a GPU), the fake libnvidia-ml used by the binding's tests, and the
// deterministic scaler tests.
//
// A recording is one JSON document (see [Recording]). Every NVML answer is a
// [Result]: a return code (nvmlReturn_t, 0 = success) and, on success, the value.
// A failed call is recorded as its return code with no value, so replaying it gives
// back the same error. A GPU whose handle NVML refused (a device cgroup's
// NVML_ERROR_NO_PERMISSION) is kept in its place with that code
// ([Device.HandleRet]) and no answers. GPM values may be NaN — NVML really returns NaN — and JSON
// cannot hold NaN, so [Float] writes NaN and ±Inf as the strings "NaN", "+Inf" and
// "-Inf".
//
// Every recording names its provenance in [Recording.Source]: the file it was
// converted from, or the host it was recorded on. Values are never typed by hand:
// [ConvertPython] converts the recordings made by shared/tools/nvml_record.py, and
// [Load] and [Decode] read the result.
package recording

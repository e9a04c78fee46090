// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"encoding/json"
	"fmt"
	"os"
)

// recordingFile is the part of an nvml-scaler/recording/v1 file the
// expectations need: each sample's power and temperature answers. A result's
// "ret" is omitted when it is NVML_SUCCESS and its "value" when it is zero
// (recording.Result in the main module).
type recordingFile struct {
	Format  string `json:"format"`
	Samples []struct {
		Devices []struct {
			PowerMw      result `json:"powerMw"`
			TemperatureC result `json:"temperatureC"`
		} `json:"devices"`
	} `json:"samples"`
}

type result struct {
	Ret   int32  `json:"ret"`
	Value uint32 `json:"value"`
}

// lastSample is what the one GPU of a recording answered in its last sample:
// board power in watts and core temperature in degrees Celsius.
type lastSample struct {
	PowerWatts   float64
	TemperatureC float64
}

// readLastSample reads the recording at path and returns its last sample. It
// fails unless the recording has exactly one GPU whose power and temperature
// reads succeeded there.
func readLastSample(path string) (lastSample, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return lastSample{}, fmt.Errorf("read recording: %w", err)
	}
	var rec recordingFile
	if err := json.Unmarshal(b, &rec); err != nil {
		return lastSample{}, fmt.Errorf("recording %s: %w", path, err)
	}
	if rec.Format != "nvml-scaler/recording/v1" || len(rec.Samples) == 0 {
		return lastSample{}, fmt.Errorf("recording %s: format %q with %d samples: want nvml-scaler/recording/v1 with samples",
			path, rec.Format, len(rec.Samples))
	}
	devs := rec.Samples[len(rec.Samples)-1].Devices
	if len(devs) != 1 || devs[0].PowerMw.Ret != 0 || devs[0].TemperatureC.Ret != 0 {
		return lastSample{}, fmt.Errorf("recording %s: the last sample needs one GPU with power and temperature read", path)
	}
	// The scaler's conversion (scaler/derive.go): milliwatts times 1/1000.
	return lastSample{
		PowerWatts:   float64(devs[0].PowerMw.Value) * (1.0 / 1000),
		TemperatureC: float64(devs[0].TemperatureC.Value),
	}, nil
}

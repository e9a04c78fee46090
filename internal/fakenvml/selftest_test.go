// SPDX-License-Identifier: Apache-2.0

package fakenvml

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nvml-scaler/nvml-scaler/recording"
)

// selftestRecording is a small synthetic fixture, not a recording of a GPU:
// its values are chosen so testdata/fakenvml/selftest.c can check them (the
// two must change together). Two GPUs, four samples 100 ms apart; GPU 0's
// load grows with the step (utilization 10·step %, 1 GiB more memory per
// step, processes appearing at steps 1 and 2); GPU 1 records a failed
// power reading at step 1 and no GPM values.
func selftestRecording() *recording.Recording {
	const (
		total0    = 150754820096
		reserved0 = 644939776
		free0     = 150109880320
		gib       = 1 << 30
		none      = math.MaxUint32 // gpuInstanceId/computeInstanceId without MIG
	)
	rec := &recording.Recording{
		Format: recording.Format,
		Source: "synthetic: internal/fakenvml selftestRecording (values chosen for selftest.c, not recorded)",
		System: recording.System{
			DriverVersion:     recording.Ok("580.159.04"),
			NVMLVersion:       recording.Ok("13.580.159.04"),
			CUDADriverVersion: recording.Ok(int32(13000)),
			DeviceCount:       recording.Ok(uint32(2)),
		},
		ErrorStrings: map[string]string{"999": "Unknown Error (recorded)"},
		ErrorPaths: map[string]int32{
			"nvmlDeviceGetHandleByIndex(count)": 2,
			"nvmlDeviceGetHandleByUUID(bogus)":  6,
		},
		Devices: []recording.Device{
			{
				Index: 0,
				Name:  recording.Ok("NVIDIA H200"),
				UUID:  recording.Ok("GPU-00000000-1111-2222-3333-444444444444"),
				PCI: recording.Ok(recording.PCIInfo{BusIDLegacy: "0000:00:06.0", Device: 6,
					PCIDeviceID: 0x233510DE, PCISubSystemID: 0x18BE10DE, BusID: "00000000:00:06.0"}),
				Architecture:         recording.Ok(uint32(9)),
				ComputeCapability:    recording.Ok([2]int32{9, 0}),
				MemoryV1:             recording.Ok(recording.MemoryV1{Total: total0, Free: free0, Used: reserved0}),
				PowerLimitMilliwatts: recording.Ok(uint32(700000)),
				MIGMode:              recording.Ok(recording.MIGMode{}),
				MaxMIGDeviceCount:    recording.Ok(uint32(0)),
				GPMSupported:         recording.Ok(true),
			},
			{
				Index: 1,
				Name:  recording.Ok("NVIDIA H100 80GB HBM3"),
				UUID:  recording.Ok("GPU-55555555-6666-7777-8888-999999999999"),
				PCI: recording.Ok(recording.PCIInfo{BusIDLegacy: "0000:00:07.0", Device: 7,
					PCIDeviceID: 0x233010DE, PCISubSystemID: 0x16C110DE, BusID: "00000000:00:07.0"}),
				Architecture:         recording.Ok(uint32(9)),
				ComputeCapability:    recording.Ok([2]int32{9, 0}),
				MemoryV1:             recording.Ok(recording.MemoryV1{Total: 85520809984, Free: 85017624576, Used: 503185408}),
				PowerLimitMilliwatts: recording.Fail[uint32](4),
				MIGMode:              recording.Ok(recording.MIGMode{}),
				MaxMIGDeviceCount:    recording.Ok(uint32(0)),
				GPMSupported:         recording.Ok(true),
			},
		},
	}
	procs := []recording.Process{
		{PID: 1234, UsedGPUMemory: gib, GPUInstanceID: none, ComputeInstanceID: none},
		{PID: 5678, UsedGPUMemory: 512 << 20, GPUInstanceID: none, ComputeInstanceID: none},
	}
	for s := range 4 {
		u := uint32(s)
		nan10 := recording.Float(1.25 * float64(s))
		if s == 0 {
			nan10 = recording.Float(math.NaN())
		}
		power1 := recording.Ok(uint32(70000))
		if s == 1 {
			power1 = recording.Fail[uint32](3)
		}
		rec.Samples = append(rec.Samples, recording.Sample{
			OffsetNanos: int64(s) * 100_000_000,
			Devices: []recording.DeviceSample{
				{
					Utilization: recording.Ok(recording.Utilization{GPU: 10 * u, Memory: 5 * u}),
					Memory: recording.Ok(recording.Memory{Total: total0, Reserved: reserved0,
						Free: free0 - uint64(s)*gib, Used: uint64(s) * gib}),
					PowerMilliwatts: recording.Ok(80000 + 1000*u),
					TemperatureC:    recording.Ok(35 + u),
					SMClockMHz:      recording.Ok(345 + 100*u),
					Processes:       recording.Ok(procs[:min(s, 2)]),
					GPM: []recording.GPMValue{
						{ID: 1, Value: recording.Float(10 * s)},
						{ID: 2, Value: recording.Float(5*float64(s) + 0.5)},
						{ID: 10, Value: nan10},
					},
				},
				{
					Utilization: recording.Ok(recording.Utilization{GPU: 50 + u, Memory: 1}),
					Memory: recording.Ok(recording.Memory{Total: 85520809984, Reserved: 503185408,
						Free: 85017624576}),
					PowerMilliwatts: power1,
					TemperatureC:    recording.Ok(uint32(30)),
					SMClockMHz:      recording.Ok(uint32(1980)),
					Processes:       recording.Ok([]recording.Process{}),
				},
			},
		})
	}
	return rec
}

// selftestFaults are the faults the "modern" mode of selftest.c checks.
func selftestFaults() []Option {
	return []Option{
		Fail("nvmlDeviceGetPowerUsage", 4, 2, 3),
		LostGPU(1, 3),
		NaN(0, 2, 3),
		Churn(1),
		Block("nvmlSystemGetNVMLVersion", 20*time.Millisecond),
		Hold("nvmlDeviceGetTemperature", 10*time.Second),
		Mismatch(10),
	}
}

// buildSelftest compiles selftest.c (cached like the library) with extra
// flags.
func buildSelftest(t *testing.T, extra ...string) string {
	t.Helper()
	flags := append([]string{"-std=gnu11", "-O1", "-Wall", "-Wextra", "-Werror", "-pthread"}, extra...)
	exe, err := Builder{}.build(flags, selftestSource)
	if err != nil {
		skipOrFatal(t, err)
	}
	return exe
}

// runSelftest runs selftest.c in mode against f and returns its stdout and
// stderr; it fails the test when the exit status is not want.
func runSelftest(t *testing.T, exe, mode string, f *Fake, want int, env ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, mode, f.Dir)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("selftest %s: %v", mode, err)
		}
		code = exit.ExitCode()
	}
	if code != want {
		t.Fatalf("selftest %s: exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", mode, code, want, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String()
}

func TestSelftest(t *testing.T) {
	t.Parallel()
	exe := buildSelftest(t)
	tests := []struct {
		mode string
		rec  *recording.Recording
		opts []Option
	}{
		{"modern", selftestRecording(), selftestFaults()},
		{"old", selftestRecording(), []Option{WithVariant(OldDriver)}},
		{"clock", selftestRecording(), []Option{Clock(1000)}},
		{"mig", SyntheticMIG(selftestRecording()), nil},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			f := New(t, tt.rec, tt.opts...)
			runSelftest(t, exe, tt.mode, f, 0)
		})
	}
}

// TestSelftestSanitized runs the modern checks with the library and the driver
// built with AddressSanitizer and UndefinedBehaviorSanitizer; it skips where
// the compiler has no sanitizer runtime.
func TestSelftestSanitized(t *testing.T) {
	t.Parallel()
	san := []string{"-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"}
	if _, err := (Builder{}).compiler(); err != nil {
		skipOrFatal(t, err)
	}
	lib, err := Builder{}.build(append(cflags(Modern), san...), "")
	if err != nil {
		t.Skipf("no sanitizer build here: %v", err)
	}
	exe := buildSelftest(t, san...)
	f := newFrom(t, lib, selftestRecording(), newConfig(selftestFaults()))
	runSelftest(t, exe, "modern", f, 0, "ASAN_OPTIONS=detect_leaks=0")
}

func TestSelftestBadScript(t *testing.T) {
	t.Parallel()
	exe := buildSelftest(t)
	tests := []struct {
		name   string
		script string // "" removes the script
		want   string
	}{
		{"unknown directive", "fakenvml 1\nbogus 1\n", ":2: unknown directive bogus"},
		{"wrong version", "fakenvml 2\n", `:1: first line must be "fakenvml 1"`},
		{"device out of range", "fakenvml 1\ndevices 1\nsteps 1\ndev 1 arch 0 9\n", ":4: device 1: script declares 1 devices"},
		{"bad number", "fakenvml 1\ndevices 1\nsteps 1\ns 0 0 util 0 x 1\n", ":4: gpu: x is not an unsigned integer"},
		{"trailing token", "fakenvml 1\nchurn 1 2\n", ":2: unexpected 2 at the end of the line"},
		{"no steps", "fakenvml 1\ndevices 1\n", ":2: no \"steps\" line before the samples"},
		{"missing", "", ":0: cannot open script"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := New(t, selftestRecording())
			var err error
			if tt.script == "" {
				err = os.Remove(f.ScriptPath)
			} else {
				err = os.WriteFile(f.ScriptPath, []byte(tt.script), 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
			_, stderr := runSelftest(t, exe, "badscript", f, 0)
			want := "fakenvml: " + f.ScriptPath + tt.want
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, want)
			}
		})
	}
}

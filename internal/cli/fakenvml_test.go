// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/recording"
)

// The tests here load the fake libnvidia-ml (a C library built from
// testdata/fakenvml; skipped without a C compiler outside CI) through
// --nvml-lib, so probe and record run the real binding as on a GPU node.

const twoTenantsRecording = "../../testdata/recordings/h100-two-tenants.json"

func loadRecording(t *testing.T, path string) *recording.Recording {
	t.Helper()
	rec, err := recording.Load(path)
	require.NoError(t, err)
	return rec
}

// TestProbeFakeNVML probes the H100 at the step where a second tenant runs.
func TestProbeFakeNVML(t *testing.T) {
	t.Parallel()
	f := fakenvml.New(t, loadRecording(t, twoTenantsRecording))
	f.SetStep(229) // B_full: two processes
	r := run(context.Background(), t, []string{"probe", "--nvml-lib", f.LibPath, "--interval", "500ms", "-o", "json"})
	require.Equal(t, ExitOK, r.code, r.stderr)
	var rep probeReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	assert.Equal(t, "nvml "+f.LibPath, rep.Source)
	assert.Nil(t, rep.Replay)
	require.Len(t, rep.GPUs, 1)
	g := rep.GPUs[0]
	assert.Equal(t, "NVIDIA H100 80GB HBM3", g.Model)
	assert.Equal(t, "ok", g.Health)
	require.NotNil(t, g.SMActivePercent, "GPM through the binding: %v", g.Absent)
	require.NotNil(t, g.MemoryTotalBytes)
	require.Len(t, g.Processes, 2)
	assert.Equal(t, uint32(441), g.Processes[0].PID)
	assert.Equal(t, uint32(473), g.Processes[1].PID)

	r = run(context.Background(), t, []string{"probe", "--nvml-lib", f.LibPath, "--interval", "500ms"})
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "NVIDIA H100 80GB HBM3")
	assert.Contains(t, r.stdout, "2: 441 (41.1 GiB), 473 (0.0 GiB)")
}

// TestProbeFakeNVMLDriverNotLoaded: an init failure is explained.
func TestProbeFakeNVMLDriverNotLoaded(t *testing.T) {
	t.Parallel()
	f := fakenvml.New(t, loadRecording(t, twoTenantsRecording), fakenvml.Fail("nvmlInit_v2", 9, 0, 0))
	r := run(context.Background(), t, []string{"probe", "--nvml-lib", f.LibPath, "--interval", "500ms"})
	assert.Equal(t, ExitError, r.code)
	assert.Contains(t, r.stderr, "nvml-scaler: ")
	assert.Contains(t, r.stderr, "the NVIDIA kernel driver is not loaded on this node")
}

func TestRecordFakeNVML(t *testing.T) {
	t.Parallel()
	f := fakenvml.New(t, loadRecording(t, rampRecording))
	f.SetStep(300)
	out := filepath.Join(t.TempDir(), "rec.json")
	r := run(context.Background(), t, []string{"record", "--nvml-lib", f.LibPath, "--duration", "300ms",
		"--interval", "100ms", "-o", out, "--description", "fake ramp"})
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Regexp(t, `^recorded \d+ samples of 1 GPU\(s\) over \S+ to `+regexp.QuoteMeta(out)+"\n$", r.stderr)

	rec := loadRecording(t, out)
	assert.Equal(t, "host gpu-node-1 (nvml-scaler record v0.0.0-test)", rec.Source)
	assert.Equal(t, "fake ramp", rec.Description)
	require.Len(t, rec.Devices, 1)
	assert.Equal(t, "NVIDIA H200", rec.Devices[0].Name.Value)
	assert.GreaterOrEqual(t, len(rec.Samples), 3)

	// What record wrote replays: probe reads it back.
	r = run(context.Background(), t, []string{"probe", "--replay", out, "-o", "json", "--interval", "100ms"}, newFakeClock().option())
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "GPU-2b355d97-5632-362b-33d1-20f07cee2dcc")

	// - writes to stdout.
	r = run(context.Background(), t, []string{"record", "--nvml-lib", f.LibPath, "--duration", "0s", "-o", "-"})
	require.Equal(t, ExitOK, r.code, r.stderr)
	_, err := recording.Decode(bytes.NewReader([]byte(r.stdout)))
	require.NoError(t, err)
}

func TestRecordNoNVML(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "rec.json")
	r := run(context.Background(), t, []string{"record", "--nvml-lib", "/nonexistent/libnvidia-ml.so.1", "-o", out})
	assert.Equal(t, ExitError, r.code)
	assert.Contains(t, r.stderr, "nvml-scaler: cannot load NVML")
	assert.NoFileExists(t, out)
}

// TestProbeFakeNVMLDriverShapes probes the shapes real drivers and nodes
// have: a 535.54-like library with 32-byte _v3 entries and seven processes
// (the PIDs are right), a GPU the cgroup denies among three and one lost
// before start (the others are listed, the bad one named with its reason),
// a sparse MIG layout with a broken slot, and a driver before R450 (no MIG
// functions).
func TestProbeFakeNVMLDriverShapes(t *testing.T) {
	t.Parallel()
	many, err := fakenvml.SyntheticProcesses(loadRecording(t, twoTenantsRecording), 7)
	require.NoError(t, err)
	three, err := fakenvml.Replicate(loadRecording(t, rampRecording), 3)
	require.NoError(t, err)
	sparse := fakenvml.SyntheticMIG(loadRecording(t, rampRecording))
	sparse.Devices[0].MIGDevices[0].Index = 1
	sparse.Devices[0].MIGDevices[1].Index = 4
	for _, tt := range []struct {
		name  string
		rec   *recording.Recording
		step  uint64
		opts  []fakenvml.Option
		check func(t *testing.T, rep probeReport, table string)
	}{
		{"r535", many, 229, []fakenvml.Option{fakenvml.WithVariant(fakenvml.R535)}, func(t *testing.T, rep probeReport, _ string) {
			require.Len(t, rep.GPUs, 1)
			require.Len(t, rep.GPUs[0].Processes, 7)
			want := many.Samples[229].Devices[0].Processes.Value
			for i, p := range rep.GPUs[0].Processes {
				assert.Equal(t, want[i].PID, p.PID)
				require.NotNil(t, p.UsedMemoryBytes)
				assert.Equal(t, want[i].UsedGPUMemory, *p.UsedMemoryBytes)
			}
		}},
		{"denied GPU", three, 0, []fakenvml.Option{fakenvml.DenyGPU(1, 4, 0, 0)}, func(t *testing.T, rep probeReport, table string) {
			require.Len(t, rep.GPUs, 3)
			assert.Equal(t, "ok", rep.GPUs[0].Health)
			assert.Equal(t, "ok", rep.GPUs[2].Health)
			assert.Equal(t, 1, rep.GPUs[1].Index)
			assert.Equal(t, "failed", rep.GPUs[1].Health)
			assert.Contains(t, rep.GPUs[1].Error, "Insufficient Permissions")
			assert.Contains(t, table, "failed: GPU 1: open: nvmlDeviceGetHandleByIndex_v2: Insufficient Permissions")
		}},
		{"GPU lost before start", three, 0, []fakenvml.Option{fakenvml.LostGPU(1, 0)}, func(t *testing.T, rep probeReport, table string) {
			require.Len(t, rep.GPUs, 3)
			assert.Equal(t, "ok", rep.GPUs[0].Health)
			assert.Equal(t, "lost", rep.GPUs[1].Health)
			assert.Contains(t, rep.GPUs[1].Error, "GPU is lost")
			assert.Equal(t, "ok", rep.GPUs[2].Health)
			assert.Contains(t, table, "lost: GPU 1: open")
		}},
		{"sparse MIG", sparse, 0, []fakenvml.Option{fakenvml.FailMIGSlot(0, 0, 2, 0, 0), fakenvml.FailMIGSlot(0, 2, 4, 0, 0)},
			func(t *testing.T, rep probeReport, table string) {
				require.Len(t, rep.GPUs, 4)
				for i, slot := range []int{1, 2, 4} {
					g := rep.GPUs[i+1]
					require.NotNil(t, g.MIGIndex)
					assert.Equal(t, slot, *g.MIGIndex)
				}
				assert.Equal(t, "ok", rep.GPUs[1].Health)
				assert.NotNil(t, rep.GPUs[1].SMActivePercent, "GPM per MIG slice")
				assert.Equal(t, "failed", rep.GPUs[2].Health)
				assert.Contains(t, rep.GPUs[2].Error, "MIG slot 2: nvmlDeviceGetMigDeviceHandleByIndex: Insufficient Permissions")
				assert.Equal(t, "ok", rep.GPUs[3].Health)
				assert.Contains(t, table, "0 (MIG 4)")
			}},
		{"pre-R450", loadRecording(t, rampRecording), 0, []fakenvml.Option{fakenvml.WithVariant(fakenvml.PreR450)},
			func(t *testing.T, rep probeReport, _ string) {
				require.Len(t, rep.GPUs, 1)
				assert.Equal(t, "ok", rep.GPUs[0].Health)
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := fakenvml.New(t, tt.rec, tt.opts...)
			f.SetStep(tt.step)
			// 2 s: the sweep deadline, which opening the library and listing
			// three GPUs must meet on a loaded test machine too (500 ms did
			// not, with six builds sharing two cores).
			args := []string{"probe", "--nvml-lib", f.LibPath, "--interval", "2s"}
			r := run(context.Background(), t, append(args, "-o", "json"))
			require.Equal(t, ExitOK, r.code, r.stderr)
			var rep probeReport
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
			table := run(context.Background(), t, args)
			require.Equal(t, ExitOK, table.code, table.stderr)
			tt.check(t, rep, table.stdout)
		})
	}
}

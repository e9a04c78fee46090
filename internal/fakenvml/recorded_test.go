// SPDX-License-Identifier: Apache-2.0

package fakenvml

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nvml-scaler/nvml-scaler/recording"
)

// TestRecordedFixtures replays each real recording in testdata/recordings
// through the library and compares what selftest.c's dump mode reads back
// through the C ABI with the recording, at a few telling steps.
func TestRecordedFixtures(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "recordings", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Skip("no recordings in testdata/recordings")
	}
	exe := buildSelftest(t)
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			rec, err := recording.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			checkIdleMemoryV1(t, rec)
			f := New(t, rec)
			steps := tellingSteps(rec)
			t.Logf("comparing steps %v", steps)
			for _, step := range steps {
				f.SetStep(uint64(step))
				out, _ := runSelftest(t, exe, "dump", f, 0)
				compareDump(t, step, out, expectedDump(rec, step))
			}
		})
	}
}

// checkIdleMemoryV1 checks the fake's v1 derivation on real data: at step 0
// (idle) used+reserved and free of the v2 sample are the recorded v1 answer.
func checkIdleMemoryV1(t *testing.T, rec *recording.Recording) {
	t.Helper()
	for i, d := range rec.Devices {
		m := rec.Samples[0].Devices[i].Memory
		if !d.MemoryV1.OK() || !m.OK() {
			continue
		}
		got := recording.MemoryV1{Total: m.Value.Total, Free: m.Value.Free, Used: m.Value.Used + m.Value.Reserved}
		if got != d.MemoryV1.Value {
			t.Errorf("device %d: v1 derived from step 0 is %+v, recorded v1 %+v", i, got, d.MemoryV1.Value)
		}
	}
}

// tellingSteps picks step 0, the first step with processes and SM activity,
// the first with a NaN GPM value, and the last.
func tellingSteps(rec *recording.Recording) []int {
	steps := []int{0}
	busy, nan := -1, -1
	for j, s := range rec.Samples {
		d := s.Devices[0]
		for _, g := range d.GPM {
			if busy < 0 && g.ID == 2 && g.Value > 0 && len(d.Processes.Value) > 0 {
				busy = j
			}
			if nan < 0 && math.IsNaN(float64(g.Value)) {
				nan = j
			}
		}
	}
	for _, j := range []int{busy, nan, len(rec.Samples) - 1} {
		if j > 0 {
			steps = append(steps, j)
		}
	}
	return steps
}

var dumpGPMIDs = []uint32{1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13}

// expectedDump renders what dump should print for GPU 0 at step.
func expectedDump(rec *recording.Recording, step int) []string {
	sys, dev, s := rec.System, rec.Devices[0], rec.Samples[step].Devices[0]
	lines := []string{
		fmt.Sprintf("count %d %d", sys.DeviceCount.Ret, value(sys.DeviceCount)),
		fmt.Sprintf("name %d %s", dev.Name.Ret, value(dev.Name)),
	}
	m := value(s.Memory)
	if s.Memory.OK() {
		lines = append(lines, fmt.Sprintf("mem1 0 %d %d %d", m.Total, m.Free, m.Used+m.Reserved))
	} else {
		v1 := value(dev.MemoryV1)
		lines = append(lines, fmt.Sprintf("mem1 %d %d %d %d", dev.MemoryV1.Ret, v1.Total, v1.Free, v1.Used))
	}
	u := value(s.Utilization)
	lines = append(lines,
		fmt.Sprintf("mem2 %d %d %d %d %d", s.Memory.Ret, m.Total, m.Reserved, m.Free, m.Used),
		fmt.Sprintf("util %d %d %d", s.Utilization.Ret, u.GPU, u.Memory))
	procs := fmt.Sprintf("procs %d %d", s.Processes.Ret, len(value(s.Processes)))
	for _, p := range value(s.Processes) {
		procs += fmt.Sprintf(" %d:%d", p.PID, p.UsedGPUMemory)
	}
	lines = append(lines, procs)
	for _, id := range dumpGPMIDs {
		ret, v := int32(3), 0.0
		for _, g := range s.GPM {
			if g.ID == id {
				ret, v = g.Ret, float64(g.Value)
				if ret != 0 {
					v = 0
				}
				break
			}
		}
		lines = append(lines, fmt.Sprintf("gpm %d %d %s", id, ret, strconv.FormatFloat(v, 'g', 17, 64)))
	}
	return lines
}

// compareDump compares line by line; GPM values are compared as numbers
// (C prints NaN as "nan", and %.17g may differ from Go in form, not value).
func compareDump(t *testing.T, step int, out string, want []string) {
	t.Helper()
	got := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("step %d: dump has %d lines, want %d:\n%s", step, len(got), len(want), out)
	}
	for i := range want {
		if got[i] == want[i] || sameGPMLine(got[i], want[i]) {
			continue
		}
		t.Errorf("step %d: dump line %d = %q, want %q", step, i, got[i], want[i])
	}
}

func sameGPMLine(a, b string) bool {
	fa, fb := strings.Fields(a), strings.Fields(b)
	if len(fa) != 4 || len(fb) != 4 || fa[0] != "gpm" || fa[1] != fb[1] || fa[2] != fb[2] {
		return false
	}
	va, errA := strconv.ParseFloat(fa[3], 64)
	vb, errB := strconv.ParseFloat(fb[3], 64)
	return errA == nil && errB == nil && (va == vb || math.IsNaN(va) && math.IsNaN(vb))
}

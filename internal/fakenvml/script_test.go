// SPDX-License-Identifier: Apache-2.0

package fakenvml

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nvml-scaler/nvml-scaler/recording"
)

var update = flag.Bool("update", false, "rewrite the golden scripts in testdata/")

// TestWriteScriptGolden pins the rendered script of the selftest fixture; the
// selftest proves the library reads it as intended. Run with -update after
// changing the grammar.
func TestWriteScriptGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		golden string
		rec    *recording.Recording
		opts   []Option
	}{
		{"selftest.script", selftestRecording(), selftestFaults()},
		{"selftest-mig-clock.script", SyntheticMIG(selftestRecording()), []Option{Clock(2.5)}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			t.Parallel()
			var got bytes.Buffer
			if err := WriteScript(&got, tt.rec, tt.opts...); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("script differs from %s (rerun with -update to accept):\n%s", path, got.String())
			}
		})
	}
}

func TestWriteScriptLines(t *testing.T) {
	t.Parallel()
	rec := selftestRecording()
	rec.Devices[0].Name = recording.Ok("NVIDIA 100% H200")
	rec.Devices[1].Name = recording.Ok("-")
	rec.ErrorPaths["GetMigDeviceHandleByIndex(0)"] = 6
	rec.ErrorPaths["nvmlDeviceGetHandleByUUID(other)"] = 9 // a second uuid path: the first sorted wins
	var b bytes.Buffer
	if err := WriteScript(&b, rec, Fail("nvmlInit_v2", 9, 0, 0), Block("nvmlShutdown", 1500*time.Microsecond)); err != nil {
		t.Fatal(err)
	}
	script := b.String()
	for _, want := range []string{
		"fakenvml 1\n",
		"\ndevices 2\nsteps 4\n",
		"\ndev 0 name 0 NVIDIA%20100%25%20H200\n",
		"\ndev 1 name 0 %2D\n",
		"\ndev 1 powerlimit 4 0\n",
		"\nerrstr 999 Unknown%20Error%20(recorded)\n",
		"\nerrpath index 2\n",
		"\nerrpath mig 6\n",
		"\nerrpath uuid 6\n",
		"\ns 0 0 gpm 3 1 0 0 2 0 0.5 10 0 NaN\n",
		"\ns 2 0 procs 0 2 1234 1073741824 4294967295 4294967295 5678 536870912 4294967295 4294967295\n",
		"\ns 1 1 power 3 0\n",
		"\nfail nvmlInit_v2 9 0 0\n",
		"\nblock nvmlShutdown 1\n",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q", want)
		}
	}
	if strings.Contains(script, "\nclock ") {
		t.Error("script has a clock line without the Clock option")
	}
}

func TestWriteScriptErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*recording.Recording)
		opts []Option
		want string
	}{
		{"nil recording", nil, nil, "nil recording"},
		{"invalid recording", func(r *recording.Recording) { r.Samples = nil }, nil, "no samples"},
		{"unknown fail symbol", nil, []Option{Fail("nvmlNoSuchThing", 3, 0, 0)}, `fail "nvmlNoSuchThing": unknown symbol`},
		{"empty fail range", nil, []Option{Fail("nvmlShutdown", 3, 5, 5)}, "empty step range [5, 5)"},
		{"error string cannot fail", nil, []Option{Fail("nvmlErrorString", 3, 0, 0)}, "nvmlErrorString always answers"},
		{"unknown block symbol", nil, []Option{Block("nvml", time.Second)}, `block "nvml": unknown symbol`},
		{"short hold", nil, []Option{Hold("nvmlShutdown", 0)}, "want 1 ms to 49 days"},
		{"lost GPU out of range", nil, []Option{LostGPU(2, 0)}, "lost GPU 2: the recording has 2 devices"},
		{"NaN GPU out of range", nil, []Option{NaN(-1, 1, 0)}, "NaN on GPU -1"},
		{"negative churn", nil, []Option{Churn(-1)}, "churn -1: negative"},
		{"zero clock", nil, []Option{Clock(0)}, "clock speed 0: want > 0"},
		{"NaN clock", nil, []Option{Clock(math.NaN())}, "clock speed NaN"},
		{"long name", func(r *recording.Recording) { r.Devices[0].Name = recording.Ok(strings.Repeat("x", 96)) }, nil,
			"longer than 95 bytes"},
		{"NUL in uuid", func(r *recording.Recording) { r.Devices[0].UUID = recording.Ok("GPU-\x00") }, nil, "NUL byte"},
		{"bad errorStrings key", func(r *recording.Recording) { r.ErrorStrings["x"] = "y" }, nil, `errorStrings key "x"`},
		{"unknown MIG sample", func(r *recording.Recording) {
			r.Samples[0].MIGDevices = map[string]recording.MIGSample{"MIG-x": {}}
		}, nil, `MIG device "MIG-x" is not under any device`},
		{"too many fail rules", nil, []Option{
			Fail("nvmlShutdown", 1, 0, 0), Fail("nvmlShutdown", 1, 0, 0), Fail("nvmlShutdown", 1, 0, 0),
			Fail("nvmlShutdown", 1, 0, 0), Fail("nvmlShutdown", 1, 0, 0), Fail("nvmlShutdown", 1, 0, 0),
			Fail("nvmlShutdown", 1, 0, 0), Fail("nvmlShutdown", 1, 0, 0), Fail("nvmlShutdown", 1, 0, 0),
		}, "more than 8 rules"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var rec *recording.Recording
			if tt.name != "nil recording" {
				rec = selftestRecording()
			}
			if tt.edit != nil {
				tt.edit(rec)
			}
			err := WriteScript(&bytes.Buffer{}, rec, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("WriteScript error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestEscape(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                 "-",
		"-":                "%2D",
		"--":               "--",
		"GPU-1":            "GPU-1",
		"NVIDIA H200":      "NVIDIA%20H200",
		"50%":              "50%25",
		"tab\there":        "tab%09here",
		"caf\u00e9":        "caf%C3%A9",
		"00000000:00:06.0": "00000000:00:06.0",
	} {
		if got := escape(in); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
}

// SPDX-License-Identifier: Apache-2.0

package fakenvml

import (
	"path/filepath"
	"testing"

	"github.com/nvml-scaler/nvml-scaler/recording"
)

func TestReplicate(t *testing.T) {
	t.Parallel()
	rec, err := recording.Load(filepath.Join("..", "..", "testdata", "recordings", "h200-steps.json"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Replicate(rec, 8)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, d := range out.Devices {
		if d.Index != uint32(i) || seen[d.UUID.Value] {
			t.Fatalf("device %d: index %d uuid %q (duplicate: %v)", i, d.Index, d.UUID.Value, seen[d.UUID.Value])
		}
		seen[d.UUID.Value] = true
	}
	if got := out.Samples[3].Devices[7].Memory; got != rec.Samples[3].Devices[0].Memory {
		t.Fatalf("sample 3 GPU 7 memory %+v: want the recorded %+v", got, rec.Samples[3].Devices[0].Memory)
	}
	if len(rec.Devices) != 1 {
		t.Fatal("Replicate modified its input")
	}
	if _, err := Replicate(out, 2); err == nil {
		t.Fatal("replicating a multi-GPU recording: want an error")
	}
	if _, err := Replicate(rec, 0); err == nil {
		t.Fatal("0 GPUs: want an error")
	}
}

// SPDX-License-Identifier: Apache-2.0

package fakenvml

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestNewPreparesDirectory(t *testing.T) {
	t.Parallel()
	a := New(t, selftestRecording(), Hold("nvmlShutdown", time.Second))
	b := New(t, selftestRecording())
	if a.LibPath == b.LibPath || a.Dir == b.Dir {
		t.Errorf("two fakes share %s", a.LibPath)
	}
	for _, p := range []string{a.LibPath, a.ScriptPath, filepath.Join(a.Dir, CtlName)} {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
	if filepath.Base(a.LibPath) != "libnvidia-ml.so.1" || filepath.Dir(a.LibPath) != a.Dir {
		t.Errorf("LibPath %s is not %s/libnvidia-ml.so.1", a.LibPath, a.Dir)
	}
	if got := readStep(t, a); got != 0 {
		t.Errorf("initial step %d, want 0", got)
	}
	a.SetStep(5)
	a.SetStep(1 << 40)
	if got := readStep(t, a); got != 1<<40 {
		t.Errorf("step %d after SetStep(1<<40)", got)
	}

	hold := filepath.Join(a.Dir, "hold.nvmlShutdown")
	if _, err := os.Stat(hold); err != nil {
		t.Errorf("Hold did not start held: %v", err)
	}
	a.Release("nvmlShutdown")
	if _, err := os.Stat(hold); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Release left %s: %v", hold, err)
	}
	a.Release("nvmlShutdown") // twice is fine
	a.Hold("nvmlShutdown")
	if _, err := os.Stat(hold); err != nil {
		t.Errorf("Hold did not hold again: %v", err)
	}
}

func readStep(t *testing.T, f *Fake) uint64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.Dir, CtlName))
	if err != nil || len(b) != 8 {
		t.Fatalf("ctl file: %d bytes, %v", len(b), err)
	}
	return binary.LittleEndian.Uint64(b)
}

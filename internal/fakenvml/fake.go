// SPDX-License-Identifier: Apache-2.0

package fakenvml

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/nvml-scaler/nvml-scaler/recording"
)

// File names in a [Fake]'s directory.
const (
	// ScriptName is the script the library reads at its first nvmlInit.
	ScriptName = "fakenvml.script"
	// CtlName holds the current step: 8 bytes, a little-endian uint64.
	CtlName = "fakenvml.ctl"
)

// Fake is one test's copy of the fake library with its script and step
// control. Its methods are safe for concurrent use.
type Fake struct {
	// LibPath is the library to dlopen: Dir/libnvidia-ml.so.1. Each Fake
	// has its own copy, so each dlopen of it has its own NVML state.
	LibPath string
	// Dir is the test's directory holding the library, the script and the
	// step control file.
	Dir string
	// ScriptPath is Dir/fakenvml.script.
	ScriptPath string

	tb    testing.TB
	ctl   *os.File
	holds map[string]bool
}

// New builds the library (once per process and variant, see [Build]), copies
// it into t.TempDir() with a script rendered from rec and opts, sets the step
// to 0 and returns the Fake. Without a C compiler it skips the test, or fails
// it when the environment variable CI is set; any other problem fails the
// test.
func New(t testing.TB, rec *recording.Recording, opts ...Option) *Fake {
	t.Helper()
	cfg := newConfig(opts)
	lib, err := Build(cfg.variant)
	if err != nil {
		skipOrFatal(t, err)
	}
	return newFrom(t, lib, rec, cfg)
}

// skipOrFatal ends a test that could not build: a skip when there is no
// compiler outside CI, else a failure.
func skipOrFatal(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNoCompiler) && os.Getenv("CI") == "" {
		t.Skipf("fake NVML needs a C compiler (set $CC or install cc): %v", err)
	}
	t.Fatalf("fake NVML: %v", err)
}

// newFrom is New with the library at lib.
func newFrom(t testing.TB, lib string, rec *recording.Recording, cfg *config) *Fake {
	t.Helper()
	var script bytes.Buffer
	if err := writeScript(&script, rec, cfg); err != nil {
		t.Fatalf("fake NVML: %v", err)
	}
	f, err := newFake(t, t.TempDir(), lib, script.Bytes(), cfg)
	if err != nil {
		t.Fatalf("fake NVML: %v", err)
	}
	return f
}

func newFake(t testing.TB, dir, lib string, script []byte, cfg *config) (*Fake, error) {
	f := &Fake{
		LibPath:    filepath.Join(dir, LibName),
		Dir:        dir,
		ScriptPath: filepath.Join(dir, ScriptName),
		tb:         t,
		holds:      map[string]bool{},
	}
	data, err := os.ReadFile(lib)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(f.LibPath, data, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(f.ScriptPath, script, 0o644); err != nil {
		return nil, err
	}
	ctlPath := filepath.Join(dir, CtlName)
	if err := os.WriteFile(ctlPath, make([]byte, 8), 0o644); err != nil {
		return nil, err
	}
	// The library maps the file: it must never shrink, so steps are written
	// in place through this handle, never with os.WriteFile.
	if f.ctl, err = os.OpenFile(ctlPath, os.O_WRONLY, 0); err != nil {
		return nil, err
	}
	t.Cleanup(func() { f.ctl.Close() })
	names := make([]string, 0, len(cfg.holds)+len(cfg.gpuHolds))
	for _, h := range cfg.holds {
		names = append(names, h.symbol)
	}
	for _, h := range cfg.gpuHolds {
		names = append(names, GPUHoldName(h.device))
	}
	for _, name := range names {
		f.holds[name] = true
		if err := os.WriteFile(filepath.Join(dir, holdFile(name)), nil, 0o644); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// SetStep makes every following call answer sample n of the recording (the
// last sample for n past the end; fault steps compare with n itself). The
// library reads the step on each call from a shared mapping, so the change
// is seen at once by every thread. It reports a failure with t.Errorf, so it
// may be called from any goroutine; it has no effect with [Clock].
func (f *Fake) SetStep(n uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], n)
	if _, err := f.ctl.WriteAt(b[:], 0); err != nil {
		f.tb.Errorf("fake NVML: set step %d: %v", n, err)
	}
}

// Release lets the calls to symbol held by [Hold] return, now and later; for
// a GPU held by [HoldGPU], symbol is [GPUHoldName] of its index.
func (f *Fake) Release(symbol string) {
	if !f.held(symbol) {
		return
	}
	if err := os.Remove(filepath.Join(f.Dir, holdFile(symbol))); err != nil && !errors.Is(err, os.ErrNotExist) {
		f.tb.Errorf("fake NVML: release %s: %v", symbol, err)
	}
}

// Hold holds the calls to symbol again after [Fake.Release]. The symbol must
// have been given to the [Hold] option.
func (f *Fake) Hold(symbol string) {
	if !f.held(symbol) {
		return
	}
	if err := os.WriteFile(filepath.Join(f.Dir, holdFile(symbol)), nil, 0o644); err != nil {
		f.tb.Errorf("fake NVML: hold %s: %v", symbol, err)
	}
}

func (f *Fake) held(symbol string) bool {
	if !f.holds[symbol] {
		f.tb.Errorf("fake NVML: %s was not configured with the Hold option", symbol)
		return false
	}
	return true
}

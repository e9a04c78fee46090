// SPDX-License-Identifier: Apache-2.0

package nvml

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenMissingLibraryListsEveryAttempt(t *testing.T) {
	t.Parallel()
	dirA, dirB := t.TempDir(), t.TempDir()
	_, err := Open(WithSearchDirs(dirA, dirB))
	if err == nil {
		t.Skip("a real libnvidia-ml.so.1 is on the loader's path")
	}
	var le *LoadError
	require.ErrorAs(t, err, &le)
	assert.ErrorIs(t, err, ErrLibraryNotFound)
	require.Len(t, le.Tried, 3)
	assert.Equal(t, LibraryName, le.Tried[0].Path)
	assert.Equal(t, filepath.Join(dirA, LibraryName), le.Tried[1].Path)
	assert.Equal(t, filepath.Join(dirB, LibraryName), le.Tried[2].Path)
	msg := err.Error()
	for _, want := range []string{dirA, dirB, "--nvml-lib", "NVIDIA_VISIBLE_DEVICES", "driver"} {
		assert.Contains(t, msg, want)
	}
}

func TestOpenExplicitPathTriesOnlyThatPath(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nope.so")
	_, err := Open(WithLibraryPath(path))
	var le *LoadError
	require.ErrorAs(t, err, &le)
	require.Len(t, le.Tried, 1)
	assert.Equal(t, path, le.Tried[0].Path)
}

func TestOpenRejectsALibraryThatIsNotNVML(t *testing.T) {
	t.Parallel()
	var libc string
	for _, p := range []string{"/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "/lib64/libc.so.6"} {
		if _, err := os.Stat(p); err == nil {
			libc = p
			break
		}
	}
	if libc == "" {
		t.Skip("no libc.so.6 at a known path")
	}
	_, err := Open(WithLibraryPath(libc))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not NVML")
}

func TestDefaultSearchDirsIsACopy(t *testing.T) {
	t.Parallel()
	a := DefaultSearchDirs()
	a[0] = "changed"
	assert.Equal(t, "/usr/local/nvidia/lib64", DefaultSearchDirs()[0])
}

// A library path that is a FIFO, a device or not ELF is refused within a time
// bound and never handed to dlopen: a FIFO would block dlopen, holding the
// dynamic loader's lock, and wedge the process.
func TestOpenRefusesWhatIsNotALibraryFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "libnvidia-ml.so.1")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	text := filepath.Join(dir, "text.so")
	require.NoError(t, os.WriteFile(text, []byte("not a library"), 0o600))
	for _, tt := range []struct{ path, want string }{
		{fifo, "not a regular file (a FIFO)"},
		{"/dev/zero", "not a regular file (a character device)"},
		{dir, "not a regular file (a directory)"},
		{text, "not an ELF shared library"},
	} {
		done := make(chan error, 1)
		go func() { _, err := Open(WithLibraryPath(tt.path)); done <- err }()
		select {
		case err := <-done:
			var le *LoadError
			require.ErrorAs(t, err, &le, tt.path)
			require.Len(t, le.Tried, 1)
			assert.Contains(t, le.Tried[0].Err, tt.want)
		case <-time.After(10 * time.Second):
			t.Fatalf("Open(%s) did not return within 10s", tt.path)
		}
	}
	// The search directories are checked the same way.
	done := make(chan error, 1)
	go func() { _, err := Open(WithSearchDirs(dir)); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			assert.Contains(t, err.Error(), "(a FIFO)")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Open(WithSearchDirs) did not return within 10s")
	}
}

// A read that never returns (a hung mount) gives up after the bound; a bare
// soname is the loader's to search and is not read.
func TestPrecheckIsBounded(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	defer close(hang)
	block := func(string) error { <-hang; return nil }
	start := time.Now()
	err := precheckWith("/mnt/hung/libnvidia-ml.so.1", 50*time.Millisecond, block)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "took over 50ms (a hung mount?): not loaded")
	assert.Less(t, time.Since(start), 5*time.Second)
	require.NoError(t, precheckWith(LibraryName, time.Nanosecond, block))
}

// SPDX-License-Identifier: Apache-2.0

package nvml

import (
	"os"
	"path/filepath"
	"testing"

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

// SPDX-License-Identifier: Apache-2.0

package replay

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/internal/regfile"
)

// --replay pointed at a FIFO, a device or a huge file is refused within a
// time bound instead of hanging start-up or reading 256 MiB first.
func TestLoadRefusesUnsafeFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.json")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	huge := filepath.Join(dir, "huge.json")
	f, err := os.Create(huge)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(500<<20)) // sparse: costs no disk
	require.NoError(t, f.Close())
	for _, tt := range []struct {
		path string
		want error
	}{
		{fifo, regfile.ErrNotRegular},
		{"/dev/zero", regfile.ErrNotRegular},
		{dir, regfile.ErrNotRegular},
		{huge, regfile.ErrTooLarge},
	} {
		done := make(chan error, 1)
		go func() { _, err := Load(tt.path, Options{}); done <- err }()
		select {
		case err := <-done:
			require.ErrorIs(t, err, tt.want, tt.path)
		case <-time.After(10 * time.Second):
			t.Fatalf("Load(%s) did not return within 10s", tt.path)
		}
	}
	src, err := Load(filepath.Join("..", "..", "testdata", "recordings", "h200-steps.json"), Options{})
	require.NoError(t, err)
	require.NoError(t, src.Close())
}

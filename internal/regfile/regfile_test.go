// SPDX-License-Identifier: Apache-2.0

package regfile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each path kind is answered within a time bound: a FIFO without a writer
// and /dev/zero are refused at once instead of blocking or growing forever.
func TestRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "ok.pem")
	require.NoError(t, os.WriteFile(file, []byte("hello"), 0o600))
	big := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(big, []byte(strings.Repeat("x", 101)), 0o600))
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink("/dev/zero", link))
	for _, tt := range []struct {
		name, path string
		want       error
		msg        string
	}{
		{"regular", file, nil, ""},
		{"too large", big, ErrTooLarge, "larger than 100 bytes"},
		{"fifo", fifo, ErrNotRegular, "(a FIFO)"},
		{"dev zero", "/dev/zero", ErrNotRegular, "(a character device)"},
		{"symlink to dev zero", link, ErrNotRegular, "(a character device)"},
		{"directory", dir, ErrNotRegular, "(a directory)"},
		{"missing", filepath.Join(dir, "nope"), os.ErrNotExist, "no such file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			done := make(chan struct{})
			var b []byte
			var err error
			go func() { defer close(done); b, err = Read(tt.path, 100) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Read did not return within 5s")
			}
			if tt.want == nil {
				require.NoError(t, err)
				assert.Equal(t, "hello", string(b))
				return
			}
			require.ErrorIs(t, err, tt.want)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
}

// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWaitFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ready := filepath.Join(dir, "toolkit-ready")

	// The file appears on the third check.
	checks := 0
	sleep := func(ctx context.Context, _ time.Duration) bool {
		checks++
		if checks == 2 {
			require.NoError(t, os.WriteFile(ready, nil, 0o644))
		}
		return ctx.Err() == nil
	}
	r := run(context.Background(), t, []string{"wait-file", "--interval=1ms", ready}, WithClock(time.Now, sleep))
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, 2, checks)
	assert.Contains(t, r.stderr, "waiting for "+ready)
	assert.Contains(t, r.stderr, ready+" exists")

	// Stopped first: an error, not success.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r = run(ctx, t, []string{"wait-file", filepath.Join(dir, "never")})
	assert.Equal(t, ExitError, r.code)
	assert.Contains(t, r.stderr, "stopped before it existed")

	// Bad input names the flag.
	r = run(context.Background(), t, []string{"wait-file", "--interval=0s", ready})
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.stderr, "--interval")
	r = run(context.Background(), t, []string{"wait-file"})
	assert.Equal(t, ExitUsage, r.code)
}

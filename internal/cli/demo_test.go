// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// demoRow is one line of the demo's query --watch output.
var demoRow = regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d +(\d+\.\d\d)  (?:true|false) +(\d+) +(\d+)$`)

// TestDemo runs `make demo`'s script as a newcomer would (it builds the
// binary, so it is skipped under -short) and checks that it shows SM activity
// climbing through the ramp, the HPA asking for a second replica, and a clean
// exit 0 after SIGTERM, within 120 s.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs for about 20 s")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("hack/demo.sh needs bash")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("hack/demo.sh needs the go command")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join("hack", "demo.sh"))
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "GO="+goTool, "BIN="+filepath.Join(t.TempDir(), "nvml-scaler"))
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "hack/demo.sh failed (ctx: %v):\n%s", ctx.Err(), out)
	t.Logf("demo output:\n%s", out)

	rows := demoRow.FindAllStringSubmatch(string(out), -1)
	require.GreaterOrEqual(t, len(rows), 10, "one row per query round")
	var values []float64
	maxReplicas := 0
	for _, r := range rows {
		v, err := strconv.ParseFloat(r[1], 64)
		require.NoError(t, err)
		values = append(values, v)
		n, err := strconv.Atoi(r[2])
		require.NoError(t, err)
		maxReplicas = max(maxReplicas, n)
	}
	assert.Less(t, values[0], 10.0, "the recording starts idle")
	assert.GreaterOrEqual(t, longestRise(values), 5, "SM activity climbs round after round: %v", values)
	assert.Greater(t, slices.Max(values), 66.0, "the ramp passes the target plus the HPA's tolerance: %v", values)
	assert.GreaterOrEqual(t, maxReplicas, 2, "the HPA asks for a second replica")
	assert.Contains(t, string(out), "serve drained and exited 0")
}

// longestRise is the length of the longest run of strictly rising values.
func longestRise(vs []float64) int {
	best, run := 0, 0
	for i := range vs {
		if i > 0 && vs[i] > vs[i-1] {
			run++
		} else {
			run = 1
		}
		best = max(best, run)
	}
	return best
}

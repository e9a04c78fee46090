// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnvName(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "NVML_SCALER_HTTP_LISTEN", envName("http-listen"))
	assert.Equal(t, "NVML_SCALER_LISTEN", envName("listen"))
	assert.Equal(t, "NVML_SCALER_NVML_LIB", envName("nvml-lib"))
}

func TestEnvFlags(t *testing.T) {
	t.Parallel()
	clock := func() Option { return newFakeClock().option() }

	t.Run("sets a flag", func(t *testing.T) {
		t.Parallel()
		r := run(context.Background(), t, probeArgs(), clock(), WithLookupEnv(env("NVML_SCALER_OUTPUT", "json")))
		require.Equal(t, ExitOK, r.code, r.stderr)
		assert.True(t, json.Valid([]byte(r.stdout)), r.stdout)
	})
	t.Run("the command line wins", func(t *testing.T) {
		t.Parallel()
		r := run(context.Background(), t, probeArgs("-o", "yaml"), clock(), WithLookupEnv(env("NVML_SCALER_OUTPUT", "json")))
		require.Equal(t, ExitOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, "gpus:\n")
	})
	t.Run("every kind of flag", func(t *testing.T) {
		t.Parallel()
		r := run(context.Background(), t, []string{"probe", "-o", "json"}, clock(), WithLookupEnv(env(
			"NVML_SCALER_REPLAY", rampRecording, "NVML_SCALER_REPLAY_SPEED", "35",
			"NVML_SCALER_REPLAY_LOOP", "false", "NVML_SCALER_INTERVAL", "1s", "NODE_NAME", "node-from-env")))
		require.Equal(t, ExitOK, r.code, r.stderr)
		var rep probeReport
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
		assert.Equal(t, "node-from-env", rep.Node)
		assert.Contains(t, rep.Source, "speed 35x, not looping")
		assert.Equal(t, "duty090", rep.Replay.Phase)
	})
	t.Run("a bad value names the variable", func(t *testing.T) {
		t.Parallel()
		r := run(context.Background(), t, probeArgs(), clock(), WithLookupEnv(env("NVML_SCALER_INTERVAL", "fast")))
		assert.Equal(t, ExitUsage, r.code)
		assert.Contains(t, r.stderr, `nvml-scaler: environment NVML_SCALER_INTERVAL="fast" (for --interval): invalid argument "fast" for "--interval" flag: want a duration such as 500ms, 1s or 1m30s`)
	})
	t.Run("checks apply to values from the environment", func(t *testing.T) {
		t.Parallel()
		r := run(context.Background(), t, []string{"serve"}, WithLookupEnv(env("NVML_SCALER_REPLAY_SPEED", "2")))
		assert.Equal(t, ExitUsage, r.code)
		assert.Contains(t, r.stderr, "--replay-speed needs --replay FILE")
	})
	t.Run("record's output file is not taken from the environment", func(t *testing.T) {
		t.Parallel()
		r := run(context.Background(), t, []string{"record"}, WithLookupEnv(env("NVML_SCALER_OUTPUT", "json")))
		assert.Equal(t, ExitUsage, r.code)
		assert.Contains(t, r.stderr, "--output (-o) is required")
	})
}

// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/internal/testutil"
)

// TestUsageErrors: every mistake in how a command is called exits 2 with one
// "nvml-scaler: " line naming the flag or key and the accepted form, and a
// pointer to --help.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	q := []string{"query", "--address", "127.0.0.1:1"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"serv"}, `unknown command "serv" for "nvml-scaler"; did you mean serve?`},
		{"unknown flag", []string{"serve", "--lisen", ":1"}, "unknown flag: --lisen"},
		{"stray argument", []string{"probe", "extra"}, `nvml-scaler probe takes no arguments, got ["extra"]`},
		{"bad enum", []string{"serve", "--log-format", "xml"}, `invalid argument "xml" for "--log-format" flag: want one of json, text`},
		{"bad level", []string{"serve", "--log-level", "trace"}, "want one of debug, info, warn, error"},
		{"bad duration", []string{"serve", "--interval", "fast"}, `invalid argument "fast" for "--interval" flag: want a duration such as 500ms, 1s or 1m30s`},
		{"short interval", []string{"serve", "--interval", "10ms"}, "--interval 10ms: want at least 100ms"},
		{"bad listen", []string{"serve", "--listen", "6000"}, `--listen "6000": want host:port, e.g. :6000 or 127.0.0.1:0`},
		{"replay flag alone", []string{"serve", "--replay-speed", "2"}, "--replay-speed needs --replay FILE"},
		{"replay and lib", []string{"probe", "--replay", "x.json", "--nvml-lib", "/lib.so"}, "--replay and --nvml-lib: give one or the other"},
		{"bad speed", []string{"probe", "--replay", rampRecording, "--replay-speed", "-1"}, "--replay-speed -1: want a number above 0"},
		{"probe watch json", []string{"probe", "--watch", "-o", "json"}, "--watch draws a table"},
		{"bad output", []string{"probe", "-o", "csv"}, "want one of table, json, yaml"},
		{"no trigger", q, "no trigger: give its metadata with --metadata"},
		{"metadata piece", append(q, "--metadata", "sm_active_percent"), `"sm_active_percent" is not key=value`},
		{"metadata twice", append(q, "--metadata", "metric=power_watts", "--metadata", "metric=sm_active_percent"), `key "metric" given twice`},
		{"metadata missing target", append(q, "--metadata", "metric=sm_active_percent"), `trigger metadata "targetValue" is missing: want a finite number greater than 0`},
		{"metadata bad metric", append(q, "--metadata", "metric=gpu_util,targetValue=60"), `trigger metadata "metric" is "gpu_util": want one of gpu_utilization_percent,`},
		{"metadata bad target", append(q, "--metadata", "metric=power_watts,targetValue=abc"), `trigger metadata "targetValue" is "abc"`},
		{"metadata FromEnv", append(q, "--metadata", "metric=power_watts,targetValueFromEnv=TARGET"), `"targetValueFromEnv": KEDA reads it from the workload's environment`},
		{"negative tolerance", append(q, "--metadata", "metric=power_watts,targetValue=1", "--tolerance", "-0.1"), "--tolerance -0.1: want a number of 0 or more"},
		{"negative ready pods", append(q, "--metadata", "metric=power_watts,targetValue=1", "--ready-pods", "-2"), "--ready-pods -2: want 0 or more"},
		{"count without watch", append(q, "--metadata", "metric=power_watts,targetValue=1", "--count", "3"), "--count and --interval need --watch"},
		{"client cert alone", append(q, "--metadata", "metric=power_watts,targetValue=1", "--client-cert", "c.pem"), "--client-cert and --client-key: give both or neither"},
		{"bad address", []string{"query", "--address", "localhost", "--metadata", "metric=power_watts,targetValue=1"}, `--address "localhost": want host:port`},
		{"trigger index without file", append(q, "--metadata", "metric=power_watts,targetValue=1", "--trigger-index", "1"), "pick a trigger in a -f file"},
		{"record without output", []string{"record"}, "--output (-o) is required"},
		{"version output", []string{"version", "-o", "yaml"}, "want one of text, json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(context.Background(), t, tt.args)
			assert.Equal(t, ExitUsage, r.code, "stderr: %s", r.stderr)
			assert.Empty(t, r.stdout)
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			require.Len(t, lines, 2, r.stderr)
			assert.True(t, strings.HasPrefix(lines[0], "nvml-scaler: "), lines[0])
			assert.Contains(t, lines[0], tt.want)
			assert.Regexp(t, `^Run 'nvml-scaler( \w+)? --help' for usage\.$`, lines[1])
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"--help"}, {"serve", "--help"}, {"help", "query"}} {
		r := run(context.Background(), t, args)
		assert.Equal(t, ExitOK, r.code, "%v: %s", args, r.stderr)
		assert.Contains(t, r.stdout, "Usage:", "%v", args)
		assert.Empty(t, r.stderr)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := run(context.Background(), t, []string{"version"})
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Regexp(t, `^nvml-scaler v0\.0\.0-test\ncommit:   0123abc\ngo:       go1\.\S+\nplatform: \w+/\w+\n$`, r.stdout)

	r = run(context.Background(), t, []string{"version", "-o", "json"})
	require.Equal(t, ExitOK, r.code, r.stderr)
	var v versionInfo
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &v))
	assert.Equal(t, "v0.0.0-test", v.Version)
	assert.Equal(t, "0123abc", v.Commit)

	// Without ldflags the build information fills in.
	var stdout, stderr testutil.SyncBuffer
	code := Main(context.Background(), []string{"version", "-o", "json"}, &stdout, &stderr)
	require.Equal(t, ExitOK, code, stderr.String())
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &v))
	assert.NotEmpty(t, v.Version)
	assert.NotEmpty(t, v.Commit)
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		r := run(context.Background(), t, []string{"completion", shell})
		assert.Equal(t, ExitOK, r.code, "%s: %s", shell, r.stderr)
		assert.Contains(t, r.stdout, "nvml-scaler", shell)
	}
	// Cobra's hidden __complete command answers what the scripts ask.
	r := run(context.Background(), t, []string{"__complete", "probe", "-o", ""})
	assert.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, "table\njson\nyaml\n:4\n", r.stdout)
	r = run(context.Background(), t, []string{"__complete", "se"})
	assert.Equal(t, ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "serve")
}

// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// filterLineByLine is filterKnown without its shortcuts: every line judged
// on its own, every kept line copied on its own.
func filterLineByLine(body []byte) (kept []byte, samples int) {
	for _, line := range bytes.SplitAfter(body, []byte("\n")) {
		name, sample := lineFamily(line)
		if sample {
			samples++
		}
		if len(name) > 0 && knownName(name) {
			kept = append(kept, line...)
			if kept[len(kept)-1] != '\n' {
				kept = append(kept, '\n')
			}
		}
	}
	return kept, samples
}

// The run copying and the same-family shortcut keep exactly the lines a
// line-by-line filter keeps, and count the lines countSamples counts, on
// every real body and on reshaped copies of it (indented lines, CRLF, lines
// reversed so families interleave, no final newline).
func TestFilterKnownMatchesLineByLine(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "engines", "*.txt"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		body, err := os.ReadFile(file)
		require.NoError(t, err)
		for name, b := range reshaped(body) {
			want, wantN := filterLineByLine(b)
			got, n := filterKnown(nil, b)
			assert.Equal(t, string(want), string(got), "%s %s", file, name)
			assert.Equal(t, wantN, n, "%s %s", file, name)
			assert.Equal(t, countSamples(b), n, "%s %s", file, name)
		}
	}
}

func reshaped(body []byte) map[string][]byte {
	lines := bytes.SplitAfter(body, []byte("\n"))
	indented := slices.Clone(lines)
	for i := range indented {
		if i%2 == 1 {
			indented[i] = append([]byte(" \t"), indented[i]...)
		}
	}
	reversed := slices.Clone(lines)
	slices.Reverse(reversed)
	return map[string][]byte{
		"as is":      body,
		"indented":   bytes.Join(indented, nil),
		"crlf":       bytes.ReplaceAll(body, []byte("\n"), []byte("\r\n")),
		"reversed":   bytes.Join(reversed, []byte("\n")),
		"no newline": bytes.TrimRight(body, "\n"),
		"empty":      nil,
	}
}

// The shortcut takes a line for the family before only when the name ends
// right there (lines from vllm_datadog.txt).
func TestSameFamily(t *testing.T) {
	t.Parallel()
	const running = "vllm:num_requests_running"
	for _, tc := range []struct {
		line, last string
		want       bool
	}{
		{`vllm:num_requests_running{model_name="facebook/opt-125m"} 0.0` + "\n", running, true},
		{"vllm:num_requests_running 0.0\n", running, true},
		{`vllm:time_to_first_token_seconds_bucket{le="0.001",model_name="facebook/opt-125m"} 0.0` + "\n",
			"vllm:time_to_first_token_seconds", false}, // a longer name
		{" vllm:num_requests_running 0.0\n", running, false}, // indented: judged in full
		{"# HELP vllm:num_requests_running Number of requests currently running on GPU.\n", running, false},
		{running, running, false}, // no value: judged in full
		{"vllm:num_requests_running 0.0\n", "", false},
	} {
		assert.Equal(t, tc.want, sameFamily([]byte(tc.line), []byte(tc.last)), "%q after %q", tc.line, tc.last)
	}
}

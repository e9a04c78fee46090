// SPDX-License-Identifier: Apache-2.0

package recording

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFixturesPresent pins the fixtures the rest of the project relies on and the
// README's regenerate command for each.
func TestFixturesPresent(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join(fixturesDir, "README.md"))
	require.NoError(t, err)
	names := map[string]bool{}
	for _, f := range loadFixtures(t) {
		names[f.name] = true
		src, _, _ := strings.Cut(f.source, " ")
		cmd := fmt.Sprintf("go run ./internal/tools/convertrec -in ../%s -out testdata/recordings/%s -source %q", src, f.name, f.source)
		assert.Contains(t, string(readme), cmd, "README lacks the regenerate command for %s", f.name)
	}
	for _, want := range []string{"h200-steps.json", "h200-inference-ramp.json", "h100-two-tenants.json"} {
		assert.True(t, names[want], "missing fixture %s", want)
	}
}

// TestFixturesCanonical checks each fixture decodes and re-encodes to the same
// bytes: it is valid and in Encode's form. It needs no source file.
func TestFixturesCanonical(t *testing.T) {
	t.Parallel()
	for _, f := range loadFixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			want, err := os.ReadFile(filepath.Join(fixturesDir, f.name))
			require.NoError(t, err)
			rec, err := Decode(bytes.NewReader(want))
			require.NoError(t, err)
			var got bytes.Buffer
			require.NoError(t, Encode(&got, rec))
			requireSameBytes(t, want, got.Bytes(), f.name)
		})
	}
}

// TestConvertPython converts each fixture's source once and checks the result:
// it must equal the committed fixture byte for byte (so fixtures can never drift
// from their source), match the source value for value, and show what
// shared/nvml-recordings/README.md states about the recording.
func TestConvertPython(t *testing.T) {
	t.Parallel()
	facts := readmeFacts()
	for _, f := range loadFixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			rec := convertFixture(t, f)
			t.Run("golden", func(t *testing.T) {
				var got bytes.Buffer
				require.NoError(t, Encode(&got, rec))
				want, err := os.ReadFile(filepath.Join(fixturesDir, f.name))
				require.NoError(t, err)
				requireSameBytes(t, want, got.Bytes(), f.name+" (regenerate: see testdata/recordings/README.md)")
			})
			t.Run("matches source", func(t *testing.T) { checkMatchesSource(t, f, rec) })
			t.Run("v1 used is v2 reserved at idle", func(t *testing.T) {
				first := rec.Samples[0].Devices[0].Memory
				require.True(t, first.OK())
				assert.Zero(t, first.Value.Used)
				assert.Equal(t, rec.Devices[0].MemoryV1.Value.Used, first.Value.Reserved)
			})
			for _, fact := range facts[f.name] {
				t.Run(fact.name, func(t *testing.T) { fact.check(t, rec) })
			}
		})
	}
}

// requireSameBytes fails with the first differing line rather than a megabyte diff.
func requireSameBytes(t *testing.T, want, got []byte, what string) {
	t.Helper()
	if bytes.Equal(want, got) {
		return
	}
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := range min(len(wl), len(gl)) {
		if wl[i] != gl[i] {
			t.Fatalf("%s: line %d differs:\nwant %s\ngot  %s", what, i+1, wl[i], gl[i])
		}
	}
	t.Fatalf("%s: %d lines, want %d", what, len(gl), len(wl))
}

// readmeFact is something shared/nvml-recordings/README.md states about one recording.
type readmeFact struct {
	name  string
	check func(t *testing.T, rec *Recording)
}

// readmeFacts returns the README's facts by fixture name.
func readmeFacts() map[string][]readmeFact {
	return map[string][]readmeFact{
		"h200-inference-ramp.json": {{"GPM metric 10 is NaN in the first interval", func(t *testing.T, rec *Recording) {
			var found bool
			for _, g := range rec.Samples[0].Devices[0].GPM {
				if g.ID == 10 {
					found = true
					assert.True(t, math.IsNaN(float64(g.Value)), "metric 10 = %v", g.Value)
				}
			}
			assert.True(t, found, "no GPM metric 10 in the first sample")
		}}},
		"h100-two-tenants.json": {{"a sample lists two processes", func(t *testing.T, rec *Recording) {
			most := 0
			for _, s := range rec.Samples {
				most = max(most, len(s.Devices[0].Processes.Value))
			}
			assert.Equal(t, 2, most)
		}}},
	}
}

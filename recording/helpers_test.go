// SPDX-License-Identifier: Apache-2.0

package recording

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fixturesDir holds the committed recordings converted from shared/nvml-recordings.
const fixturesDir = "../testdata/recordings"

// sourceRoot is the directory that holds shared/ beside the clone, as CI lays it out.
const sourceRoot = "../.."

// fixture is one committed recording and the source file its Source names.
type fixture struct {
	name   string // file name under testdata/recordings
	source string // Source: "shared/nvml-recordings/… (…)"
	path   string // the source file, relative to this package
}

// requireShared skips the test when shared/nvml-recordings is absent on a
// developer machine, and fails it in CI (CI set), where it must be present.
func requireShared(t *testing.T) {
	t.Helper()
	dir := filepath.Join(sourceRoot, "shared", "nvml-recordings")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("%s absent (and CI unset): %v", dir, err)
		}
		t.Fatalf("%s absent in CI: %v", dir, err)
	}
}

// loadFixtures returns every committed recording and the source file it names.
func loadFixtures(t *testing.T) []fixture {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(fixturesDir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	out := make([]fixture, 0, len(paths))
	for _, p := range paths {
		rec, err := Load(p)
		require.NoError(t, err)
		src, _, _ := strings.Cut(rec.Source, " ")
		require.True(t, strings.HasPrefix(src, "shared/nvml-recordings/"), "%s: source %q", p, rec.Source)
		out = append(out, fixture{
			name:   filepath.Base(p),
			source: rec.Source,
			path:   filepath.Join(sourceRoot, filepath.FromSlash(src)),
		})
	}
	return out
}

// fixtureByName returns the committed fixture called name.
func fixtureByName(t *testing.T, name string) fixture {
	t.Helper()
	for _, f := range loadFixtures(t) {
		if f.name == name {
			return f
		}
	}
	t.Fatalf("no fixture %s in %s", name, fixturesDir)
	return fixture{}
}

// convertFixture converts f's source file as the fixture was made.
func convertFixture(t *testing.T, f fixture) *Recording {
	t.Helper()
	requireShared(t)
	file, err := os.Open(f.path)
	require.NoError(t, err)
	defer file.Close()
	rec, err := ConvertPython(file, f.source)
	require.NoError(t, err)
	return rec
}

// readSource reads f's source document generically (numbers as json.Number, bare
// NaN and Infinity as the converter's marker strings), for tests to compare the
// converted values against the source rather than against typed numbers.
func readSource(t *testing.T, path string) map[string]any {
	t.Helper()
	requireShared(t)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(quoteNonFinite(data)))
	dec.UseNumber()
	var doc map[string]any
	require.NoError(t, dec.Decode(&doc))
	return doc
}

// at walks v by object keys (string) and array indexes (int).
func at(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			require.True(t, ok, "%v: not an object at %q", path, k)
			v, ok = m[k]
			require.True(t, ok, "%v: no key %q", path, k)
		case int:
			s, ok := v.([]any)
			require.True(t, ok, "%v: not an array at %d", path, k)
			require.Less(t, k, len(s), "%v", path)
			v = s[k]
		}
	}
	return v
}

// num returns the JSON number at path as a decimal string.
func num(t *testing.T, v any, path ...any) string {
	t.Helper()
	n, ok := at(t, v, path...).(json.Number)
	require.True(t, ok, "%v is not a number", path)
	return n.String()
}

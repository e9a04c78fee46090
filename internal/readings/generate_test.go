// SPDX-License-Identifier: Apache-2.0

package readings

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGeneratedFilesAreCurrent fails when a generated file differs from what
// Fields renders: Fields changed without `go generate ./internal/readings`, or
// a generated file was edited by hand.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	t.Parallel()
	files, err := Generate(Fields, GPM)
	require.NoError(t, err)
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(f.Path)))
		require.NoError(t, err, "run go generate ./internal/readings")
		assert.Equal(t, string(f.Data), string(got), "%s is stale: run go generate ./internal/readings", f.Path)
	}
}

// TestGenerateRejectsBadGo: a row whose Go does not parse is an error naming
// the file, not a file written broken.
func TestGenerateRejectsBadGo(t *testing.T) {
	t.Parallel()
	bad := append([]Field{}, Fields...)
	bad = append(bad, Field{Counter: &Counter{Name: "Broken", Doc: "nothing", Method: "Broken",
		Static: true, Metric: "X", Scale: "1 +"}})
	_, err := Generate(bad, GPM)
	require.ErrorContains(t, err, "generate scaler/reading_gen.go")
}

// TestGenerateRejectsIncompleteCounter: a sampled counter without its script
// keyword (or any name a stage needs) is an error naming the counter and the
// field, not a fake that cannot parse its own script.
func TestGenerateRejectsIncompleteCounter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		c    Counter
		want string
	}{
		{"no script keyword", Counter{Name: "Fan", Doc: "d", Method: "M", Sample: "S", JSON: "j", Py: "p",
			What: "w", Symbol: "nvmlX"}, `counter "Fan": Script is empty`},
		{"plain without about", Counter{Name: "Fan", Doc: "d", Method: "M", Static: true, Plain: true,
			Symbol: "nvmlX"}, `counter "Fan": About is empty`},
		{"metric without scale", Counter{Name: "Fan", Doc: "d", Method: "M", Static: true, Metric: "X"},
			`counter "Fan": Scale is empty`},
		{"generation out of range", Counter{Name: "Fan", Doc: "d", Method: "M", Static: true, Since: 4},
			`counter "Fan": Since 4: want a fake driver generation 0 to 3`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := tc.c
			_, err := Generate(append(append([]Field{}, Fields...), Field{Counter: &c}), GPM)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

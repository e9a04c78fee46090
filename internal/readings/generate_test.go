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

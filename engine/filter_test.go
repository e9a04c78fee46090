// SPDX-License-Identifier: Apache-2.0

package engine_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/engine"
)

// Skipping unknown families must not change a single reading.
func TestParseKnownReadsTheSameAsParse(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "engines", "*.txt"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		body := fixture(t, filepath.Base(file))
		for _, b := range [][]byte{body, engines(t, body, 3)} {
			all, err := engine.Parse(b, "", 0)
			require.NoError(t, err)
			some, err := engine.ParseKnown(b, "", 0)
			require.NoError(t, err)
			assert.Less(t, len(some), len(all)+1)
			p, err := engine.Detect(all)
			require.NoError(t, err)
			q, err := engine.Detect(some)
			require.NoError(t, err)
			require.Equal(t, p, q, file)
			assert.Equal(t, p.Read(all, "", time.Time{}), p.Read(some, "", time.Time{}), file)
		}
	}
}

// SPDX-License-Identifier: Apache-2.0

package recording

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The checked-in recordings predate the engines section and still load,
// without one.
func TestRecordingsWithoutEngines(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob("../testdata/recordings/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	for _, p := range paths {
		rec, err := Load(p)
		require.NoError(t, err, p)
		assert.Nil(t, rec.Engines, p)
		assert.NotContains(t, encoded(t, rec), `"engines"`, "an absent section is not written")
	}
}

// engineSection is a valid section for format tests; the bytes stand for a
// gzip body, which Decode does not inflate (the engine replay does).
func engineSection() *Engines {
	return &Engines{IntervalNanos: 1e9, Targets: []EngineTarget{{Name: "a", URL: "http://a/metrics"},
		{Name: "llm/b", URL: "http://10.0.0.7:8000/metrics", Namespace: "llm", GPUs: []string{"GPU-1"}, Engine: "vllm"}},
		Scrapes: []EngineScrape{
			{OffsetNanos: -5, Target: "a", Error: "scrape http://a/metrics: status 503 Service Unavailable: scrape failed", Result: "error"},
			{OffsetNanos: 0, Target: "a", BodyGzip: []byte{1}},
			{OffsetNanos: 0, Target: "llm/b", BodyGzip: []byte{2}},
			{OffsetNanos: 1e9, Target: "a", Same: true},
		}}
}

func TestEnginesRoundTrip(t *testing.T) {
	t.Parallel()
	rec := smallRecording()
	rec.Engines = engineSection()
	back, err := Decode(strings.NewReader(encoded(t, rec)))
	require.NoError(t, err)
	assert.Equal(t, rec.Engines, back.Engines)
}

func TestEnginesRejects(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		edit func(e *Engines)
		want string
	}{
		{"no interval", func(e *Engines) { e.IntervalNanos = 0 }, "engines.intervalNs 0"},
		{"no targets", func(e *Engines) { e.Targets = nil }, "engines.targets is empty"},
		{"repeated name", func(e *Engines) { e.Targets[1].Name = "a" }, `engines.targets[1] name "a": want a unique`},
		{"pod name", func(e *Engines) { e.Targets[1].Name = "b" }, `engines.targets[1] "b" (namespace "llm"): a pod's name is namespace/name`},
		{"GPUs without pod", func(e *Engines) { e.Targets[0].GPUs = []string{"GPU-1"} }, `engines.targets[0] "a" (namespace ""): `},
		{"unknown target", func(e *Engines) { e.Scrapes[1].Target = "c" }, `engines.scrapes[1] names target "c"`},
		{"back in time", func(e *Engines) { e.Scrapes[2].OffsetNanos = -10 }, "engines.scrapes[2] offset -10 ns goes back in time"},
		{"error and body", func(e *Engines) { e.Scrapes[0].BodyGzip = []byte{1} }, "engines.scrapes[0] (a): a failed scrape"},
		{"result without error", func(e *Engines) { e.Scrapes[1].Result = "timeout" }, `result "timeout" without an error`},
		{"neither body nor same", func(e *Engines) { e.Scrapes[1].BodyGzip = nil }, "want bodyGzip or same"},
		{"body and same", func(e *Engines) { e.Scrapes[1].Same = true }, "want bodyGzip or same"},
		{"same first", func(e *Engines) { e.Scrapes[2] = EngineScrape{Target: "llm/b", Same: true} }, "same, but the target has no earlier body"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := smallRecording()
			rec.Engines = engineSection()
			tt.edit(rec.Engines)
			require.ErrorContains(t, rec.Validate(), tt.want)
		})
	}
}

// A section naming a field this version does not know is refused by name,
// with the file's path.
func TestEnginesUnknownField(t *testing.T) {
	t.Parallel()
	rec := smallRecording()
	rec.Engines = engineSection()
	s := strings.Replace(encoded(t, rec), `"intervalNs"`, `"bodyZstd": "x", "intervalNs"`, 1)
	path := filepath.Join(t.TempDir(), "rec.json")
	require.NoError(t, os.WriteFile(path, []byte(s), 0o600))
	_, err := Load(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "recording "+path)
	assert.Contains(t, err.Error(), `unknown field "bodyZstd"`)
}

// SPDX-License-Identifier: Apache-2.0

package recording

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// smallRecording is a minimal valid recording for format tests; its values are
// placeholders, not NVML answers (those come only from converted recordings).
func smallRecording() *Recording {
	return &Recording{
		Format: Format,
		Source: "test",
		Devices: []Device{
			{Index: 0, Name: Ok("gpu0")},
			{Index: 1, Name: Fail[string](3)},
		},
		Phases: []Phase{{Name: "a"}, {Name: "b", OffsetNanos: 5}},
		Samples: []Sample{
			{OffsetNanos: 0, Devices: []DeviceSample{{PowerMilliwatts: Ok[uint32](1)}, {PowerMilliwatts: Fail[uint32](15)}}},
			{OffsetNanos: 10, Devices: []DeviceSample{{}, {}}},
		},
	}
}

// encoded returns rec as Encode writes it, failing the test on error.
func encoded(t *testing.T, rec *Recording) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, Encode(&b, rec))
	return b.String()
}

func TestDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	want := smallRecording()
	got, err := Decode(strings.NewReader(encoded(t, want)))
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Equal(t, int64(10), got.Duration())
	assert.Equal(t, "a", got.PhaseAt(4))
	assert.Equal(t, "b", got.PhaseAt(5))
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	valid := encoded(t, smallRecording())
	tests := []struct {
		name, input, want string
	}{
		{"empty", "", "decode"},
		{"not an object", "[]", "decode"},
		{"unknown top-level field", strings.Replace(valid, `"format"`, `"extra": 1, "format"`, 1), `unknown field "extra"`},
		{"unknown nested field", strings.Replace(valid, `"index": 0,`, `"index": 0, "serial": "x",`, 1), `unknown field "serial"`},
		{"wrong format", strings.Replace(valid, Format, "nvml-scaler/recording/v2", 1), `want "nvml-scaler/recording/v1"`},
		{"no format", strings.Replace(valid, `"format": "`+Format+`",`, "", 1), "format"},
		{"empty source", strings.Replace(valid, `"source": "test"`, `"source": ""`, 1), "source is empty"},
		{"trailing value", valid + `{}`, "trailing data"},
		{"trailing garbage", valid + `x`, "trailing data"},
		{"trailing bracket", valid + `]`, "trailing data"},
		{"trailing brace", valid + `}`, "trailing data"},
		{"bad float", strings.Replace(valid, `"samples": [`, `"samples": [{"offsetNs": 0, "devices": [{"gpm": [{"id": 1, "value": "nan"}]}, {}]},`, 1), "float"},
		{"no samples", replaceSamples(t, valid, `[]`), "no samples"},
		{"sample with too few devices", replaceSamples(t, valid, `[{"offsetNs": 0, "devices": [{}]}]`), "samples[0] has 1 devices: want 2"},
		{"sample going back", replaceSamples(t, valid, `[{"offsetNs": 5, "devices": [{}, {}]}, {"offsetNs": 4, "devices": [{}, {}]}]`), "samples[1] offset 4 ns goes back"},
		{"negative first sample", replaceSamples(t, valid, `[{"offsetNs": -1, "devices": [{}, {}]}]`), "samples[0] offset -1 ns"},
		{"device index", strings.Replace(valid, `"index": 1`, `"index": 2`, 1), "devices[1] has index 2: want 1"},
		{"phase going back", strings.Replace(valid, `"offsetNs": 5`, `"offsetNs": -5`, 1), `phases[1] "b" offset -5 ns goes back`},
		{"wrong type", strings.Replace(valid, `"index": 1`, `"index": "1"`, 1), "decode"},
		{"negative unsigned", strings.Replace(valid, `"index": 1`, `"index": -1`, 1), "decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.NotEqual(t, valid, tt.input, "the edit did not apply")
			_, err := Decode(strings.NewReader(tt.input))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// replaceSamples replaces the samples array of an encoded recording (the last
// member Encode writes) with samples.
func replaceSamples(t *testing.T, encoded, samples string) string {
	t.Helper()
	i := strings.Index(encoded, `"samples": [`)
	require.GreaterOrEqual(t, i, 0)
	return encoded[:i] + `"samples": ` + samples + "}\n"
}

func TestReadAll(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, input string
		limit       int
		wantErr     string
	}{
		{"under the limit", "abc", 4, ""},
		{"at the limit", "abcd", 4, ""},
		{"over the limit", "abcde", 4, "larger than 4 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readAll(strings.NewReader(tt.input), tt.limit)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.input, string(got))
		})
	}
}

func TestReadAllReadError(t *testing.T) {
	t.Parallel()
	_, err := readAll(iotest.ErrReader(io.ErrUnexpectedEOF), 10)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	_, err = Decode(iotest.ErrReader(io.ErrUnexpectedEOF))
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	_, err = ConvertPython(iotest.ErrReader(io.ErrUnexpectedEOF), "test")
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "r.json")
	require.NoError(t, os.WriteFile(path, []byte(encoded(t, smallRecording())), 0o600))
	rec, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, "test", rec.Source)

	_, err = Load(filepath.Join(dir, "missing.json"))
	assert.ErrorIs(t, err, os.ErrNotExist)

	require.NoError(t, os.WriteFile(path, []byte("{}"), 0o600))
	_, err = Load(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)
}

func TestEncodeValidates(t *testing.T) {
	t.Parallel()
	rec := smallRecording()
	rec.Samples = nil
	var b bytes.Buffer
	require.Error(t, Encode(&b, rec))
	assert.Zero(t, b.Len())
}

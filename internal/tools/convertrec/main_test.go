// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// repoRoot is the repository root, relative to this package.
const repoRoot = "../../.."

// requireShared skips the test when ../shared is absent on a developer machine,
// and fails it in CI (CI set), where it must be present.
func requireShared(t *testing.T) {
	t.Helper()
	dir := filepath.Join(repoRoot, "..", "shared", "nvml-recordings")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("%s absent (and CI unset): %v", dir, err)
		}
		t.Fatalf("%s absent in CI: %v", dir, err)
	}
}

func TestRunRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no flags", nil, "-in, -out and -source are all required"},
		{"no source", []string{"-in", "a", "-out", "b"}, "all required"},
		{"extra argument", []string{"-in", "a", "-out", "b", "-source", "s", "c"}, "unexpected arguments"},
		{"unknown flag", []string{"-bogus"}, "flag provided but not defined"},
		{"-all without dirs", []string{"-all"}, "exactly two arguments"},
		{"-all with -in", []string{"-all", "-in", "a", "x", "y"}, "no other flags"},
		{"missing input", []string{"-in", "does-not-exist.json", "-out", "o", "-source", "s"}, "open input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := run(tt.args, io.Discard, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestConvertFileLeavesOutputOnFailure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.json"), filepath.Join(dir, "out.json")
	require.NoError(t, os.WriteFile(in, []byte(`{"meta": NaN}`), 0o600))
	require.NoError(t, os.WriteFile(out, []byte("keep"), 0o600))
	err := run([]string{"-in", in, "-out", out, "-source", "s"}, io.Discard, io.Discard)
	require.Error(t, err)
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, "keep", string(got))
}

func TestSourceFile(t *testing.T) {
	t.Parallel()
	tests := []struct{ source, want, wantErr string }{
		{"shared/nvml-recordings/h200/steps.json (nvml_record.py)", "h200/steps.json", ""},
		{"shared/nvml-recordings/a.json", "a.json", ""},
		{"shared/nvml-recordings/../../etc/passwd (x)", "", "does not start with a file"},
		{"/abs/path.json", "", "does not start with a file"},
		{"shared/nvml-recordings/ (x)", "", "does not start with a file"},
		{"host gpu-7, live", "", "does not start with a file"},
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			t.Parallel()
			got, err := sourceFile(tt.source)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestRegenerateAll regenerates copies of the committed fixtures and requires
// them unchanged.
func TestRegenerateAll(t *testing.T) {
	t.Parallel()
	requireShared(t)
	fixtures := filepath.Join(repoRoot, "testdata", "recordings")
	paths, err := filepath.Glob(filepath.Join(fixtures, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	dst := t.TempDir()
	want := map[string][]byte{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		want[filepath.Base(p)] = data
		require.NoError(t, os.WriteFile(filepath.Join(dst, filepath.Base(p)), data, 0o600))
	}
	var stdout bytes.Buffer
	src := filepath.Join(repoRoot, "..", "shared", "nvml-recordings")
	require.NoError(t, run([]string{"-all", src, dst}, &stdout, io.Discard))
	for name, data := range want {
		got, err := os.ReadFile(filepath.Join(dst, name))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(data, got), "%s changed on regeneration", name)
		assert.Contains(t, stdout.String(), name)
	}
}

func TestRegenerateAllEmptyDir(t *testing.T) {
	t.Parallel()
	err := run([]string{"-all", t.TempDir(), t.TempDir()}, io.Discard, io.Discard)
	assert.ErrorContains(t, err, "no recordings")
}

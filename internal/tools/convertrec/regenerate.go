// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/nvml-scaler/nvml-scaler/recording"
)

// sourcePrefix starts the Source of every fixture converted from the shared
// recordings: "shared/nvml-recordings/<dir>/<file>.json (<how it was made>)".
const sourcePrefix = "shared/nvml-recordings/"

// sourceFile returns the path, relative to shared/nvml-recordings, of the file a
// fixture's Source names: its first word, which must start with sourcePrefix.
func sourceFile(source string) (string, error) {
	path, _, _ := strings.Cut(source, " ")
	rel, ok := strings.CutPrefix(path, sourcePrefix)
	if !ok || rel == "" || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("source %q does not start with a file under %s", source, sourcePrefix)
	}
	return rel, nil
}

// regenerateAll reconverts every *.json recording in dstDir from the file under
// srcDir (shared/nvml-recordings) that its Source names, keeping the Source, so
// the fixture's own provenance is the only list of what to regenerate.
func regenerateAll(srcDir, dstDir string, stdout io.Writer) error {
	paths, err := filepath.Glob(filepath.Join(dstDir, "*.json"))
	if err != nil {
		return fmt.Errorf("list recordings: %w", err)
	}
	if len(paths) == 0 {
		return fmt.Errorf("no recordings (*.json) in %s", dstDir)
	}
	for _, out := range paths {
		rec, err := recording.Load(out)
		if err != nil {
			return err
		}
		rel, err := sourceFile(rec.Source)
		if err != nil {
			return fmt.Errorf("%s: %w", out, err)
		}
		in := filepath.Join(srcDir, filepath.FromSlash(rel))
		if _, err := os.Stat(in); err != nil {
			return fmt.Errorf("%s: source: %w", out, err)
		}
		if err := convertFile(in, out, rec.Source); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s from %s\n", out, in)
	}
	return nil
}

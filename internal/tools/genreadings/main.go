// SPDX-License-Identifier: Apache-2.0

// Command genreadings writes the files generated from readings.Fields (see
// package readings) under the module root given by -root:
//
//	go generate ./internal/readings
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nvml-scaler/nvml-scaler/internal/readings"
)

func main() {
	root := flag.String("root", ".", "the module root the generated files' paths are relative to")
	flag.Parse()
	if err := run(*root); err != nil {
		fmt.Fprintln(os.Stderr, "genreadings:", err)
		os.Exit(1)
	}
}

func run(root string) error {
	files, err := readings.Generate(readings.Fields, readings.GPM)
	if err != nil {
		return err
	}
	for _, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f.Path))
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}

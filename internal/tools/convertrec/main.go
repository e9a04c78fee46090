// SPDX-License-Identifier: Apache-2.0

// Command convertrec converts recordings made by shared/tools/nvml_record.py into
// the project's recording format (see package recording), written indented with
// recording.Encode as the fixtures under testdata/recordings are kept.
//
// Convert one file, naming its provenance:
//
//	go run ./internal/tools/convertrec \
//		-in ../shared/nvml-recordings/h200-sxm-driver580/steps.json \
//		-out testdata/recordings/h200-steps.json \
//		-source "shared/nvml-recordings/h200-sxm-driver580/steps.json (nvml_record.py, driver 580.159.04)"
//
// Regenerate every fixture in a directory from the file its Source names (the
// first word of Source, a path under shared/nvml-recordings/), keeping its Source:
//
//	go run ./internal/tools/convertrec -all ../shared/nvml-recordings testdata/recordings
//
// testdata/recordings/README.md lists the command for each fixture.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/nvml-scaler/nvml-scaler/recording"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "convertrec:", err)
		os.Exit(1)
	}
}

// options holds the command line.
type options struct {
	in, out, source string
	all             bool
}

// run parses args and converts; it reports each file written to stdout, and
// usage and flag errors to stderr.
func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("convertrec", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.in, "in", "", "nvml_record.py JSON file to convert")
	fs.StringVar(&o.out, "out", "", "recording file to write")
	fs.StringVar(&o.source, "source", "", "provenance stored in the recording: the source file and how it was made")
	fs.BoolVar(&o.all, "all", false, "regenerate every recording in DSTDIR from SRCDIR (args: SRCDIR DSTDIR)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.all {
		if fs.NArg() != 2 || o.in != "" || o.out != "" || o.source != "" {
			return errors.New("-all takes exactly two arguments, SRCDIR and DSTDIR, and no other flags")
		}
		return regenerateAll(fs.Arg(0), fs.Arg(1), stdout)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.in == "" || o.out == "" || o.source == "" {
		return errors.New("-in, -out and -source are all required")
	}
	if err := convertFile(o.in, o.out, o.source); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", o.out)
	return nil
}

// convertFile converts in to out with the given provenance; out is left
// untouched when conversion fails.
func convertFile(in, out, source string) error {
	f, err := os.Open(in)
	if err != nil {
		return fmt.Errorf("open input: %w", err)
	}
	defer f.Close()
	rec, err := recording.ConvertPython(f, source)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	var buf bytes.Buffer
	if err := recording.Encode(&buf, rec); err != nil {
		return fmt.Errorf("encode %s: %w", out, err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

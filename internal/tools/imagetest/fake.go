// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/recording"
)

// scriptName is where the fake library looks for its script by default: next
// to itself.
const scriptName = "fakenvml.script"

func runFake(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("imagetest fake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory to write "+fakenvml.LibName+" and "+scriptName+" into")
	recPath := fs.String("recording", "testdata/recordings/h200-inference-ramp.json", "single-GPU recording to replay")
	gpus := fs.Int("gpus", 2, "GPUs the fake has: the recording's GPU replicated")
	speed := fs.Float64("speed", 1, "replay speed: the fake follows wall time at this rate")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 0 {
		return fmt.Errorf("fake: want -out DIR and no arguments")
	}
	lib, script, err := fake(*recPath, *gpus, *speed)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	// 0644 and 0755: readable by the image's non-root user.
	if err := os.WriteFile(filepath.Join(*out, fakenvml.LibName), lib, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, scriptName), script, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "fake NVML: %s with %d GPU(s) replaying %s at %gx in %s\n", fakenvml.LibName, *gpus, *recPath, *speed, *out)
	return nil
}

// fake returns the built library and the script that replays recPath on gpus
// GPUs following wall time at speed.
func fake(recPath string, gpus int, speed float64) (lib, script []byte, err error) {
	rec, err := recording.Load(recPath)
	if err != nil {
		return nil, nil, err
	}
	if gpus != 1 {
		if rec, err = fakenvml.Replicate(rec, gpus); err != nil {
			return nil, nil, err
		}
	}
	var buf bytes.Buffer
	if err := fakenvml.WriteScript(&buf, rec, fakenvml.Clock(speed)); err != nil {
		return nil, nil, err
	}
	path, err := fakenvml.Build(fakenvml.Modern)
	if err != nil {
		return nil, nil, err
	}
	lib, err = os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return lib, buf.Bytes(), nil
}

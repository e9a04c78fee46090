// SPDX-License-Identifier: Apache-2.0

// Command imagetest holds the Go half of `make image-test` (hack/image-test.sh),
// which proves Dockerfile.distroless's recipe without a Docker engine: the
// script builds the binary as the Dockerfile does, assembles a root file system
// from Debian's libc6 package, and runs the binary inside it. This command does
// the parts that are easier to get right in Go than in shell:
//
//	imagetest fake  -out DIR [-recording FILE] [-gpus N] [-speed X]
//	    builds the fake libnvidia-ml.so.1 (internal/fakenvml, needs a C
//	    compiler) into DIR with its fakenvml.script, replaying FILE on N GPUs
//	    at X times real time, so the binary finds "NVML" in the root.
//	imagetest elf   -arch amd64|arm64 FILE
//	    checks that FILE is a dynamically linked Linux executable for the
//	    architecture, with glibc's loader as interpreter and no library
//	    outside libc6 among its NEEDED entries: what base-nossl provides.
//	imagetest probe -gpus N [-model NAME] < probe.json
//	    checks `nvml-scaler probe -o json` output: N healthy GPUs of the
//	    model, each with SM activity.
//
// Each prints one line saying what it checked, and exits 1 with the reason
// when a check fails.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "imagetest:", err)
		os.Exit(1)
	}
}

// run dispatches to a subcommand.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("want a subcommand: fake, elf, probe, kubelet, nocaps or nodeapi")
	}
	switch args[0] {
	case "fake":
		return runFake(args[1:], stdout, stderr)
	case "elf":
		return runELF(args[1:], stdout, stderr)
	case "probe":
		return runProbe(args[1:], stdin, stdout, stderr)
	case "kubelet":
		return runKubelet(args[1:], stderr)
	case "nocaps":
		return runNoCaps(args[1:], stderr)
	case "nodeapi":
		return runNodeAPI(args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown subcommand %q: want fake, elf, probe, kubelet, nocaps or nodeapi", args[0])
}

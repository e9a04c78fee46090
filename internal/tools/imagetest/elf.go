// SPDX-License-Identifier: Apache-2.0

package main

import (
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// arch is what base-nossl-debian12 gives a binary of one architecture.
type arch struct {
	machine elf.Machine
	// interp is glibc's loader at the path Debian's libc6 installs it, the
	// PT_INTERP the Go linker writes for linux/<arch>.
	interp string
}

var arches = map[string]arch{
	"amd64": {elf.EM_X86_64, "/lib64/ld-linux-x86-64.so.2"},
	"arm64": {elf.EM_AARCH64, "/lib/ld-linux-aarch64.so.1"},
}

// libc6Sonames are the NEEDED entries libc6 satisfies. A binary needing
// anything else (libssl, libstdc++, …) does not run on base-nossl.
var libc6Sonames = []string{"libc.so.6", "libdl.so.2", "libpthread.so.0", "libm.so.6", "librt.so.1"}

func runELF(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("imagetest elf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	archName := fs.String("arch", "amd64", "GOARCH the binary was built for: amd64 or arm64")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("elf: want one FILE")
	}
	a, ok := arches[*archName]
	if !ok {
		return fmt.Errorf("elf: -arch %q: want amd64 or arm64", *archName)
	}
	needed, err := checkELF(fs.Arg(0), a)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ELF %s, interpreter %s, NEEDED %s\n", fs.Arg(0), a.machine, a.interp, strings.Join(needed, " "))
	return nil
}

// checkELF checks path against a and returns its NEEDED entries.
func checkELF(path string, a arch) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if f.Machine != a.machine || f.Class != elf.ELFCLASS64 {
		return nil, fmt.Errorf("%s: machine %s class %s: want %s ELFCLASS64", path, f.Machine, f.Class, a.machine)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return nil, fmt.Errorf("%s: type %s: want an executable", path, f.Type)
	}
	interp, err := interpreter(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if interp != a.interp {
		return nil, fmt.Errorf("%s: interpreter %q: want %q", path, interp, a.interp)
	}
	needed, err := f.ImportedLibraries()
	if err != nil {
		return nil, fmt.Errorf("%s: NEEDED: %w", path, err)
	}
	for _, lib := range needed {
		if !slices.Contains(libc6Sonames, lib) {
			return nil, fmt.Errorf("%s: NEEDED %s: base-nossl has only libc6's %s", path, lib, strings.Join(libc6Sonames, ", "))
		}
	}
	return needed, nil
}

// interpreter returns the PT_INTERP path, or an error for a static binary
// (which distroless/static could run, so the Dockerfile's base would be wrong).
func interpreter(f *elf.File) (string, error) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(p.Open())
		if err != nil {
			return "", fmt.Errorf("PT_INTERP: %w", err)
		}
		return strings.TrimRight(string(b), "\x00"), nil
	}
	return "", errors.New("no PT_INTERP: statically linked, want glibc's loader")
}

// SPDX-License-Identifier: Apache-2.0

package fakenvml

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Variant is the driver generation the built library imitates.
type Variant int

const (
	// Modern imitates driver 580: the unversioned and the versioned names
	// (nvmlInit_v2, nvmlDeviceGetMemoryInfo_v2, …_v3) and GPM.
	Modern Variant = iota
	// OldDriver exports only the unversioned names (nvmlInit,
	// nvmlDeviceGetMemoryInfo with the v1 struct,
	// nvmlDeviceGetComputeRunningProcesses with the 16-byte v1 entries,
	// nvmlDeviceGetPciInfo with the 52-byte v1 struct) and no nvmlGpm*.
	OldDriver
	// R535 imitates drivers 535.43–535.86: Modern's names, but
	// nvmlDeviceGetComputeRunningProcesses_v3 writes 32-byte entries (an
	// extra usedGpuCcProtectedMemory at offset 24) where the header declares
	// 24, and the library exports nvmlDeviceGetConfComputeMemSizeInfo but not
	// nvmlDeviceGetRunningProcessDetailList.
	R535
	// PreR450 is OldDriver without any MIG function
	// (nvmlDeviceGetMaxMigDeviceCount and the rest arrived in R450).
	PreR450
)

func (v Variant) String() string {
	switch v {
	case Modern:
		return "modern"
	case OldDriver:
		return "old-driver"
	case R535:
		return "r535"
	case PreR450:
		return "pre-r450"
	}
	return fmt.Sprintf("Variant(%d)", int(v))
}

func (v Variant) valid() bool { return v >= Modern && v <= PreR450 }

// generation orders the variants by age, as the second column of
// FAKE_SYMBOLS in fakenvml.h does: a symbol is exported by the variants whose
// generation is at least its own.
func (v Variant) generation() int {
	switch v {
	case PreR450:
		return 0
	case OldDriver:
		return 1
	case R535:
		return 2
	}
	return 3
}

// LibName is the file name of the built library, the name NVML has.
const LibName = "libnvidia-ml.so.1"

// ErrNoCompiler is wrapped by the error [Build] returns when no C compiler
// can be found; [New] then skips the test, or fails it when $CI is set.
var ErrNoCompiler = errors.New("no C compiler")

// Builder compiles the fake library. The zero Builder uses $CC (else "cc")
// from PATH, finds the C sources in testdata/fakenvml of the module above the
// working directory, and caches libraries under the user cache directory.
type Builder struct {
	// CC is the compiler command, possibly with arguments ("gcc -m64").
	CC string
	// SourceDir holds fakenvml.h and the .c files.
	SourceDir string
	// CacheDir holds built libraries, one directory per hash of the
	// compiler, flags and sources.
	CacheDir string
}

// builds memoizes [Build] for the life of the process: compiling takes about
// a second and the result cannot change while the process runs. This is the
// package's only package-level state.
var builds [PreR450 + 1]struct {
	once sync.Once
	path string
	err  error
}

// Build compiles variant v with the zero [Builder], once per process, and
// returns the path of the cached library. Callers must not modify or delete
// it: copy it (as [New] does) to get a library with its own state. The error
// wraps [ErrNoCompiler] when there is no compiler.
func Build(v Variant) (string, error) {
	if !v.valid() {
		return "", fmt.Errorf("build fake NVML: unknown variant %d", int(v))
	}
	b := &builds[v]
	b.once.Do(func() { b.path, b.err = Builder{}.Build(v) })
	return b.path, b.err
}

// Build compiles variant v unless the cache already holds it, and returns the
// library's path in the cache.
func (b Builder) Build(v Variant) (string, error) {
	if !v.valid() {
		return "", fmt.Errorf("build fake NVML: unknown variant %d", int(v))
	}
	return b.build(cflags(v), "")
}

// cflags are the compiler flags of variant v, before the sources.
func cflags(v Variant) []string {
	f := []string{"-std=gnu11", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror",
		"-fvisibility=hidden", "-Wl,-soname," + LibName}
	switch v {
	case OldDriver:
		f = append(f, "-DFAKE_OLD_DRIVER")
	case R535:
		f = append(f, "-DFAKE_R535")
	case PreR450:
		f = append(f, "-DFAKE_PRE_R450")
	}
	return f
}

// libs are the libraries linked after the sources.
var libs = []string{"-lpthread", "-ldl", "-lm"}

// build compiles the fake's sources (or, when main is set, that one file)
// with flags and returns the cached output.
func (b Builder) build(flags []string, main string) (string, error) {
	cc, err := b.compiler()
	if err != nil {
		return "", err
	}
	dir, err := b.sourceDir()
	if err != nil {
		return "", err
	}
	sources, key, err := hashSources(dir, main, cc, flags)
	if err != nil {
		return "", err
	}
	cache, err := b.cacheDir()
	if err != nil {
		return "", err
	}
	outDir := filepath.Join(cache, key)
	name := LibName
	if main != "" {
		name = strings.TrimSuffix(main, ".c")
	}
	out := filepath.Join(outDir, name)
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", fmt.Errorf("build fake NVML: %w", err)
	}
	if err := compile(cc, flags, sources, outDir, out); err != nil {
		return "", err
	}
	return out, nil
}

// compile runs the compiler into a temporary file and renames it into place,
// so concurrent test processes never see half a library.
func compile(cc, flags, sources []string, dir, out string) error {
	tmp, err := os.CreateTemp(dir, ".build-*")
	if err != nil {
		return fmt.Errorf("build fake NVML: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	var args []string
	args = append(args, cc[1:]...)
	args = append(args, flags...)
	args = append(args, "-o", tmp.Name())
	args = append(args, sources...)
	args = append(args, libs...)
	cmd := exec.Command(cc[0], args...)
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build fake NVML: %s %s: %w\n%s", cc[0], strings.Join(args, " "), err, stderr.String())
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("build fake NVML: %w", err)
	}
	return nil
}

// compiler resolves the compiler command: b.CC, else $CC, else cc.
func (b Builder) compiler() ([]string, error) {
	cmd := b.CC
	if cmd == "" {
		cmd = os.Getenv("CC")
	}
	if cmd == "" {
		cmd = "cc"
	}
	fields := strings.Fields(cmd)
	path, err := exec.LookPath(fields[0])
	if err != nil {
		return nil, fmt.Errorf("build fake NVML: %w: %q (from $CC or the default cc) is not on PATH", ErrNoCompiler, fields[0])
	}
	fields[0] = path
	return fields, nil
}

// sourceDir returns b.SourceDir, else testdata/fakenvml in the nearest
// directory at or above the working directory that has one.
func (b Builder) sourceDir() (string, error) {
	if b.SourceDir != "" {
		return b.SourceDir, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("build fake NVML: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		src := filepath.Join(dir, "testdata", "fakenvml")
		if _, err := os.Stat(filepath.Join(src, "fakenvml.h")); err == nil {
			return src, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("build fake NVML: no testdata/fakenvml/fakenvml.h at or above %s", wd)
		}
	}
}

func (b Builder) cacheDir() (string, error) {
	if b.CacheDir != "" {
		return b.CacheDir, nil
	}
	if dir, err := os.UserCacheDir(); err == nil {
		dir = filepath.Join(dir, "nvml-scaler", "fakenvml")
		if os.MkdirAll(dir, 0o755) == nil {
			return dir, nil
		}
	}
	dir := filepath.Join(os.TempDir(), "nvml-scaler-fakenvml")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build fake NVML: cache: %w", err)
	}
	return dir, nil
}

// hashSources lists the library's sources in dir (or main alone, when set)
// and hashes them with every header, the compiler's identity and the flags.
func hashSources(dir, main string, cc, flags []string) ([]string, string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, "", fmt.Errorf("build fake NVML: %w", err)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".c") || strings.HasSuffix(n, ".h") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	h := sha256.New()
	version, _ := exec.Command(cc[0], "--version").Output()
	fmt.Fprintf(h, "%q\n%s\n%q\n%q\n", cc, version, flags, libs)
	var sources []string
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, "", fmt.Errorf("build fake NVML: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", n, len(data))
		h.Write(data)
		isSource := strings.HasSuffix(n, ".c") && n != selftestSource
		if main != "" {
			isSource = n == main
		}
		if isSource {
			sources = append(sources, filepath.Join(dir, n))
		}
	}
	if len(sources) == 0 {
		return nil, "", fmt.Errorf("build fake NVML: no C sources in %s", dir)
	}
	return sources, hex.EncodeToString(h.Sum(nil))[:24], nil
}

// selftestSource is the C test driver in the source directory; it is not
// part of the library.
const selftestSource = "selftest.c"

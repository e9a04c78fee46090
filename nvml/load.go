// SPDX-License-Identifier: Apache-2.0

package nvml

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ebitengine/purego"

	"github.com/nvml-scaler/nvml-scaler/internal/regfile"
)

// PrecheckTimeout bounds the read of a candidate library's first bytes before
// it is handed to dlopen. dlopen cannot be interrupted and holds the dynamic
// loader's lock while it reads, so a file on a hung mount (or a FIFO) would
// wedge the whole process: no new OS thread could start. A candidate that does
// not answer within the bound is skipped and never handed to dlopen.
const PrecheckTimeout = 5 * time.Second

// LibraryName is the soname NVML is loaded by.
const LibraryName = "libnvidia-ml.so.1"

// DefaultSearchDirs returns the directories tried, in order, after the dynamic
// loader's own search (LD_LIBRARY_PATH, ld.so.cache): where the NVIDIA container
// toolkit, the GPU operator's driver container and distribution packages put the
// library.
func DefaultSearchDirs() []string {
	return []string{
		"/usr/local/nvidia/lib64",
		"/run/nvidia/driver/usr/lib/x86_64-linux-gnu",
		"/run/nvidia/driver/usr/lib/aarch64-linux-gnu",
		"/usr/lib/x86_64-linux-gnu",
		"/usr/lib/aarch64-linux-gnu",
		"/usr/lib64",
	}
}

// Library is a loaded libnvidia-ml. Create it with [Open]; call [Library.Init]
// before any other NVML call and [Library.Shutdown] when done.
type Library struct {
	path    string
	handle  uintptr
	fn      functions
	names   map[string]string // wanted symbol → the name actually resolved
	texts   map[Return]string // nvmlErrorString, read once at Open
	closed  atomic.Bool
	dlclose func(uintptr) error
}

// Option configures [Open].
type Option func(*openConfig)

type openConfig struct {
	path string
	dirs []string
}

// WithLibraryPath loads NVML from exactly this file and nowhere else.
func WithLibraryPath(path string) Option {
	return func(c *openConfig) { c.path = path }
}

// WithSearchDirs replaces [DefaultSearchDirs]() (the loader's own search still
// comes first).
func WithSearchDirs(dirs ...string) Option {
	return func(c *openConfig) { c.dirs = dirs }
}

// LoadError says that no candidate library could be loaded, listing each
// candidate and the loader's reason. It unwraps to [ErrLibraryNotFound].
type LoadError struct {
	Tried []LoadAttempt
}

// LoadAttempt is one path handed to dlopen and what went wrong.
type LoadAttempt struct {
	Path string
	Err  string
}

func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString("cannot load NVML (")
	b.WriteString(LibraryName)
	b.WriteString("); tried:")
	for _, a := range e.Tried {
		fmt.Fprintf(&b, "\n  %s: %s", a.Path, a.Err)
	}
	b.WriteString("\ncheck that the NVIDIA driver is installed on this node, that the container runs with" +
		" the NVIDIA container toolkit (runtimeClassName: nvidia, NVIDIA_VISIBLE_DEVICES=all," +
		" NVIDIA_DRIVER_CAPABILITIES=utility), or pass the library's path explicitly (--nvml-lib)")
	return b.String()
}

// Unwrap returns ErrLibraryNotFound.
func (e *LoadError) Unwrap() error { return ErrLibraryNotFound }

// Open loads NVML and resolves its symbols; it does not call nvmlInit.
//
// Search order: the path given with [WithLibraryPath] (alone, if given); else
// the dynamic loader's normal search for libnvidia-ml.so.1, then each of
// [DefaultSearchDirs] (or [WithSearchDirs]). A candidate given as a path is
// first checked to be a regular ELF file whose first bytes can be read within
// PrecheckTimeout; one that is not is skipped (a FIFO, a device, a hung
// mount). When nothing loads, the error is a
// [*LoadError] listing every attempt. A library that lacks nvmlInit (in any
// version) is rejected: it is not NVML.
func Open(opts ...Option) (*Library, error) {
	cfg := openConfig{dirs: DefaultSearchDirs()}
	for _, o := range opts {
		o(&cfg)
	}
	candidates := []string{LibraryName}
	for _, d := range cfg.dirs {
		candidates = append(candidates, filepath.Join(d, LibraryName))
	}
	if cfg.path != "" {
		candidates = []string{cfg.path}
	}
	var tried []LoadAttempt
	for _, path := range candidates {
		if err := precheck(path, PrecheckTimeout); err != nil {
			tried = append(tried, LoadAttempt{Path: path, Err: err.Error()})
			continue
		}
		h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_LOCAL)
		if err != nil {
			tried = append(tried, LoadAttempt{Path: path, Err: err.Error()})
			continue
		}
		lib, err := newLibrary(path, h)
		if err != nil {
			_ = purego.Dlclose(h)
			tried = append(tried, LoadAttempt{Path: path, Err: err.Error()})
			continue
		}
		return lib, nil
	}
	return nil, &LoadError{Tried: tried}
}

// precheck returns nil when path is a bare soname (the loader searches for
// it) or a regular file starting with the ELF magic, read within timeout. On
// a timeout the reading goroutine is left behind, stuck in the read, rather
// than the process in dlopen.
func precheck(path string, timeout time.Duration) error {
	return precheckWith(path, timeout, readELFMagic)
}

func precheckWith(path string, timeout time.Duration, read func(string) error) error {
	if !strings.Contains(path, "/") {
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- read(path) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("reading its first bytes took over %v (a hung mount?): not loaded", timeout)
	}
}

func readELFMagic(path string) error {
	f, err := regfile.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return fmt.Errorf("not an ELF shared library: %w", err)
	}
	if string(magic[:]) != "\x7fELF" {
		return errors.New("not an ELF shared library")
	}
	return nil
}

func newLibrary(path string, h uintptr) (*Library, error) {
	lib := &Library{path: path, handle: h, names: map[string]string{}, dlclose: purego.Dlclose}
	lib.resolve()
	if lib.fn.init == nil {
		return nil, errors.New("not NVML: no nvmlInit_v2 or nvmlInit symbol")
	}
	lib.texts = make(map[Return]string, len(returnCodes))
	for r := range returnCodes {
		lib.texts[r] = r.Error()
		if lib.fn.errorString != nil {
			// A library older than a code answers it "Unknown Error": the
			// built-in text, from nvml.h, says more.
			if s := lib.fn.errorString(r); s != "" && (s != ErrUnknown.Error() || r == ErrUnknown) {
				lib.texts[r] = s
			}
		}
	}
	return lib, nil
}

// Path is the file the library was loaded from (as given to dlopen).
func (l *Library) Path() string { return l.path }

// Symbol reports which C symbol serves a function: for "nvmlDeviceGetMemoryInfo"
// it is "nvmlDeviceGetMemoryInfo_v2" on current drivers. It returns "" when the
// library has none of that function's versions.
func (l *Library) Symbol(name string) string { return l.names[name] }

// ErrorString is nvmlErrorString(r) as the loaded library answered it at Open,
// falling back to the built-in table.
func (l *Library) ErrorString(r Return) string {
	if s, ok := l.texts[r]; ok {
		return s
	}
	return r.Error()
}

// Close unloads the library. Call it after Shutdown; afterwards every method
// returns an error wrapping [ErrUninitialized]. Close must not run concurrently
// with other calls on l.
func (l *Library) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	if err := l.dlclose(l.handle); err != nil {
		return fmt.Errorf("dlclose %s: %w", l.path, err)
	}
	return nil
}

// SPDX-License-Identifier: Apache-2.0

// Package nvml is a minimal, cgo-free binding to the NVIDIA Management Library.
//
// It loads libnvidia-ml.so.1 at run time with github.com/ebitengine/purego, so
// programs that use it build with CGO_ENABLED=0 and cross-compile to linux/amd64
// and linux/arm64. The resulting binary is still dynamically linked (purego needs
// glibc's dynamic loader): it runs on distroless/base, not on distroless/static.
//
// # Loading
//
// [Open] finds the library (see [Open] for the search order), resolves every
// symbol once with dlsym, preferring the newest versioned name (_v3, then _v2,
// then the plain name). A symbol the driver does not export disables only the
// methods that need it: they return an error wrapping [ErrFunctionNotFound];
// nothing panics and the other methods keep working.
//
// # Errors
//
// NVML return codes are [Return] values, which implement error. Failed calls
// return a [*CallError] naming the C function, whose Unwrap gives the Return, so
// callers classify with errors.Is(err, nvml.ErrNotSupported) and similar.
//
// # Concurrency
//
// NVML itself is thread-safe, and a [Library] holds no mutable state after [Open]
// besides its closed flag: every method may be called from any goroutine. The one
// exception is [GPMSampler], which reuses a buffer and belongs to one goroutine.
// [Library.Close] must not run concurrently with other calls. NVML calls go through
// purego's runtime cgocall path, so a call that blocks in the driver blocks its
// goroutine's thread, not the Go scheduler.
//
// The package mirrors C structs in Go with explicit padding fields and
// compile-time size assertions (see structs.go); unsafe and purego are confined
// to this package.
package nvml

// SPDX-License-Identifier: Apache-2.0

// Package cli holds nvml-scaler's commands: serve, probe, query, record and
// version, built on cobra without globals. [Main] builds a fresh command tree
// per call, so tests run commands in-process with their own output buffers,
// environment and clock (see [Option]).
//
// # Exit codes
//
// 0 on success (and after SIGINT/SIGTERM end a long-running command cleanly),
// 1 when a command fails at run time, 2 on a usage error: an unknown command or
// flag, a bad flag value, a bad argument or bad trigger metadata. Errors are
// printed once to stderr as "nvml-scaler: <error>".
//
// # Environment
//
// Every flag can also be set as NVML_SCALER_<FLAG>, the flag's long name in
// upper snake case (--http-listen → NVML_SCALER_HTTP_LISTEN). A flag given on
// the command line wins. The exceptions are --help and record's --output.
package cli

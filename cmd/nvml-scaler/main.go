// SPDX-License-Identifier: Apache-2.0

// Command nvml-scaler is a KEDA external scaler that reads NVIDIA GPUs through
// NVML. Its commands live in package internal/cli; see docs/cli.md.
package main

import (
	"context"
	"os"

	"github.com/nvml-scaler/nvml-scaler/internal/cli"
)

// Set by the linker: -X main.version=v0.1.0 -X main.commit=abc1234 (see the
// Makefile). Empty values fall back to the module's build information.
var (
	version string
	commit  string
)

func main() {
	ctx, stop := cli.SignalContext(context.Background(), os.Stderr)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, cli.WithBuild(version, commit))
	stop()
	os.Exit(code)
}

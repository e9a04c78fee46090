// SPDX-License-Identifier: Apache-2.0

//go:build nvmlheader

// This file is never built (no build sets the nvmlheader tag). It only makes
// `go mod tidy` keep github.com/NVIDIA/go-nvml in go.mod: abi_test.go compiles
// a C program against that module's nvml.h, NVIDIA's own definitions. Nothing
// of go-nvml is compiled into any binary or test.
package nvml_test

import _ "github.com/NVIDIA/go-nvml/pkg/nvml"

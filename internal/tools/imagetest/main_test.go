// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no subcommand", nil, "want a subcommand"},
		{"unknown subcommand", []string{"bake"}, `unknown subcommand "bake"`},
		{"fake without -out", []string{"fake"}, "want -out DIR"},
		{"elf without file", []string{"elf"}, "want one FILE"},
		{"elf unknown arch", []string{"elf", "-arch", "riscv64", "x"}, `-arch "riscv64"`},
		{"elf missing file", []string{"elf", "testdata-that-does-not-exist"}, "no such file"},
		{"probe with args", []string{"probe", "x"}, "takes no arguments"},
		{"kubelet without pod", []string{"kubelet", "-socket", "s", "-uuids", "GPU-a"}, "want -socket PATH -pod NAMESPACE/NAME"},
		{"kubelet pod without namespace", []string{"kubelet", "-socket", "s", "-pod", "p", "-uuids", "GPU-a"}, "-pod NAMESPACE/NAME"},
		{"nocaps without command", []string{"nocaps", "-root", "/"}, "want -root DIR COMMAND"},
		{"nocaps without root", []string{"nocaps", "/nvml-scaler"}, "want -root DIR COMMAND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			err := run(tc.args, strings.NewReader(""), &out, &errb)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestProbe(t *testing.T) {
	t.Parallel()
	const gpu = `{"uuid":"GPU-%d","model":"NVIDIA H200","health":"ok","metrics":{"sm_active_percent":12.5}}`
	ok := `{"node":"n","source":"nvml","gpus":[` + strings.ReplaceAll(gpu, "%d", "0") + `,` + strings.ReplaceAll(gpu, "%d", "1") + `]}`
	for _, tc := range []struct {
		name, in, wantErr string
		args              []string
	}{
		{"two healthy H200s", ok, "", nil},
		{"wrong count", ok, "2 GPU(s): want 3", []string{"-gpus", "3"}},
		{"wrong model", ok, `want "NVIDIA H100 80GB HBM3"`, []string{"-model", "NVIDIA H100 80GB HBM3"}},
		{"lost GPU", strings.Replace(ok, `"health":"ok"`, `"health":"lost"`, 1), `health "lost"`, nil},
		{"no SM activity", strings.Replace(ok, `"sm_active_percent":12.5`, `"gpu_utilization_percent":3`, 1), "no sm_active_percent", nil},
		{"not JSON", "GPU 0: H200", "probe output", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			err := run(append([]string{"probe"}, tc.args...), strings.NewReader(tc.in), &out, &errb)
			if tc.wantErr == "" {
				require.NoError(t, err)
				assert.Contains(t, out.String(), "2 healthy NVIDIA H200 GPU(s)")
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

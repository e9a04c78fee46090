// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAgentLinksNoClientGo: the agent's build (-tags agent, the image's
// /nvml-scaler on every GPU node) depends on no Kubernetes API client, and
// the full build (the aggregator) does, so the check can fail.
func TestAgentLinksNoClientGo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		tags      []string
		clientGo  bool
		aggregate bool
	}{
		{"agent", []string{"-tags", "agent"}, false, false},
		{"full", nil, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"list", "-deps"}, tc.tags...)
			out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
			require.NoError(t, err, "go list -deps: %s", out)
			deps := strings.Fields(string(out))
			hasClientGo := slices.ContainsFunc(deps, func(p string) bool { return strings.HasPrefix(p, "k8s.io/client-go/") })
			assert.Equal(t, tc.clientGo, hasClientGo, "k8s.io/client-go among the dependencies")
			assert.Equal(t, tc.aggregate, slices.Contains(deps, "github.com/nvml-scaler/nvml-scaler/cluster/aggregator"), "cluster/aggregator among the dependencies")
		})
	}
}

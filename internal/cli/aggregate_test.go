// SPDX-License-Identifier: Apache-2.0

//go:build !agent

package cli

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAggregateUsageErrors(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no agents":      {[]string{"aggregate"}, "no agents: give --agents-service"},
		"bad listen":     {[]string{"aggregate", "--agents", "a:1", "--listen", "6000"}, `--listen "6000": want host:port`},
		"bad agent":      {[]string{"aggregate", "--agents", "node-a"}, `--agents "node-a": want host:port`},
		"bad port":       {[]string{"aggregate", "--agents-service", "x", "--agents-port", "70000"}, "--agents-port 70000"},
		"fast discovery": {[]string{"aggregate", "--agents", "a:1", "--discovery-interval", "10ms"}, "--discovery-interval 10ms: want at least 1s"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := run(context.Background(), t, tc.args)
			assert.Equal(t, ExitUsage, r.code, r.stderr)
			assert.Contains(t, r.stderr, tc.want)
		})
	}
}

// Outside a pod and without --kubeconfig the aggregator cannot reach the API
// server: it says so and what to do, and exits 1.
func TestAggregateNeedsKubernetes(t *testing.T) {
	t.Parallel()
	r := run(context.Background(), t, []string{"aggregate", "--agents", "127.0.0.1:1", "--listen", "127.0.0.1:0"})
	assert.Equal(t, ExitError, r.code)
	assert.Contains(t, r.stderr, "run in a pod with a service account, or pass --kubeconfig")

	r = run(context.Background(), t, []string{"aggregate", "--agents", "127.0.0.1:1",
		"--kubeconfig", filepath.Join(t.TempDir(), "missing")})
	assert.Equal(t, ExitError, r.code)
	assert.Contains(t, r.stderr, "kubernetes client config")
}

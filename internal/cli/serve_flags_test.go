// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A listen address whose port is not a number from 0 to 65535 is a usage
// error, before anything is opened.
func TestServeListenPortRange(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ flag, addr, want string }{
		{"--listen", ":65536", `--listen ":65536": port "65536": want a number from 0 to 65535`},
		{"--listen", "127.0.0.1:-1", `port "-1": want a number from 0 to 65535`},
		{"--http-listen", ":99999", `--http-listen ":99999": port "99999"`},
		{"--http-listen", ":http", `port "http": want a number`},
		{"--node-api-listen", ":70000", `--node-api-listen ":70000": port "70000"`},
		{"--listen", ":+80", `port "+80"`},
	} {
		t.Run(tt.flag+"="+tt.addr, func(t *testing.T) {
			t.Parallel()
			r := run(context.Background(), t, []string{"serve", "--replay", rampRecording, tt.flag, tt.addr})
			assert.Equal(t, ExitUsage, r.code, r.stderr)
			assert.Contains(t, r.stderr, tt.want)
		})
	}
}

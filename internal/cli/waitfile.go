// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/cobra"
)

// newWaitFileCmd is `wait-file`: the DaemonSet's optional init container on
// GPU-operator clusters runs it to wait for the operator's validator to write
// /run/nvidia/validations/toolkit-ready, as the operator's own operands wait
// (with a shell loop the distroless image cannot run).
func newWaitFileCmd(d *deps) *cobra.Command {
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "wait-file PATH",
		Short: "Wait until a file exists (the GPU operator's toolkit-ready marker)",
		Long: `wait-file returns once PATH exists, checking every --interval and saying on
stderr what it waits for. It exits 1 when PATH cannot be checked for another
reason than its absence (permission denied), and when it is stopped first.`,
		Args: func(cmd *cobra.Command, args []string) error { return asUsage(cobra.ExactArgs(1)(cmd, args)) },
		RunE: func(cmd *cobra.Command, args []string) error {
			if interval <= 0 {
				return usageErrorf("--interval %s: must be positive, e.g. 5s", interval)
			}
			return waitFile(cmd.Context(), d, args[0], interval)
		},
	}
	cmd.Flags().DurationVar(&interval, "interval", 5*time.Second, "time between checks")
	return cmd
}

// waitFile polls path every interval until it exists or ctx ends.
func waitFile(ctx context.Context, d *deps, path string, interval time.Duration) error {
	for {
		_, err := os.Stat(path)
		if err == nil {
			fmt.Fprintf(d.stderr, "wait-file: %s exists\n", path)
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("wait-file %s: %w", path, err)
		}
		fmt.Fprintf(d.stderr, "wait-file: waiting for %s (the NVIDIA container toolkit's validation)\n", path)
		if !d.sleep(ctx, interval) {
			return fmt.Errorf("wait-file %s: stopped before it existed: %w", path, context.Cause(ctx))
		}
	}
}

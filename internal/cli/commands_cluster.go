// SPDX-License-Identifier: Apache-2.0

//go:build !agent

package cli

import "github.com/spf13/cobra"

// clusterCommands are the commands that talk to the Kubernetes API: the
// aggregator. The agent's build (`-tags agent`, the image's /nvml-scaler)
// leaves them and client-go out; see commands_agent.go.
func clusterCommands(d *deps) []*cobra.Command {
	return []*cobra.Command{newAggregateCmd(d)}
}

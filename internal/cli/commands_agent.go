// SPDX-License-Identifier: Apache-2.0

//go:build agent

package cli

import "github.com/spf13/cobra"

// clusterCommands is empty in the agent's build (`-tags agent`): the
// DaemonSet's binary serves, probes, queries and records, and links no
// Kubernetes API client (client-go costs it ~3 MiB resident; BENCHMARKS.md,
// "Footprint"). `aggregate` is in the full build, the image's
// /nvml-scaler-aggregator.
func clusterCommands(*deps) []*cobra.Command { return nil }

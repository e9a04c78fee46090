// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// usageError is a mistake in how a command was called: Main prints it with a
// pointer to --help and exits with ExitUsage.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf returns a usageError formatted as fmt.Errorf would.
func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// asUsage marks err, if not nil, as a usage error.
func asUsage(err error) error {
	if err == nil || errors.As(err, new(*usageError)) {
		return err
	}
	return &usageError{err}
}

func newRootCmd(d *deps) *cobra.Command {
	root := &cobra.Command{
		Use:   "nvml-scaler",
		Short: "A KEDA external scaler on NVIDIA GPU activity, read through NVML",
		Long: `nvml-scaler reads NVIDIA GPUs through NVML (no cgo, no DCGM) and answers KEDA's
external scaler gRPC API, so inference Deployments scale on what the GPU is doing.

Run 'nvml-scaler serve' on each GPU node (the DaemonSet does), 'nvml-scaler probe'
to see what it sees, and 'nvml-scaler query' to ask it what KEDA would ask.

Every flag can also be set through the environment as NVML_SCALER_<FLAG>, the
flag's long name in upper snake case (--http-listen: NVML_SCALER_HTTP_LISTEN);
a flag on the command line wins. Exit codes: 0 ok, 1 error, 2 usage error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Without a RunE cobra would report unknown commands itself, as
		// errors Main could not tell from run-time failures.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return usageErrorf("%s", msg)
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return asUsage(applyEnv(cmd.Flags(), d.lookupEnv))
		},
	}
	root.SetOut(d.stdout)
	root.SetErr(d.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return asUsage(err) })
	root.AddCommand(
		newServeCmd(d),
		newProbeCmd(d),
		newQueryCmd(d),
		newRecordCmd(d),
		newVersionCmd(d),
		newWaitFileCmd(d),
	)
	root.AddCommand(clusterCommands(d)...)
	completeEnums(root)
	return root
}

// completeEnums offers each enum flag's values to shell completion.
func completeEnums(cmd *cobra.Command) {
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if e, ok := f.Value.(*enumValue); ok {
			_ = cmd.RegisterFlagCompletionFunc(f.Name, cobra.FixedCompletions(e.allowed, cobra.ShellCompDirectiveNoFileComp))
		}
	})
	for _, c := range cmd.Commands() {
		completeEnums(c)
	}
}

// noArgs rejects positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}

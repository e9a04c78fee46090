// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

// envPrefix starts the environment variable of every flag.
const envPrefix = "NVML_SCALER_"

// noEnvAnnotation marks a flag that is never read from the environment: one
// whose value would be dangerous or meaningless as a process-wide setting.
const noEnvAnnotation = "nvml-scaler/no-env"

// envName returns the environment variable for a flag: "http-listen" →
// "NVML_SCALER_HTTP_LISTEN".
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets each flag of fs that was not given on the command line from
// its environment variable, if set. It runs after parsing, so a flag on the
// command line wins. Errors name the variable, the flag and the value.
func applyEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" || f.Annotations[noEnvAnnotation] != nil {
			return
		}
		v, ok := lookup(envName(f.Name))
		if !ok {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("environment %s=%q (for --%s): %w", envName(f.Name), v, f.Name, e)
		}
	})
	return err
}

// noEnv excludes the named flags of fs from applyEnv.
func noEnv(fs *pflag.FlagSet, names ...string) {
	for _, n := range names {
		_ = fs.SetAnnotation(n, noEnvAnnotation, []string{"true"})
	}
}

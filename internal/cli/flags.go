// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// enumValue is a string flag that accepts one of a fixed set of values; its
// error lists them.
type enumValue struct {
	v       *string
	allowed []string
}

func newEnum(fs *pflag.FlagSet, p *string, name, short, def, usage string, allowed ...string) {
	*p = def
	fs.VarP(&enumValue{p, allowed}, name, short, fmt.Sprintf("%s: %s", usage, strings.Join(allowed, "|")))
}

func (e *enumValue) String() string { return *e.v }
func (e *enumValue) Type() string   { return "string" }

func (e *enumValue) Set(s string) error {
	if !slices.Contains(e.allowed, s) {
		return fmt.Errorf("want one of %s", strings.Join(e.allowed, ", "))
	}
	*e.v = s
	return nil
}

// durationValue is a time.Duration flag whose error shows the accepted form.
type durationValue time.Duration

func newDuration(fs *pflag.FlagSet, p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	fs.Var((*durationValue)(p), name, usage)
}

func (d *durationValue) String() string { return time.Duration(*d).String() }
func (d *durationValue) Type() string   { return "duration" }

func (d *durationValue) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("want a duration such as 500ms, 1s or 1m30s")
	}
	*d = durationValue(v)
	return nil
}

// checkMinDuration returns a usage error when the flag's value is below min.
func checkMinDuration(name string, v, min time.Duration) error {
	if v < min {
		return usageErrorf("--%s %v: want at least %v", name, v, min)
	}
	return nil
}

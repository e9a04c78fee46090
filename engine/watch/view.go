// SPDX-License-Identifier: Apache-2.0

package watch

import (
	"errors"
	"fmt"
	"time"

	"github.com/nvml-scaler/nvml-scaler/engine"
)

// ErrAbsent means a target has no usable reading — not scraped yet, its newest
// scrape failed (the wrapped error says how), or its readings are stale.
var ErrAbsent = errors.New("engine target absent")

// View is every target's state after one scrape. Immutable once published.
type View struct {
	// Interval is the scrape interval, for staleness.
	Interval time.Duration
	// Pods holds one entry per target, in configuration order.
	Pods []Pod
}

// Pod is one target's state.
type Pod struct {
	Name string
	// URL is the endpoint scraped; for a pod whose declared ports are
	// probed, "" until one answered.
	URL string
	// Namespace and GPUs are the pod's (see [Target]); "" and nil for an
	// operator-set --engine-target.
	Namespace string
	GPUs      []string
	// Epoch is the pod's start, as in [Target].
	Epoch string
	// Invalid is true when Err comes from the target itself (Target.Invalid).
	Invalid bool
	// Engine is the profile of the newest successful scrape; "" before one.
	Engine engine.Engine
	// History holds the successful readings of the last Keep.
	History engine.History
	// Err is why the newest scrape failed (wrapping ErrAbsent); nil when it
	// succeeded.
	Err error
}

// Usable returns nil when p's newest scrape succeeded and its newest reading
// is at most StaleAfter intervals old at now; otherwise an error wrapping
// ErrAbsent that says why.
func (p *Pod) Usable(now time.Time, interval time.Duration) error {
	if p.Err != nil {
		return p.Err
	}
	r := p.History.Newest()
	if r == nil {
		return fmt.Errorf("%s: no reading: %w", p.Name, ErrAbsent)
	}
	if age := now.Sub(r.Time); age > StaleAfter*interval {
		return fmt.Errorf("%s: newest reading is %v old (stale after %d intervals of %v): %w",
			p.Name, age.Round(time.Millisecond), StaleAfter, interval, ErrAbsent)
	}
	return nil
}

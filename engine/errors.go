// SPDX-License-Identifier: Apache-2.0

package engine

import "errors"

// Errors, matched with errors.Is; the returned errors wrap them with the
// engine, metric, family or URL they concern.
var (
	// ErrNotExported: the engine does not export this metric at all (TGI has no
	// time-to-first-token histogram), or this scrape did not carry any family
	// the profile reads it from. Absent, never 0.
	ErrNotExported = errors.New("not exported")
	// ErrInvalid: a sample was NaN or ±Inf, negative where it cannot be, or a
	// histogram was malformed.
	ErrInvalid = errors.New("invalid value")
	// ErrUnknownEngine: no profile recognises the body's metric names.
	ErrUnknownEngine = errors.New("unknown engine")
	// ErrTooLarge: the body, decompressed, or its series count exceeded a limit.
	ErrTooLarge = errors.New("over the limit")
	// ErrScrape: the request failed (connection, timeout, a status other than
	// 200, a redirect).
	ErrScrape = errors.New("scrape failed")
	// ErrParse: the body is not Prometheus text or OpenMetrics.
	ErrParse = errors.New("cannot parse")
	// ErrWindow: fewer than two usable scrapes in the window (after a reset
	// restarted the series), or no observations in it for a latency.
	ErrWindow = errors.New("not enough data in the window")
	// ErrNoModel: a model filter was set and no series carries that model.
	ErrNoModel = errors.New("no series for the model")
)

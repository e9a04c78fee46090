// SPDX-License-Identifier: Apache-2.0

package watch

import (
	"context"

	"github.com/nvml-scaler/nvml-scaler/engine"
)

// Fetcher gets one metrics body of the target named name at endpoint t (for
// a probed pod, t is the candidate being tried). Errors are the scrape's
// failure, classified by [Result]; the body is parsed by the Watcher's
// Scraper either way, so every Fetcher goes through the same mapping.
type Fetcher interface {
	Fetch(ctx context.Context, name string, t engine.Target) (body []byte, contentType string, err error)
}

// HTTP returns the Fetcher that requests t.URL with s ([engine.Scraper.Fetch]),
// what a Watcher does without one.
func HTTP(s *engine.Scraper) Fetcher { return httpFetcher{s} }

type httpFetcher struct{ s *engine.Scraper }

func (h httpFetcher) Fetch(ctx context.Context, _ string, t engine.Target) ([]byte, string, error) {
	return h.s.Fetch(ctx, t.URL)
}

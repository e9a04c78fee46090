// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"bytes"
	"fmt"
	"mime"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families is one parsed exposition: metric families by name.
type Families map[string]*dto.MetricFamily

// Accept is the Accept header a scrape sends: the Prometheus text format
// first, OpenMetrics 1.0 second (both are read by the same text parser).
const Accept = "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1"

// Parse parses body, an exposition in the Prometheus text format or
// OpenMetrics 1.0 (by contentType; an empty or unknown type is read as text),
// with expfmt's text parser. It fails with ErrParse on a malformed body or a
// protobuf content type, and with ErrTooLarge when the body holds more than
// maxSeries samples (series; a histogram counts once per bucket), when
// maxSeries > 0. Its allocations are bounded by a small multiple of len(body).
func Parse(body []byte, contentType string, maxSeries int) (Families, error) {
	return parse(body, contentType, maxSeries, false)
}

func parse(body []byte, contentType string, maxSeries int, knownOnly bool) (Families, error) {
	var kept []byte
	return parseInto(&kept, body, contentType, maxSeries, knownOnly)
}

// parseInto is parse with the buffer for the kept lines passed in (reused
// between scrapes when the caller keeps it; it never escapes into the result:
// the parser copies what it keeps).
func parseInto(kept *[]byte, body []byte, contentType string, maxSeries int, knownOnly bool) (Families, error) {
	if mt, _, err := mime.ParseMediaType(contentType); err == nil && mt == expfmt.ProtoType {
		return nil, fmt.Errorf("content type %q: protobuf is not requested or read: %w", contentType, ErrParse)
	}
	n := 0
	switch {
	case knownOnly:
		if *kept == nil {
			*kept = make([]byte, 0, len(body)/4)
		}
		*kept, n = filterKnown((*kept)[:0], body)
		body = *kept
	case maxSeries > 0:
		n = countSamples(body)
	}
	if maxSeries > 0 && n > maxSeries {
		return nil, fmt.Errorf("%d samples, limit %d: %w", n, maxSeries, ErrTooLarge)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrParse, err)
	}
	return Families(fams), nil
}

// countSamples counts the lines that are neither blank nor comments: an upper
// bound on the series the parser will build, checked before it allocates them.
func countSamples(body []byte) int {
	n := 0
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimLeft(line, " \t")
		if len(line) > 0 && line[0] != '#' {
			n++
		}
	}
	return n
}

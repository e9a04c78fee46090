// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"
)

// Scrape limits' defaults.
const (
	// DefaultMaxBytes caps a body, as sent and decompressed: 8 MiB. A vLLM
	// body is ~20–200 KB.
	DefaultMaxBytes = 8 << 20
	// DefaultMaxSeries caps the samples in one body.
	DefaultMaxSeries = 50_000
)

// Options configure a [Scraper].
type Options struct {
	// Timeout bounds one scrape, connection to last byte (required, > 0;
	// keep it below the scrape interval, see [CheckTiming]).
	Timeout time.Duration
	// MaxBytes caps the body as sent and decompressed; 0 means
	// DefaultMaxBytes.
	MaxBytes int64
	// MaxSeries caps the samples in a body; 0 means DefaultMaxSeries.
	MaxSeries int
	// RootCAs verifies https targets; nil means the system pool.
	RootCAs *x509.CertPool
}

// Scraper fetches `/metrics` bodies with limits. It follows no redirects and
// decompresses gzip itself so both sizes are capped. Safe for concurrent use.
type Scraper struct {
	client    *http.Client
	maxBytes  int64
	maxSeries int
	// kept holds *[]byte buffers for the lines [Scraper.Map] keeps from a
	// body, reused between scrapes (one per scrape in flight).
	kept sync.Pool
}

// maxPooled is the largest kept-lines buffer returned to the pool: a rare
// huge body's buffer is left to the garbage collector instead of being held.
const maxPooled = 1 << 20

// NewScraper returns a Scraper; an error when Timeout is not positive or a
// limit is negative.
func NewScraper(o Options) (*Scraper, error) {
	if o.Timeout <= 0 {
		return nil, fmt.Errorf("scrape timeout %v: must be above 0", o.Timeout)
	}
	if o.MaxBytes < 0 || o.MaxSeries < 0 {
		return nil, fmt.Errorf("scrape limits %d bytes, %d series: must not be negative", o.MaxBytes, o.MaxSeries)
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxSeries == 0 {
		o.MaxSeries = DefaultMaxSeries
	}
	tr := &http.Transport{
		Proxy:               nil, // pods are scraped directly, never through a proxy
		DisableCompression:  true,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     90 * time.Second,
		TLSClientConfig:     &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
	}
	return &Scraper{
		client: &http.Client{Transport: tr, Timeout: o.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		maxBytes: o.MaxBytes, maxSeries: o.MaxSeries,
	}, nil
}

// CheckTiming returns an error unless 0 < timeout < interval: a scrape that
// could outlast its interval would pile up behind the next.
func CheckTiming(interval, timeout time.Duration) error {
	if timeout <= 0 || timeout >= interval {
		return fmt.Errorf("scrape timeout %v must be above 0 and below the interval %v", timeout, interval)
	}
	return nil
}

// LoadCABundle reads a PEM CA bundle for [Options.RootCAs].
func LoadCABundle(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("engine CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("engine CA bundle %s: no PEM certificate in it", path)
	}
	return pool, nil
}

// Close releases idle connections.
func (s *Scraper) Close() { s.client.CloseIdleConnections() }

// Fetch GETs target (http or https) and returns the body, decompressed, and
// its Content-Type. Errors wrap ErrScrape (connection, timeout, status, a
// redirect) or ErrTooLarge, and name the URL.
func (s *Scraper) Fetch(ctx context.Context, target string) (body []byte, contentType string, err error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, "", fmt.Errorf("engine target %q: want an http:// or https:// URL: %w", target, ErrScrape)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, "", fmt.Errorf("engine target %q: %w: %w", target, ErrScrape, err)
	}
	req.Header.Set("Accept", Accept)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("scrape %s: %w: %w", target, ErrScrape, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // reuse the connection
		return nil, "", fmt.Errorf("scrape %s: status %s (redirects are not followed): %w", target, resp.Status, ErrScrape)
	}
	body, err = s.read(resp)
	if err != nil {
		return nil, "", fmt.Errorf("scrape %s: %w", target, err)
	}
	return body, resp.Header.Get("Content-Type"), nil
}

func (s *Scraper) read(resp *http.Response) ([]byte, error) {
	wire := &capReader{r: resp.Body, left: s.maxBytes}
	var r io.Reader = wire
	if resp.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(wire)
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %w", ErrScrape, err)
		}
		defer gz.Close()
		r = gz
	}
	plain := &capReader{r: r, left: s.maxBytes}
	var buf bytes.Buffer
	if resp.ContentLength > 0 && resp.ContentLength <= s.maxBytes {
		buf.Grow(int(resp.ContentLength))
	}
	_, err := buf.ReadFrom(plain)
	switch {
	case wire.over || plain.over:
		return nil, fmt.Errorf("body over %d bytes (as sent or decompressed): %w", s.maxBytes, ErrTooLarge)
	case err != nil:
		return nil, fmt.Errorf("%w: reading the body: %w", ErrScrape, err)
	}
	return buf.Bytes(), nil
}

// capReader reads at most left bytes and notes when more were offered.
type capReader struct {
	r    io.Reader
	left int64
	over bool
}

var errCap = errors.New("size cap reached")

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n > 0 {
			c.over = true
			return 0, errCap
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// Target is one endpoint to scrape.
type Target struct {
	// URL is the full metrics URL, e.g. http://10.0.0.7:8000/metrics.
	URL string
	// Profile forces the engine; nil detects it from the body.
	Profile *Profile
	// Model, when set, keeps only the series of that model.
	Model string
}

// Read scrapes t and maps the body: Fetch, Parse, Detect (unless forced),
// Profile.Read, stamped with now. It returns the profile used.
func (s *Scraper) Read(ctx context.Context, t Target, now time.Time) (*Reading, error) {
	body, ct, err := s.Fetch(ctx, t.URL)
	if err != nil {
		return nil, err
	}
	return s.Map(body, ct, t, now)
}

// Map is Read without the request: parse body and map it for t.
func (s *Scraper) Map(body []byte, contentType string, t Target, now time.Time) (*Reading, error) {
	fams, err := s.parseKnown(body, contentType)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.URL, err)
	}
	p := t.Profile
	if p == nil {
		if p, err = Detect(fams); err != nil {
			return nil, fmt.Errorf("%s: %w", t.URL, err)
		}
	}
	r := p.Read(fams, t.Model, now)
	return &r, nil
}

// parseKnown is [ParseKnown] with the scraper's series cap and a pooled buffer.
func (s *Scraper) parseKnown(body []byte, contentType string) (Families, error) {
	buf, _ := s.kept.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	fams, err := parseInto(buf, body, contentType, s.maxSeries, true)
	if cap(*buf) <= maxPooled {
		s.kept.Put(buf)
	}
	return fams, err
}

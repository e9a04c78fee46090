// SPDX-License-Identifier: Apache-2.0

package engine_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/engine"
)

// serve answers every request with body and contentType (gzip-compressed
// when gz is set).
func serve(t *testing.T, body []byte, contentType string, gz bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		if gz {
			w.Header().Set("Content-Encoding", "gzip")
			z := gzip.NewWriter(w)
			_, _ = z.Write(body)
			_ = z.Close()
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func scraper(t *testing.T, o engine.Options) *engine.Scraper {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	s, err := engine.NewScraper(o)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

func TestScrapeFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, contentType string
		gz                      bool
		engine                  engine.Engine
	}{
		{"vllm text", "vllm_datadog.txt", "text/plain; version=0.0.4; charset=utf-8", false, engine.VLLM},
		{"vllm gzip", "vllm_datadog.txt", "text/plain; version=0.0.4", true, engine.VLLM},
		{"sglang openmetrics", "sglang_docs.txt", "application/openmetrics-text; version=1.0.0; charset=utf-8", false, engine.SGLang},
		{"nim no content type", "nim_datadog.txt", "", false, engine.NIM},
		{"triton", "triton_trtllm_readme.txt", "text/plain; charset=utf-8", false, engine.Triton},
		{"tgi", "tgi_datadog.txt", "text/plain; version=0.0.4", false, engine.TGI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := serve(t, fixture(t, tt.file), tt.contentType, tt.gz)
			r, err := scraper(t, engine.Options{}).Read(context.Background(), engine.Target{URL: srv.URL + "/metrics"}, t0)
			require.NoError(t, err)
			assert.Equal(t, tt.engine, r.Engine)
			assert.Equal(t, t0, r.Time)
			require.NoError(t, r.Samples[engine.RequestsWaiting].Err)
		})
	}
}

func TestScrapeForcedProfile(t *testing.T) {
	t.Parallel()
	srv := serve(t, fixture(t, "vllm_datadog.txt"), "text/plain", false)
	sgl, err := engine.ProfileFor("sglang")
	require.NoError(t, err)
	r, err := scraper(t, engine.Options{}).Read(context.Background(), engine.Target{URL: srv.URL, Profile: sgl}, t0)
	require.NoError(t, err)
	assert.Equal(t, engine.SGLang, r.Engine)
	require.ErrorIs(t, r.Samples[engine.RequestsWaiting].Err, engine.ErrNotExported, "a vLLM body read as SGLang has none of its names")
}

func TestScrapeFailures(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("vllm:num_requests_waiting 1\n"), 1000) // 28,000 bytes
	bomb := bytes.Repeat([]byte("# padding that compresses well\n"), 1<<16)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		opts    engine.Options
		want    error
	}{
		{"huge body", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(big) },
			engine.Options{MaxBytes: 10_000}, engine.ErrTooLarge},
		{"gzip bomb", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			z := gzip.NewWriter(w)
			_, _ = z.Write(bomb) // 2 MiB that compress to a few KB
			_ = z.Close()
		}, engine.Options{MaxBytes: 100_000}, engine.ErrTooLarge},
		{"too many series", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(big) },
			engine.Options{MaxSeries: 999}, engine.ErrTooLarge},
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}, engine.Options{Timeout: 100 * time.Millisecond}, engine.ErrScrape},
		{"status 503", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "loading model", http.StatusServiceUnavailable)
		},
			engine.Options{}, engine.ErrScrape},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://169.254.169.254/", http.StatusFound)
		},
			engine.Options{}, engine.ErrScrape},
		{"html", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("<html><body>Not a metrics page</body></html>"))
		}, engine.Options{}, engine.ErrUnknownEngine},
		{"garbage in a known family", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("vllm:num_requests_waiting{model_name=\"m\" 1\n"))
		}, engine.Options{}, engine.ErrParse},
		{"not an engine", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("process_open_fds 49.0\n")) },
			engine.Options{}, engine.ErrUnknownEngine},
		{"protobuf", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited")
			_, _ = w.Write([]byte{1, 2, 3})
		}, engine.Options{}, engine.ErrParse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tt.handler)
			t.Cleanup(srv.Close)
			_, err := scraper(t, tt.opts).Read(context.Background(), engine.Target{URL: srv.URL + "/metrics"}, t0)
			require.ErrorIs(t, err, tt.want)
			assert.Contains(t, err.Error(), srv.URL, "the error names the target")
		})
	}
}

func TestScrapeHTTPSWithCABundle(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(fixture(t, "sglang_docs.txt"))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	t.Cleanup(srv.Close)
	// A pool without the server's CA refuses it. (Not the system pool: loading
	// it can outlast the scrape timeout on a loaded machine and leave the
	// handshake's goroutine running past the test.)
	_, err := scraper(t, engine.Options{RootCAs: x509.NewCertPool()}).Read(context.Background(), engine.Target{URL: srv.URL}, t0)
	require.ErrorIs(t, err, engine.ErrScrape, "the test server's certificate is not in the pool")

	path := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
	pool, err := engine.LoadCABundle(path)
	require.NoError(t, err)
	r, err := scraper(t, engine.Options{RootCAs: pool}).Read(context.Background(), engine.Target{URL: srv.URL}, t0)
	require.NoError(t, err)
	assert.Equal(t, engine.SGLang, r.Engine)

	require.NoError(t, os.WriteFile(path, []byte("not pem"), 0o600))
	_, err = engine.LoadCABundle(path)
	require.Error(t, err)
}

func TestOptionsAndTiming(t *testing.T) {
	t.Parallel()
	_, err := engine.NewScraper(engine.Options{})
	require.Error(t, err, "a timeout is required")
	_, err = engine.NewScraper(engine.Options{Timeout: time.Second, MaxBytes: -1})
	require.Error(t, err)
	require.NoError(t, engine.CheckTiming(time.Second, 800*time.Millisecond))
	require.Error(t, engine.CheckTiming(time.Second, time.Second))
	s := scraper(t, engine.Options{})
	for _, bad := range []string{"ftp://x/metrics", "10.0.0.1:8000/metrics", "http:///metrics"} {
		_, _, err := s.Fetch(context.Background(), bad)
		require.ErrorIs(t, err, engine.ErrScrape, bad)
		assert.Contains(t, err.Error(), bad)
	}
}

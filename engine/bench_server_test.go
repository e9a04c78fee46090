// SPDX-License-Identifier: Apache-2.0

package engine_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func serveBench(b *testing.B, body []byte) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv.URL + "/metrics"
}

// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/internal/clustertest"
	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/recording"
	"github.com/nvml-scaler/nvml-scaler/recording/enginerec"
)

// engineServer answers the i-th scrape with bodies[i], the last one after
// that; a nil body answers 503, as a vLLM that is loading its model does.
func engineServer(t *testing.T, bodies ...[]byte) string {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		b := bodies[min(int(n.Add(1))-1, len(bodies)-1)]
		if b == nil {
			http.Error(w, "loading model", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics"
}

// record --engine-target stores the real SGLang bodies it scraped, and the
// failures of a target that answers 503; serve --replay then serves them.
func TestRecordEngineTargets(t *testing.T) {
	t.Parallel()
	f := fakenvml.New(t, loadRecording(t, rampRecording))
	f.SetStep(300)
	body := clustertest.EngineBody(t, "sglang_docs.txt")
	out := filepath.Join(t.TempDir(), "rec.json")
	r := run(context.Background(), t, []string{"record", "--nvml-lib", f.LibPath, "--duration", "1s", "--interval", "100ms",
		"-o", out, "--engine-target", "sglang-0=" + engineServer(t, body), "--engine-target", "down=" + engineServer(t, nil),
		"--engine-interval", "200ms"})
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Regexp(t, `recorded \d+ engine scrapes of 2 target\(s\), 0\.0 MiB of compressed bodies\n`, r.stderr)

	rec := loadRecording(t, out)
	require.NotNil(t, rec.Engines)
	e := rec.Engines
	assert.Equal(t, int64(200*time.Millisecond), e.IntervalNanos)
	require.Len(t, e.Targets, 2)
	assert.Equal(t, "sglang-0", e.Targets[0].Name)
	var bodies, same, failed int
	for _, s := range e.Scrapes {
		switch {
		case s.Target == "down":
			assert.Contains(t, s.Error, "503")
			assert.Equal(t, "error", s.Result)
			failed++
		case s.Same:
			same++
		default:
			bodies++
		}
	}
	assert.Equal(t, 1, bodies, "the same body is stored once")
	assert.GreaterOrEqual(t, same, 2)
	assert.GreaterOrEqual(t, failed, 3)

	// serve --replay plays the recorded bodies: the real body's queue.
	s := startServe(t, "--replay", out, "--interval", "100ms")
	waitReady(t, s)
	assert.Equal(t, 2826.0, queryValue(t, s, "metric=requests_waiting,targetValue=5,onMissing=skip"))
	res := s.stop(t)
	assert.Equal(t, ExitOK, res.code, res.stderr)
}

// queryValue queries serve until the engine trigger md has a value.
func queryValue(t *testing.T, s *server, md string) float64 {
	t.Helper()
	var j queryJSON
	require.Eventually(t, func() bool {
		r := run(context.Background(), t, []string{"query", "-o", "json", "--address", s.grpc, "--metadata", md})
		return r.code == ExitOK && json.Unmarshal([]byte(r.stdout), &j) == nil && j.Value != nil
	}, 20*time.Second, 50*time.Millisecond)
	return *j.Value
}

// engineRecording writes the ramp recording with an engines section of
// sglang-0's real body ×1, ×2 and ×3, a second apart.
func engineRecording(t *testing.T, edit func(*recording.Engines)) string {
	t.Helper()
	var n atomic.Int64
	bodies := [][]byte{clustertest.EngineBody(t, "sglang_docs.txt"), clustertest.ScaledEngineBody(t, "sglang_docs.txt", 2),
		clustertest.ScaledEngineBody(t, "sglang_docs.txt", 3)}
	c := enginerec.NewCapture(enginerec.CaptureOptions{Next: fetchFunc(func() []byte { return bodies[n.Add(1)-1] }),
		Targets: parsedTargets(t, "sglang-0=http://10.0.0.7:30000/metrics"), Interval: time.Second,
		Now: func() time.Time { return time.Unix(0, (n.Load())*int64(time.Second)) }})
	for range bodies {
		_, _, err := c.Fetch(context.Background(), "sglang-0", parsedTargets(t, "sglang-0=http://10.0.0.7:30000/metrics")[0].Target)
		require.NoError(t, err)
	}
	rec := loadRecording(t, rampRecording)
	rec.Engines = c.Section(0)
	if edit != nil {
		edit(rec.Engines)
	}
	var buf bytes.Buffer
	require.NoError(t, recording.Encode(&buf, rec))
	path := filepath.Join(t.TempDir(), "engines.json")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
	return path
}

// serve --replay plays the recorded bodies in step with the NVML timeline:
// at the end of a recording that does not loop, the last body's queue.
func TestServeReplayEngines(t *testing.T) {
	t.Parallel()
	path := engineRecording(t, nil)
	s := startServe(t, "--replay", path, "--replay-speed", "1e6", "--replay-loop=false", "--interval", "100ms")
	waitReady(t, s)
	assert.Equal(t, 3*2826.0, queryValue(t, s, "metric=requests_waiting,targetValue=5"))
	res := s.stop(t)
	assert.Equal(t, ExitOK, res.code, res.stderr)
}

// A recorded body that does not parse, a section naming an unknown field and
// a clash with --engine-target are refused, naming the file.
func TestServeReplayEnginesBad(t *testing.T) {
	t.Parallel()
	body := clustertest.EngineBody(t, "sglang_docs.txt")
	cut := body[:bytes.Index(body, []byte("sglang:num_queue_reqs{"))+len("sglang:num_queue_reqs{")]
	truncated := engineRecording(t, func(e *recording.Engines) {
		var buf bytes.Buffer
		require.NoError(t, gzipTo(&buf, cut))
		e.Scrapes[1].BodyGzip = buf.Bytes()
	})
	unknown := engineRecording(t, nil)
	b, err := os.ReadFile(unknown)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(unknown, []byte(strings.Replace(string(b), `"intervalNs"`, `"bodyZstd":"x","intervalNs"`, 1)), 0o600))
	for _, tt := range []struct {
		path string
		args []string
		want []string
	}{
		{truncated, nil, []string{"--replay " + truncated, "engines.scrapes[1] (target sglang-0 at 1s): the recorded body does not parse"}},
		{unknown, nil, []string{"recording " + unknown, `unknown field "bodyZstd"`}},
		{engineRecording(t, nil), []string{"--engine-target", "sglang-0=http://127.0.0.1:1/metrics"},
			[]string{"--engine-target sglang-0: the recording", "has an engine target of that name"}},
	} {
		r := run(context.Background(), t, append([]string{"serve", "--replay", tt.path, "--listen", "127.0.0.1:0",
			"--http-listen", "127.0.0.1:0"}, tt.args...))
		assert.NotEqual(t, ExitOK, r.code)
		for _, w := range tt.want {
			assert.Contains(t, r.stderr, w)
		}
	}
}

// fetchFunc answers every fetch with the body it returns.
type fetchFunc func() []byte

func (f fetchFunc) Fetch(context.Context, string, engine.Target) ([]byte, string, error) {
	return f(), "", nil
}

func parsedTargets(t *testing.T, raw ...string) []watch.Target {
	t.Helper()
	ts, err := parseEngineTargets(raw)
	require.NoError(t, err)
	return ts
}

func gzipTo(w io.Writer, b []byte) error {
	zw := gzip.NewWriter(w)
	if _, err := zw.Write(b); err != nil {
		return err
	}
	return zw.Close()
}

// probe --replay shows a recording's engine targets at the replay's
// position: at the second sweep, 1.5s on, the NVML sample is past 1s and so
// the body recorded at 1s, with the TTFT of the requests between the two
// recorded bodies.
func TestProbeReplayEngines(t *testing.T) {
	t.Parallel()
	r := run(context.Background(), t, []string{"probe", "--replay", engineRecording(t, nil), "-o", "json", "--interval", "1500ms"},
		newFakeClock().option())
	require.Equal(t, ExitOK, r.code, r.stderr)
	var rep probeReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	require.Len(t, rep.Engines, 1)
	e := rep.Engines[0]
	assert.Equal(t, "sglang-0", e.Name)
	assert.Equal(t, "http://10.0.0.7:30000/metrics", e.URL)
	require.NotNil(t, e.RequestsWaiting, r.stdout)
	assert.Equal(t, 2*2826.0, *e.RequestsWaiting)
	assert.NotNil(t, e.TTFTSeconds, "%v", e.Absent)
}

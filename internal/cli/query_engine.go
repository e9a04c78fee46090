// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/nvml-scaler/nvml-scaler/scaler/enginetrigger"
)

// defaultHTTPPort is the port of serve's (and the chart's aggregate's)
// --http-listen, where query asks which pods an engine trigger's value came
// from when --http-address is not given.
const defaultHTTPPort = "8080"

// explainedRound is what the scaler's engineExplainPath said for a round of
// an engine trigger; err says why it could not be asked.
type explainedRound struct {
	ex  *engineExplanation
	err error
}

// httpAddress is where engineExplainPath is served.
func (q *query) httpAddress() string {
	if q.f.httpAddress != "" {
		return q.f.httpAddress
	}
	host, _, _ := splitHostPort(q.f.address) // validated
	return net.JoinHostPort(host, defaultHTTPPort)
}

// explain asks the scaler's HTTP endpoint which targets an engine trigger's
// value came from; nil for a GPU trigger.
func (q *query) explain(ctx context.Context) *explainedRound {
	if !enginetrigger.Serves(q.ref.ScalerMetadata) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, q.f.timeout)
	defer cancel()
	v := url.Values{explainName: {q.ref.Name}, explainNamespace: {q.ref.Namespace}}
	for k, val := range q.ref.ScalerMetadata {
		v.Set(k, val)
	}
	u := url.URL{Scheme: "http", Host: q.httpAddress(), Path: engineExplainPath, RawQuery: v.Encode()}
	where := "http://" + u.Host + engineExplainPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return &explainedRound{err: err}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err // the URL is named once, without the metadata
		}
		return &explainedRound{err: fmt.Errorf("GET %s: %w (set --http-address to the scaler's --http-listen)", where, err)}
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK, http.StatusBadRequest:
	case http.StatusNotFound:
		return &explainedRound{err: fmt.Errorf("GET %s: 404: this scaler does not serve it (engine signals off, or a release before it)", where)}
	default:
		return &explainedRound{err: fmt.Errorf("GET %s: %s", where, resp.Status)}
	}
	var ex engineExplanation
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ex); err != nil {
		return &explainedRound{err: fmt.Errorf("GET %s: %w", where, err)}
	}
	return &explainedRound{ex: &ex}
}

// withLeftOut adds the targets left out to a failed round's error.
func withLeftOut(err error, e *explainedRound) error {
	if e == nil || e.ex == nil || len(e.ex.LeftOut) == 0 {
		return err
	}
	return fmt.Errorf("%w\nleft out: %s", err, formatLeftOut(e.ex.LeftOut, "; "))
}

func formatLeftOut(ls []enginetrigger.LeftOut, sep string) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.Name + ": " + l.Reason
	}
	return strings.Join(parts, sep)
}

// writeExplained prints the targets behind a successful round's value.
func writeExplained(w io.Writer, e *explainedRound) {
	switch {
	case e == nil:
		return
	case e.err != nil:
		fmt.Fprintf(w, "pods\tunknown: %v\n", e.err)
		return
	}
	names := "none"
	if len(e.ex.Contributed) > 0 {
		names = strings.Join(e.ex.Contributed, ", ")
	}
	fmt.Fprintf(w, "pods\t%s (their readings make the value)\n", names)
	for _, l := range e.ex.LeftOut {
		fmt.Fprintf(w, "left out\t%s: %s\n", l.Name, l.Reason)
	}
}

// onMissing names the trigger's onMissing policy: an engine trigger's own
// (fail unless set), else the GPU trigger's (its default depends on the
// aggregation).
func (q *query) onMissing() string {
	et, ok := q.engineTrigger()
	if !ok {
		return q.trigger.DescribeOnMissing()
	}
	_, set := q.ref.ScalerMetadata["onMissing"]
	p := map[bool]string{false: "fail", true: "skip"}[et.SkipMissing]
	if set {
		return p + " (set)"
	}
	return p + " (default for engine metrics)"
}

// missingEffect says what the onMissing policy does, as a sentence's end.
func (q *query) missingEffect() string {
	et, ok := q.engineTrigger()
	switch {
	case !ok:
		return "a lost, failed or hung selected GPU " + missingEffect(&q.trigger)
	case et.SkipMissing:
		return "a counted engine target without a value is left out"
	}
	return "a counted engine target without a value makes the answer Unavailable"
}

func (q *query) engineTrigger() (enginetrigger.Trigger, bool) {
	if !enginetrigger.Serves(q.ref.ScalerMetadata) {
		return enginetrigger.Trigger{}, false
	}
	et, err := enginetrigger.Parse(q.ref.ScalerMetadata) // checked before the query was sent
	return et, err == nil
}

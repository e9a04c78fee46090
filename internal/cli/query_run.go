// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// query is one query command's state: the trigger, the connection, the output.
type query struct {
	d       *deps
	f       *queryFlags
	picked  pickedTrigger
	trigger scaler.Trigger
	ref     *pb.ScaledObjectRef
	dial    grpc.DialOption
}

func splitHostPort(addr string) (string, string, error) { return net.SplitHostPort(addr) }

func newQuery(d *deps, f *queryFlags, cmd *cobra.Command) (*query, error) {
	if err := f.validate(cmd); err != nil {
		return nil, err
	}
	picked, trig, err := f.trigger()
	if err != nil {
		return nil, err
	}
	dial, err := f.tls.dialOption()
	if err != nil {
		return nil, err
	}
	return &query{d: d, f: f, picked: picked, trigger: trig, dial: dial,
		ref: &pb.ScaledObjectRef{Name: picked.Name, Namespace: picked.Namespace, ScalerMetadata: picked.Metadata}}, nil
}

// run queries once, or every interval with --watch. A single query returns
// the round's error; --watch prints failed rounds and returns an error at the
// end if any failed.
func (q *query) run(ctx context.Context) error {
	conn, err := grpc.NewClient(q.f.address, q.dial)
	if err != nil {
		return fmt.Errorf("--address %s: %w", q.f.address, err)
	}
	defer conn.Close()
	client := pb.NewExternalScalerClient(conn)
	out := newQueryPrinter(q)
	if !q.f.watch {
		r := q.round(ctx, client)
		r.explained = q.explain(ctx)
		if r.err != nil {
			return withLeftOut(r.err, r.explained)
		}
		return out.single(r)
	}
	if err := out.header(); err != nil {
		return err
	}
	failed, rounds := 0, 0
	for {
		r := q.round(ctx, client)
		if ctx.Err() != nil {
			break
		}
		if q.f.output == "json" {
			r.explained = q.explain(ctx)
		}
		rounds++
		if r.err != nil {
			failed++
		}
		if err := out.line(r); err != nil {
			return err
		}
		if q.f.count > 0 && rounds >= q.f.count || !q.d.sleep(ctx, q.f.interval) {
			break
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d rounds failed", failed, rounds)
	}
	return nil
}

// roundResult is what one round of KEDA's three calls returned.
type roundResult struct {
	metricName string
	target     float64
	value      float64
	active     bool
	err        error
	// explained names the targets behind an engine trigger's value; nil for
	// a GPU trigger (and in --watch's text lines).
	explained *explainedRound
}

// round calls GetMetricSpec, GetMetrics and IsActive as KEDA does, within
// the --timeout.
func (q *query) round(ctx context.Context, c pb.ExternalScalerClient) roundResult {
	ctx, cancel := context.WithTimeout(ctx, q.f.timeout)
	defer cancel()
	var r roundResult
	spec, err := c.GetMetricSpec(ctx, q.ref)
	if err != nil {
		r.err = q.rpcError("GetMetricSpec", err)
		return r
	}
	if len(spec.GetMetricSpecs()) != 1 {
		r.err = fmt.Errorf("GetMetricSpec: %d metric specs, want 1", len(spec.GetMetricSpecs()))
		return r
	}
	ms := spec.GetMetricSpecs()[0]
	r.metricName, r.target = ms.GetMetricName(), ms.GetTargetSizeFloat()
	if r.target <= 0 { // an old scaler: KEDA falls back to the integer field
		r.target = float64(ms.GetTargetSize())
	}
	m, err := c.GetMetrics(ctx, &pb.GetMetricsRequest{ScaledObjectRef: q.ref, MetricName: r.metricName})
	if err != nil {
		r.err = q.rpcError("GetMetrics", err)
		return r
	}
	if len(m.GetMetricValues()) != 1 {
		r.err = fmt.Errorf("GetMetrics: %d values, want 1", len(m.GetMetricValues()))
		return r
	}
	mv := m.GetMetricValues()[0]
	r.value = mv.GetMetricValueFloat()
	if r.value <= 0 {
		r.value = float64(mv.GetMetricValue())
	}
	a, err := c.IsActive(ctx, q.ref)
	if err != nil {
		r.err = q.rpcError("IsActive", err)
		return r
	}
	r.active = a.GetResult()
	return r
}

// rpcError says which call failed with which gRPC status, e.g.
// "GetMetrics: Unavailable: stale: …", with a hint for the usual connection
// mistakes.
func (q *query) rpcError(call string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", call, err)
	}
	msg := fmt.Sprintf("%s: %s: %s", call, st.Code(), st.Message())
	if st.Code() == codes.Unavailable {
		switch m := st.Message(); {
		case strings.Contains(m, "connection refused") || strings.Contains(m, "no such host"):
			msg += fmt.Sprintf(" (is nvml-scaler serve listening on %s?)", q.f.address)
		case !q.f.tls.enabled() && strings.Contains(m, "server preface"):
			msg += " (does the scaler require TLS? try --tls and --ca-cert)"
		case q.f.tls.enabled() && strings.Contains(m, "does not look like a TLS handshake"):
			msg += " (the scaler does not use TLS: drop the TLS flags)"
		}
	}
	return errors.New(msg)
}

// hpa is the HPA model of the flags.
func (q *query) hpa() hpaModel {
	m := hpaModel{current: q.f.currentReplicas, ready: q.f.readyPods, tolerance: q.f.tolerance}
	if m.ready < 0 {
		m.ready = m.current
	}
	return m
}

// desired returns the HPA's proposal for both metric types.
func (q *query) desired(r roundResult) (avgValue, value int32) {
	m := q.hpa()
	return m.desired(scaler.TargetAverageValue, r.value, r.target, r.active),
		m.desired(scaler.TargetValue, r.value, r.target, r.active)
}

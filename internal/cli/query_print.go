// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/nvml-scaler/nvml-scaler/scaler"
	"github.com/nvml-scaler/nvml-scaler/scaler/enginetrigger"
)

// queryPrinter writes query's results as text or JSON.
type queryPrinter struct {
	q *query
	w io.Writer
}

func newQueryPrinter(q *query) *queryPrinter { return &queryPrinter{q: q, w: q.d.stdout} }

// queryJSON is one round in -o json.
type queryJSON struct {
	Time              string            `json:"time,omitempty"`
	Address           string            `json:"address"`
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace"`
	Metadata          map[string]string `json:"metadata"`
	MetricName        string            `json:"metricName,omitempty"`
	Target            float64           `json:"target,omitempty"`
	Value             *float64          `json:"value,omitempty"`
	Active            *bool             `json:"active,omitempty"`
	CurrentReplicas   int32             `json:"currentReplicas"`
	ReadyPods         int32             `json:"readyPods"`
	Tolerance         float64           `json:"tolerance"`
	DesiredReplicas   map[string]int32  `json:"desiredReplicas,omitempty"`
	DefaultMetricType string            `json:"defaultMetricType"`
	TriggerMetricType string            `json:"triggerMetricType,omitempty"`
	OnMissing         string            `json:"onMissing,omitempty"` // which policy applied, e.g. "fail (default for sum)"
	// Contributed and LeftOut name an engine trigger's targets (the scaler's
	// /debug/engine); ContributorsError says why they are unknown.
	Contributed       []string                `json:"contributed,omitempty"`
	LeftOut           []enginetrigger.LeftOut `json:"leftOut,omitempty"`
	ContributorsError string                  `json:"contributorsError,omitempty"`
	Error             string                  `json:"error,omitempty"`
}

func (p *queryPrinter) json(r roundResult, withTime bool) error {
	q := p.q
	j := queryJSON{Address: q.f.address, Name: q.ref.Name, Namespace: q.ref.Namespace, Metadata: q.ref.ScalerMetadata,
		CurrentReplicas: q.f.currentReplicas, ReadyPods: q.hpa().ready, Tolerance: q.f.tolerance, DefaultMetricType: string(scaler.TargetAverageValue),
		TriggerMetricType: q.picked.MetricType, OnMissing: q.onMissing()}
	if withTime {
		j.Time = q.d.now().Format("15:04:05")
	}
	if e := r.explained; e != nil && e.err != nil {
		j.ContributorsError = e.err.Error()
	} else if e != nil {
		j.Contributed, j.LeftOut = e.ex.Contributed, e.ex.LeftOut
	}
	if r.err != nil {
		j.Error = r.err.Error()
	} else {
		avg, val := q.desired(r)
		j.MetricName, j.Target, j.Value, j.Active = r.metricName, r.target, &r.value, &r.active
		j.DesiredReplicas = map[string]int32{string(scaler.TargetAverageValue): avg, string(scaler.TargetValue): val}
	}
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(p.w, "%s\n", b)
	return err
}

// single prints one successful round in full.
func (p *queryPrinter) single(r roundResult) error {
	if p.q.f.output == "json" {
		return p.json(r, false)
	}
	q := p.q
	avg, val := q.desired(r)
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	so := q.ref.Namespace + "/" + q.ref.Name
	if q.f.file != "" {
		so += fmt.Sprintf(" (%s, trigger %d, %s)", q.f.file, q.picked.Index, q.picked.Type)
	}
	fmt.Fprintf(tw, "ScaledObject\t%s\n", so)
	fmt.Fprintf(tw, "scaler\t%s\n", q.f.address)
	fmt.Fprintf(tw, "metadata\t%s\n", formatMetadata(q.ref.ScalerMetadata))
	fmt.Fprintf(tw, "metric\t%s, target %s\n", r.metricName, ftoa(r.target))
	fmt.Fprintf(tw, "onMissing\t%s: %s\n", q.onMissing(), q.missingEffect())
	fmt.Fprintf(tw, "value\t%.2f\n", r.value)
	writeExplained(tw, r.explained)
	fmt.Fprintf(tw, "active\t%t (value above activationTargetValue %s)\n", r.active, ftoa(q.trigger.ActivationTarget))
	m := q.hpa()
	if m.current == 0 {
		fmt.Fprintf(tw, "desired replicas from 0: the HPA does not act at 0; KEDA scales an active trigger to max(1, minReplicaCount)\n")
		why := "inactive: stays at 0"
		if r.active {
			why = "active: 1, or minReplicaCount if higher"
		}
		fmt.Fprintf(tw, "  either metricType\t%d\t%s\n", avg, why)
	} else {
		fmt.Fprintf(tw, "desired replicas from %d current, %d ready (HPA tolerance %g; before min/maxReplicaCount and behavior):\n",
			m.current, m.ready, m.tolerance)
		fmt.Fprintf(tw, "  metricType AverageValue\t%d\tKEDA's default: ceil(value / target)%s\n", avg, p.mark(scaler.TargetAverageValue))
		fmt.Fprintf(tw, "  metricType Value\t%d\tceil(ready pods × value / target)%s\n", val, p.mark(scaler.TargetValue))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if note := p.note(); note != "" {
		_, err := fmt.Fprintln(p.w, note)
		return err
	}
	return nil
}

// mark flags the metric type the ScaledObject's trigger uses.
func (p *queryPrinter) mark(t scaler.MetricTargetType) string {
	mt := p.q.picked.MetricType
	if p.q.f.file == "" {
		return ""
	}
	if mt == string(t) || mt == "" && t == scaler.TargetAverageValue {
		return "  ← this trigger"
	}
	return ""
}

// note warns about the aggregation that caps a Deployment: a per-GPU value
// against AverageValue, which the HPA divides by the replica count.
func (p *queryPrinter) note() string {
	mt := p.q.picked.MetricType
	if p.q.trigger.Aggregation == scaler.AggSum || mt == string(scaler.TargetValue) {
		return ""
	}
	return fmt.Sprintf("note: with metricType AverageValue the HPA divides the value by the replica count, so serve a fleet total"+
		" (aggregation=sum); aggregation=%s caps the Deployment at ceil(max value / target) replicas", p.q.trigger.Aggregation)
}

// header starts --watch output.
func (p *queryPrinter) header() error {
	if p.q.f.output == "json" {
		return nil
	}
	q := p.q
	_, err := fmt.Fprintf(p.w, "querying %s every %v as KEDA would: %s\n"+
		"desired replicas from %d current, for metricType AverageValue (KEDA's default) and Value\n%-8s  %10s  %-6s  %-12s  %s\n",
		q.f.address, q.f.interval, formatMetadata(q.ref.ScalerMetadata), q.f.currentReplicas,
		"TIME", "VALUE", "ACTIVE", "AVERAGEVALUE", "VALUE")
	return err
}

// line prints one --watch round.
func (p *queryPrinter) line(r roundResult) error {
	if p.q.f.output == "json" {
		return p.json(r, true)
	}
	now := p.q.d.now().Format("15:04:05")
	if r.err != nil {
		_, err := fmt.Fprintf(p.w, "%-8s  error: %v\n", now, r.err)
		return err
	}
	avg, val := p.q.desired(r)
	_, err := fmt.Fprintf(p.w, "%-8s  %10.2f  %-6t  %-12d  %d\n", now, r.value, r.active, avg, val)
	return err
}

// ftoa formats a float without trailing zeros.
func ftoa(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// missingEffect says what the trigger's onMissing policy does.
func missingEffect(t *scaler.Trigger) string {
	if t.OnMissing.For(t.Aggregation) == scaler.MissingFail {
		return "makes the answer Unavailable"
	}
	return "is left out"
}

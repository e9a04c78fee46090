// SPDX-License-Identifier: Apache-2.0

package scaler

// Combine folds values with agg the way the node server folds the values of
// the devices a trigger selects: values whose Status is not StatusOK are left
// out (callers pass an absent Value for a device that is not HealthOK, as the
// node server skips those devices); avg is the mean of the values folded. n is
// how many values were folded; with n == 0 there is no value and v is 0.
//
// Package cluster/aggregator calls it on the GPUs allocated to a workload
// across nodes, so that the cluster and the node agree on what avg, max, min
// and sum mean.
func Combine(values []Value, agg Aggregation) (v float64, n int) {
	f := fold{agg: agg}
	for _, val := range values {
		f.add(val)
	}
	return f.result()
}

// fold accumulates values one at a time as Combine does, so a caller that
// walks a snapshot needs no slice.
type fold struct {
	agg Aggregation
	v   float64
	n   int
}

// add folds val in, unless it is absent.
func (f *fold) add(val Value) {
	if !val.OK() {
		return
	}
	switch {
	case f.n == 0:
		f.v = val.V
	case f.agg == AggMax:
		f.v = max(f.v, val.V)
	case f.agg == AggMin:
		f.v = min(f.v, val.V)
	default:
		f.v += val.V
	}
	f.n++
}

// result returns the folded value and how many values went in (0: no value).
func (f *fold) result() (float64, int) {
	if f.n > 0 && f.agg == AggAvg {
		return f.v / float64(f.n), f.n
	}
	return f.v, f.n
}

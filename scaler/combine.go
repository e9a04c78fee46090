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
	for _, val := range values {
		if !val.OK() {
			continue
		}
		switch {
		case n == 0:
			v = val.V
		case agg == AggMax:
			v = max(v, val.V)
		case agg == AggMin:
			v = min(v, val.V)
		default:
			v += val.V
		}
		n++
	}
	if n > 0 && agg == AggAvg {
		v /= float64(n)
	}
	return v, n
}

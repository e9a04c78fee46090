// SPDX-License-Identifier: Apache-2.0

package aggregator

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/nvml-scaler/nvml-scaler/scaler"
	"github.com/nvml-scaler/nvml-scaler/scaler/enginetrigger"
)

// The aggregator's own trigger metadata keys (each may also come with KEDA's
// FromEnv suffix); every other key goes to scaler.ParseTrigger.
const (
	KeyPodSelector = "podSelector"
	KeyNamespace   = "namespace"
	KeyNodeNames   = "nodeNames"
)

const fromEnv = "FromEnv"

// query is one parsed request.
type query struct {
	trigger scaler.Trigger
	// engine is set for an engine metric (requests_waiting, ttft_seconds,
	// …); trigger is then unset.
	engine *enginetrigger.Trigger
	// soNamespace and soName name the ScaledObject the request is for.
	soNamespace, soName string
	// selector, when set, replaces the ScaledObject's target: pods in
	// namespace matching it.
	selector    labels.Selector
	rawSelector string
	namespace   string
	// nodes, when non-nil, limits the GPUs to these nodes.
	nodes []string
}

// parseQuery parses a request's ScaledObjectRef; errors are InvalidArgument.
func (a *Aggregator) parseQuery(ref *pb.ScaledObjectRef) (*query, error) {
	if ref == nil {
		return nil, status.Error(codes.InvalidArgument, "scaledObjectRef is missing: want the ScaledObject reference with its trigger metadata")
	}
	md := ref.GetScalerMetadata()
	rest := make(map[string]string, len(md))
	q := &query{soNamespace: ref.GetNamespace(), soName: ref.GetName(), namespace: ref.GetNamespace()}
	var ns string
	for k, v := range md {
		switch strings.TrimSuffix(k, fromEnv) {
		case KeyPodSelector:
			q.rawSelector = strings.TrimSpace(v)
		case KeyNamespace:
			ns = strings.TrimSpace(v)
		case KeyNodeNames:
			nodes, err := parseNodes(k, v)
			if err != nil {
				return nil, invalid(err)
			}
			q.nodes = nodes
		default:
			rest[k] = v
		}
	}
	if enginetrigger.Serves(rest) {
		et, err := enginetrigger.Parse(rest)
		if err != nil {
			return nil, invalid(err)
		}
		q.engine = &et
		return q, q.finish(ns, a.cfg.AllowCrossNamespace)
	}
	t, err := scaler.ParseTrigger(rest)
	if err != nil {
		var me *scaler.MetadataError
		if errors.As(err, &me) && strings.HasPrefix(me.Want, "a known key") {
			me.Want += " (and the aggregator's: " + KeyPodSelector + ", " + KeyNamespace + ", " + KeyNodeNames + ")"
		}
		return nil, invalid(err)
	}
	if t.Window > a.cfg.MaxWindow {
		return nil, invalid(&scaler.MetadataError{Key: "window", Value: t.Window.String(), Want: fmt.Sprintf(
			"at most %v: the aggregator keeps that much history (its max window setting)", a.cfg.MaxWindow)})
	}
	q.trigger = t
	return q, q.finish(ns, a.cfg.AllowCrossNamespace)
}

// finish sets the pod selector and checks that q names its pods.
func (q *query) finish(ns string, crossNamespace bool) error {
	if err := q.setSelector(ns, crossNamespace); err != nil {
		return invalid(err)
	}
	if q.selector == nil && q.soName == "" {
		return status.Error(codes.InvalidArgument, "scaledObjectRef has no name: the aggregator follows the "+
			"ScaledObject to its pods; set podSelector to select pods by label instead")
	}
	return nil
}

// metricName, target and activation are the trigger's, GPU or engine.
func (q *query) metricName() string {
	if q.engine != nil {
		return q.engine.MetricName()
	}
	return q.trigger.MetricName()
}

func (q *query) target() float64 {
	if q.engine != nil {
		return q.engine.Target
	}
	return q.trigger.Target
}

func (q *query) activation() float64 {
	if q.engine != nil {
		return q.engine.Activation
	}
	return q.trigger.ActivationTarget
}

func (q *query) setSelector(ns string, crossNamespace bool) error {
	if q.rawSelector == "" {
		if ns != "" {
			return &scaler.MetadataError{Key: KeyNamespace, Value: ns, Want: "to be set only with " + KeyPodSelector}
		}
		return nil
	}
	sel, err := labels.Parse(q.rawSelector)
	if err != nil {
		return &scaler.MetadataError{Key: KeyPodSelector, Value: q.rawSelector,
			Want: `a Kubernetes label selector, e.g. "app=vllm,tier in (prod)": ` + err.Error()}
	}
	if sel.Empty() {
		return &scaler.MetadataError{Key: KeyPodSelector, Value: q.rawSelector,
			Want: "a label selector that selects something: it would match every pod in the namespace"}
	}
	q.selector = sel
	if ns != "" {
		if ns != q.soNamespace && !crossNamespace {
			return &scaler.MetadataError{Key: KeyNamespace, Value: ns, Want: "the ScaledObject's own namespace " +
				`"` + q.soNamespace + `": this aggregator does not allow reading other namespaces`}
		}
		q.namespace = ns
	}
	if q.namespace == "" {
		return &scaler.MetadataError{Key: KeyNamespace, Missing: true, Want: "a namespace: the request names none"}
	}
	return nil
}

func parseNodes(key, v string) ([]string, error) {
	var out []string
	for elem := range strings.SplitSeq(v, ",") {
		n := strings.TrimSpace(elem)
		if n == "" || len(n) > 253 || strings.ContainsFunc(n, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.')
		}) {
			return nil, &scaler.MetadataError{Key: key, Value: v, Want: `comma-separated node names, e.g. "gpu-node-1,gpu-node-2"`}
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

func (q *query) nodeAllowed(node string) bool {
	if q.nodes == nil {
		return true
	}
	_, ok := slices.BinarySearch(q.nodes, node)
	return ok
}

func invalid(err error) error { return status.Error(codes.InvalidArgument, err.Error()) }

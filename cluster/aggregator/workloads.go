// SPDX-License-Identifier: Apache-2.0

package aggregator

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
)

// byController indexes pods and ReplicaSets by "<namespace>/<controller UID>".
const byController = "controller"

// workloads keeps a slim, read-only cache of the objects that lead from a
// ScaledObject to its pods, through informers on the dynamic client (no typed
// clientset: it would add every API group to the binary). Lookups are lock-free
// reads of the informers' indexers.
type workloads struct {
	pods, replicaSets, deployments, statefulSets, scaledObjects cache.SharedIndexInformer
	// claims watches ResourceClaims; nil without Config.DRA.
	claims cache.SharedIndexInformer
	synced atomic.Bool
	// listErrs holds, by resource, why an informer that has not synced yet
	// failed its last list or watch (see listError).
	listErrs sync.Map
	log      *slog.Logger
}

func newWorkloads(client dynamic.Interface, namespace string, dra bool, log *slog.Logger) (*workloads, error) {
	w := &workloads{log: log}
	type informer struct {
		inf *cache.SharedIndexInformer
		gvr schema.GroupVersionResource
	}
	infs := []informer{{&w.pods, gvrPods}, {&w.replicaSets, gvrReplicaSets}, {&w.deployments, gvrDeployments},
		{&w.statefulSets, gvrStatefulSets}, {&w.scaledObjects, gvrScaledObjects}}
	if dra {
		infs = append(infs, informer{&w.claims, gvrResourceClaims})
	}
	for _, x := range infs {
		inf, err := newInformer(client, x.gvr, namespace)
		if err != nil {
			return nil, err
		}
		if err := inf.SetWatchErrorHandlerWithContext(w.watchErrors(x.gvr, inf)); err != nil {
			return nil, fmt.Errorf("informer for %s: %w", x.gvr.Resource, err)
		}
		*x.inf = inf
	}
	return w, nil
}

func newInformer(client dynamic.Interface, gvr schema.GroupVersionResource, namespace string) (cache.SharedIndexInformer, error) {
	ri := client.Resource(gvr).Namespace(namespace)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return ri.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return ri.Watch(ctx, opts)
		},
	}
	// The wrapper tells the reflector when the client (a fake in tests)
	// cannot stream the initial list through a watch.
	inf := cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(lw, client), &unstructured.Unstructured{}, 0, cache.Indexers{
		cache.NamespaceIndex: cache.MetaNamespaceIndexFunc,
		byController:         controllerIndex,
	})
	if err := inf.SetTransform(slim); err != nil {
		return nil, fmt.Errorf("informer for %s: %w", gvr.Resource, err)
	}
	return inf, nil
}

func controllerIndex(obj any) ([]string, error) {
	o, ok := obj.(*object)
	if !ok || o.controller == "" {
		return nil, nil
	}
	return []string{o.Namespace + "/" + string(o.controller)}, nil
}

// run runs the informers until ctx ends, and marks the cache synced once every
// informer has listed its objects.
func (w *workloads) run(ctx context.Context) {
	infs := w.all()
	var wg sync.WaitGroup
	for _, inf := range infs {
		wg.Go(func() { inf.Run(ctx.Done()) })
	}
	syncs := make([]cache.InformerSynced, len(infs))
	for i, inf := range infs {
		syncs[i] = inf.HasSynced
	}
	if cache.WaitForCacheSync(ctx.Done(), syncs...) {
		w.synced.Store(true)
	}
	wg.Wait()
}

func (w *workloads) all() []cache.SharedIndexInformer {
	infs := []cache.SharedIndexInformer{w.pods, w.replicaSets, w.deployments, w.statefulSets, w.scaledObjects}
	if w.claims != nil {
		infs = append(infs, w.claims)
	}
	return infs
}

// podGPUs returns how many GPUs p holds: its GPUResourcePrefix requests plus,
// with DRA, the gpu.nvidia.com devices allocated to its ResourceClaims.
// unresolved, when not "", says why that count is not known yet: a claim not
// generated from its template, not in the cache, or not allocated.
func (w *workloads) podGPUs(p *object) (gpus int64, unresolved string) {
	gpus = p.gpus
	if w.claims == nil {
		return gpus, ""
	}
	var why []string
	for _, name := range p.ungenerated {
		why = append(why, fmt.Sprintf("its ResourceClaim %q (from a template) has not been generated yet", name))
	}
	for _, name := range p.claims {
		c, err := get(w.claims, p.Namespace, name)
		switch {
		case err != nil:
			why = append(why, fmt.Sprintf("ResourceClaim %s/%s: %v", p.Namespace, name, err))
		case c == nil:
			why = append(why, fmt.Sprintf("its ResourceClaim %s/%s is not in the aggregator's cache yet", p.Namespace, name))
		case !c.allocated:
			why = append(why, fmt.Sprintf("its ResourceClaim %s/%s is not allocated yet", p.Namespace, name))
		default:
			gpus += c.claimGPUs
		}
	}
	return gpus, strings.Join(why, "; ")
}

// selection is the set of pods a request aggregates over.
type selection struct {
	// what names the selection in messages, e.g. `Deployment llm/vllm`.
	what string
	pods []*object
}

// ScaledJobLabel is the label KEDA puts on the pod template of every Job a
// ScaledJob creates (pkg/scaling/executor/scale_jobs.go, v2.21.0), with the
// ScaledJob's name as value.
const ScaledJobLabel = "scaledjob.keda.sh/name"

// targetPods follows the ScaledObject namespace/name to its scale target's
// pods. KEDA sends a ScaledJob's trigger the same reference, naming the
// ScaledJob: without a ScaledObject of that name, the pods of the ScaledJob's
// Jobs (ScaledJobLabel) are the selection; with both, the request is
// ambiguous. Errors are *selectError.
func (w *workloads) targetPods(namespace, name string) (selection, error) {
	so, err := get(w.scaledObjects, namespace, name)
	if err != nil {
		return selection{}, err
	}
	jobs, err := w.scaledJobPods(namespace, name)
	if err != nil {
		return selection{}, err
	}
	switch {
	case so == nil && len(jobs.pods) > 0:
		return jobs, nil
	case so == nil:
		return selection{}, &selectError{notFound: true, msg: fmt.Sprintf(
			"ScaledObject %s/%s not found, nor pods of a ScaledJob of that name (label %s=%s): the aggregator follows "+
				"the ScaledObject, or the ScaledJob's Jobs, named in the request to their pods; "+
				"set podSelector to select pods by label instead", namespace, name, ScaledJobLabel, name)}
	case len(jobs.pods) > 0:
		return selection{}, &selectError{msg: fmt.Sprintf(
			"both ScaledObject %s/%s and the Jobs of a ScaledJob of that name (label %s=%s) exist, and KEDA's request "+
				"does not say which it is for: rename one, or set podSelector", namespace, name, ScaledJobLabel, name)}
	}
	kind, group := so.targetKind, apiGroup(so.targetAPIVersion)
	if kind == "" {
		kind = "Deployment" // KEDA's default
	}
	what := fmt.Sprintf("%s %s/%s (scaleTargetRef of ScaledObject %s)", kind, namespace, so.targetName, name)
	var owners []*object
	switch {
	case group != "apps":
		return selection{}, unsupportedTarget(so, name)
	case kind == "Deployment":
		d, err := get(w.deployments, namespace, so.targetName)
		if err != nil || d == nil {
			return selection{}, missingTarget(what, err)
		}
		owners = w.owned(w.replicaSets, namespace, d.UID)
	case kind == "StatefulSet", kind == "ReplicaSet":
		inf := w.statefulSets
		if kind == "ReplicaSet" {
			inf = w.replicaSets
		}
		o, err := get(inf, namespace, so.targetName)
		if err != nil || o == nil {
			return selection{}, missingTarget(what, err)
		}
		owners = []*object{o}
	default:
		return selection{}, unsupportedTarget(so, name)
	}
	sel := selection{what: what}
	for _, owner := range owners {
		sel.pods = append(sel.pods, w.owned(w.pods, namespace, owner.UID)...)
	}
	sel.sort()
	return sel, nil
}

// sort orders the pods by namespace/name. The informers' indexes return them
// in map order, and a float sum depends on the order of its terms: sorted,
// every replica of the aggregator (each with its own cache) adds the same
// values in the same order and answers KEDA bit for bit alike.
func (s *selection) sort() {
	slices.SortFunc(s.pods, func(a, b *object) int { return strings.Compare(a.key, b.key) })
}

// scaledJobPods returns the pods of the Jobs ScaledJob namespace/name made.
func (w *workloads) scaledJobPods(namespace, name string) (selection, error) {
	sel, err := w.labelledPods(namespace, labels.SelectorFromSet(labels.Set{ScaledJobLabel: name}), "")
	sel.what = fmt.Sprintf("pods of ScaledJob %s/%s (label %s=%s)", namespace, name, ScaledJobLabel, name)
	return sel, err
}

// labelledPods returns the pods in namespace that match sel.
func (w *workloads) labelledPods(namespace string, sel labels.Selector, raw string) (selection, error) {
	objs, err := w.pods.GetIndexer().ByIndex(cache.NamespaceIndex, namespace)
	if err != nil {
		return selection{}, err
	}
	out := selection{what: fmt.Sprintf("pods in namespace %s matching podSelector %q", namespace, raw)}
	for _, obj := range objs {
		if o, ok := obj.(*object); ok && sel.Matches(labels.Set(o.Labels)) {
			out.pods = append(out.pods, o)
		}
	}
	out.sort()
	return out, nil
}

// owned returns the objects in inf whose controller is uid.
func (w *workloads) owned(inf cache.SharedIndexInformer, namespace string, uid any) []*object {
	objs, _ := inf.GetIndexer().ByIndex(byController, fmt.Sprintf("%s/%s", namespace, uid))
	out := make([]*object, 0, len(objs))
	for _, obj := range objs {
		if o, ok := obj.(*object); ok {
			out = append(out, o)
		}
	}
	return out
}

func get(inf cache.SharedIndexInformer, namespace, name string) (*object, error) {
	obj, ok, err := inf.GetIndexer().GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil, err
	}
	o, _ := obj.(*object)
	return o, nil
}

func apiGroup(apiVersion string) string {
	if apiVersion == "" {
		return "apps"
	}
	group, _, ok := strings.Cut(apiVersion, "/")
	if !ok {
		return "" // core group: "v1"
	}
	return group
}

// selectError is a selection that failed; notFound maps onto gRPC NotFound,
// the rest onto FailedPrecondition.
type selectError struct {
	notFound bool
	msg      string
}

func (e *selectError) Error() string { return e.msg }

func missingTarget(what string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return &selectError{notFound: true, msg: what + " not found"}
}

func unsupportedTarget(so *object, name string) error {
	return &selectError{msg: fmt.Sprintf("ScaledObject %s/%s scales %s %q (%s): the aggregator follows apps/v1 "+
		"Deployments, StatefulSets and ReplicaSets to their pods; set podSelector to select the pods by label",
		so.Namespace, name, so.targetKind, so.targetName, so.targetAPIVersion)}
}

// SPDX-License-Identifier: Apache-2.0

package aggregator

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
)

// watchErrors returns inf's watch error handler: while inf has not synced,
// the error kept in listErrs for NotReadyReason and logged when it changes
// (not at every retry), so that a cache that cannot sync says why instead
// of waiting silently; once it has, client-go's default one (klog).
func (w *workloads) watchErrors(gvr schema.GroupVersionResource, inf cache.SharedIndexInformer) cache.WatchErrorHandlerWithContext {
	return func(ctx context.Context, r *cache.Reflector, err error) {
		if inf.HasSynced() {
			cache.DefaultWatchErrorHandler(ctx, r, err)
			return
		}
		msg := listError(gvr, err)
		if prev, _ := w.listErrs.Swap(gvr.Resource, syncError{inf, msg}); prev == nil || prev.(syncError).msg != msg {
			w.log.Warn("the Kubernetes cache cannot sync", "resource", gvr.Resource, "err", msg)
		}
	}
}

// syncError is the last list or watch error of an informer that had not
// synced.
type syncError struct {
	inf cache.SharedIndexInformer
	msg string
}

// listError explains a failed list or watch of gvr, with the fix where it is
// known: RBAC, the KEDA CRDs, or a cluster without DRA's v1 API.
func listError(gvr schema.GroupVersionResource, err error) string {
	what := gvr.Resource
	if gvr.Group != "" {
		what += "." + gvr.Group
	}
	what += " (" + gvr.GroupVersion().String() + ")"
	switch {
	case apierrors.IsNotFound(err) && gvr == gvrResourceClaims:
		return fmt.Sprintf("%s: the API server does not serve them (%v): DRA's v1 API needs Kubernetes 1.34 or later; "+
			"on a cluster without it turn --dra off (chart attribution.dra.enabled=false, or leave out kustomize components/dra)", what, err)
	case apierrors.IsNotFound(err) && gvr == gvrScaledObjects:
		return fmt.Sprintf("%s: the API server does not serve them (%v): install KEDA (its CRDs) first", what, err)
	case apierrors.IsForbidden(err):
		return fmt.Sprintf("%s: %v: the aggregator's service account needs list and watch on it (RBAC)", what, err)
	}
	return fmt.Sprintf("%s: %v", what, err)
}

// notReadyReason says why the cache has not synced, "" once it has.
func (w *workloads) notReadyReason() string {
	if w.synced.Load() {
		return ""
	}
	var errs []string
	w.listErrs.Range(func(_, v any) bool {
		if e := v.(syncError); !e.inf.HasSynced() {
			errs = append(errs, e.msg)
		}
		return true
	})
	if len(errs) == 0 {
		return "the Kubernetes cache has not synced yet (listing)"
	}
	slices.Sort(errs)
	return "the Kubernetes cache has not synced: " + strings.Join(errs, "; ")
}

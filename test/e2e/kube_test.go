// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
)

// applyMode says how applyYAML sends each object.
type applyMode int

const (
	applyCreate applyMode = iota // create, strict field validation
	applyDryRun                  // a strict server-side dry run: validated and admitted, not stored
)

// decodeYAML splits a multi-document YAML stream into objects; empty
// documents are skipped.
func decodeYAML(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// applyYAML creates every object of data with fieldValidation=Strict: an
// unknown or duplicate field is an error, as `kubectl apply
// --validate=strict` makes it.
func (b *bed) applyYAML(ctx context.Context, data []byte, mode applyMode) error {
	objs, err := decodeYAML(data)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := b.applyObject(ctx, o, mode); err != nil {
			return err
		}
	}
	return nil
}

func (b *bed) applyObject(ctx context.Context, o *unstructured.Unstructured, mode applyMode) error {
	gvk := o.GroupVersionKind()
	if gvk.Kind == "" {
		return fmt.Errorf("document without apiVersion/kind: %v", o.Object)
	}
	m, err := b.mapping(gvk)
	if err != nil {
		return fmt.Errorf("%s %s: %w", gvk.Kind, o.GetName(), err)
	}
	opts := metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}
	if mode == applyDryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	ri := b.dyn.Resource(m.Resource)
	var created error
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := o.GetNamespace()
		if ns == "" {
			ns = "default"
		}
		_, created = ri.Namespace(ns).Create(ctx, o, opts)
	} else {
		_, created = ri.Create(ctx, o, opts)
	}
	if created != nil {
		return fmt.Errorf("%s %s/%s: %w", gvk.Kind, o.GetNamespace(), o.GetName(), created)
	}
	return nil
}

// mapping finds the resource of gvk, rediscovering once for a CRD created since.
func (b *bed) mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	if b.mapper == nil {
		b.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(b.kube.Discovery()))
	}
	m, err := b.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		b.mapper.Reset()
		m, err = b.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	return m, err
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// waitCRDs waits until every CRD is Established.
func (b *bed) waitCRDs(ctx context.Context) error {
	return poll(ctx, startTimeout, pollEvery, func(ctx context.Context) (bool, error) {
		list, err := b.dyn.Resource(crdGVR).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range list.Items {
			if !condTrue(c.Object, "Established") {
				return false, fmt.Errorf("CRD %s not established", c.GetName())
			}
		}
		b.mapper = nil
		return true, nil
	})
}

var apiServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// waitAPIService waits until the aggregation layer says name is Available.
func (b *bed) waitAPIService(ctx context.Context, name string) error {
	return poll(ctx, startTimeout, pollEvery, func(ctx context.Context) (bool, error) {
		if err := b.alive(); err != nil {
			return true, err
		}
		s, err := b.dyn.Resource(apiServiceGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if !condTrue(s.Object, "Available") {
			return false, fmt.Errorf("APIService %s not available: %v", name, s.Object["status"])
		}
		return true, nil
	})
}

// condTrue reports whether obj's status.conditions holds typ with status True.
func condTrue(obj map[string]any, typ string) bool {
	conds, _, _ := unstructured.NestedSlice(obj, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == typ && m["status"] == "True" {
			return true
		}
	}
	return false
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// ignoreExists treats AlreadyExists as success.
func ignoreExists(err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

var scaledObjectGVR = schema.GroupVersionResource{Group: "keda.sh", Version: "v1alpha1", Resource: "scaledobjects"}

// conditions returns obj's status.conditions.
func conditions(obj map[string]any) []map[string]any {
	raw, _, _ := unstructured.NestedSlice(obj, "status", "conditions")
	out := make([]map[string]any, 0, len(raw))
	for _, c := range raw {
		if m, ok := c.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func metav1PatchOptions() metav1.PatchOptions {
	return metav1.PatchOptions{FieldValidation: metav1.FieldValidationStrict}
}

// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// object is a decoded manifest: one of the typed objects newObject returns.
type object interface {
	GetName() string
	GetNamespace() string
	GetLabels() map[string]string
	SetLabels(map[string]string)
}

// newObject returns an empty typed object for apiVersion and kind: the types
// the chart and the overlays may render, and nothing else.
func newObject(apiVersion, kind string) (object, error) {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return &corev1.Namespace{}, nil
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "v1 Service":
		return &corev1.Service{}, nil
	case "apps/v1 DaemonSet":
		return &appsv1.DaemonSet{}, nil
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, nil
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, nil
	case "rbac.authorization.k8s.io/v1 ClusterRole":
		return &rbacv1.ClusterRole{}, nil
	case "rbac.authorization.k8s.io/v1 ClusterRoleBinding":
		return &rbacv1.ClusterRoleBinding{}, nil
	case "rbac.authorization.k8s.io/v1 Role":
		return &rbacv1.Role{}, nil
	case "rbac.authorization.k8s.io/v1 RoleBinding":
		return &rbacv1.RoleBinding{}, nil
	case "monitoring.coreos.com/v1 PodMonitor":
		return &monitoringv1.PodMonitor{}, nil
	case "monitoring.coreos.com/v1 PrometheusRule":
		return &monitoringv1.PrometheusRule{}, nil
	case "cert-manager.io/v1 Certificate":
		return &certificate{}, nil
	}
	return nil, fmt.Errorf("unexpected object %s %s", apiVersion, kind)
}

// decodeStrict decodes one YAML document into its typed object
// (strictUnmarshal).
func decodeStrict(doc []byte) (object, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, err
	}
	obj, err := newObject(tm.APIVersion, tm.Kind)
	if err != nil {
		return nil, err
	}
	if err := strictUnmarshal(doc, obj); err != nil {
		return nil, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	return obj, nil
}

// strictUnmarshal decodes a YAML document into obj as the API server would
// receive it from kubectl: YAML converted to JSON without regard to obj's
// types (so `targetValue: 60` stays a number and fails to decode into a
// string, where sigs.k8s.io/yaml.UnmarshalStrict would quietly quote it),
// duplicate keys an error, and unknown fields an error.
func strictUnmarshal(doc []byte, obj any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

// objects decodes docs strictly and indexes them by "Kind namespace/name";
// a duplicate key fails the test.
type objects map[string]object

func decodeAll(t testing.TB, docs [][]byte) objects {
	t.Helper()
	out := objects{}
	for _, d := range docs {
		obj, err := decodeStrict(d)
		require.NoError(t, err, "strict decoding of\n%s", d)
		k := key(obj)
		require.NotContains(t, out, k, "rendered twice")
		out[k] = obj
	}
	return out
}

func key(o object) string {
	return fmt.Sprintf("%T %s/%s", o, o.GetNamespace(), o.GetName())
}

// only returns the single object of type T, failing the test otherwise.
func only[T object](t testing.TB, objs objects) T {
	t.Helper()
	var found []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			found = append(found, v)
		}
	}
	var zero T
	require.Len(t, found, 1, "objects of type %T", zero)
	return found[0]
}

// named returns the object of type T with that namespace and name, failing
// the test if there is none.
func named[T object](t testing.TB, objs objects, namespace, name string) T {
	t.Helper()
	for _, o := range objs {
		if v, ok := o.(T); ok && o.GetNamespace() == namespace && o.GetName() == name {
			return v
		}
	}
	var zero T
	t.Fatalf("no %T %s/%s", zero, namespace, name)
	return zero
}

// all returns the objects of type T.
func all[T object](objs objects) []T {
	var found []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			found = append(found, v)
		}
	}
	return found
}

// SPDX-License-Identifier: Apache-2.0

package aggregator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// toUnstructured turns a typed object into what the dynamic client hands the
// informers: the JSON field names come from k8s.io/api's own struct tags, so
// a path the transform reads wrongly fails here, unlike in a hand-written map.
func toUnstructured(t *testing.T, obj runtime.Object, apiVersion, kind string) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	require.NoError(t, err)
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	return u
}

// The transforms read a real core/v1 Pod's claims and a real
// resource.k8s.io/v1 ResourceClaim's allocation, as the API server serves them.
func TestSlimReadsTheRealDRATypes(t *testing.T) {
	t.Parallel()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "vllm-0", Namespace: "llm"},
		Spec: corev1.PodSpec{ResourceClaims: []corev1.PodResourceClaim{
			{Name: "shared", ResourceClaimName: strp("shared-gpus")},
			{Name: "gpu", ResourceClaimTemplateName: strp("one-gpu")},
			{Name: "pending", ResourceClaimTemplateName: strp("one-gpu")},
		}},
		Status: corev1.PodStatus{ResourceClaimStatuses: []corev1.PodResourceClaimStatus{
			{Name: "gpu", ResourceClaimName: strp("vllm-0-gpu-x7k2p")},
		}},
	}
	got, err := slim(toUnstructured(t, pod, "v1", "Pod"))
	require.NoError(t, err)
	assert.Equal(t, []string{"shared-gpus", "vllm-0-gpu-x7k2p"}, got.(*object).claims)
	assert.Equal(t, []string{"pending"}, got.(*object).ungenerated)

	claim := &resourcev1.ResourceClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "vllm-0-gpu-x7k2p", Namespace: "llm", UID: "u-1"},
		Status: resourcev1.ResourceClaimStatus{Allocation: &resourcev1.AllocationResult{
			Devices: resourcev1.DeviceAllocationResult{Results: []resourcev1.DeviceRequestAllocationResult{
				{Request: "gpu", Driver: "gpu.nvidia.com", Pool: "node-a", Device: "gpu-0"},
				{Request: "gpu", Driver: "gpu.nvidia.com", Pool: "node-a", Device: "gpu-1"},
				{Request: "nic", Driver: "example.com/nic", Pool: "node-a", Device: "nic-0"},
			}},
		}},
	}
	got, err = slim(toUnstructured(t, claim, "resource.k8s.io/v1", "ResourceClaim"))
	require.NoError(t, err)
	assert.True(t, got.(*object).allocated)
	assert.Equal(t, int64(2), got.(*object).claimGPUs)

	claim.Status.Allocation = nil
	got, err = slim(toUnstructured(t, claim, "resource.k8s.io/v1", "ResourceClaim"))
	require.NoError(t, err)
	assert.False(t, got.(*object).allocated)
}

func strp(s string) *string { return &s }

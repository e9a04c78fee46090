// SPDX-License-Identifier: Apache-2.0

package aggregator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The pod transform keeps the names of the claims a pod uses: direct ones,
// generated ones by their status entry, not-yet-generated ones apart, and a
// template entry whose status says no claim was needed not at all.
func TestSlimPodClaims(t *testing.T) {
	t.Parallel()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "p", "namespace": "llm"},
		"spec": map[string]any{"resourceClaims": []any{
			map[string]any{"name": "direct", "resourceClaimName": "shared-gpus"},
			map[string]any{"name": "gen", "resourceClaimTemplateName": "one-gpu"},
			map[string]any{"name": "later", "resourceClaimTemplateName": "one-gpu"},
			map[string]any{"name": "unneeded", "resourceClaimTemplateName": "maybe"},
		}},
		"status": map[string]any{"resourceClaimStatuses": []any{
			map[string]any{"name": "gen", "resourceClaimName": "p-gen-x7k2p"},
			map[string]any{"name": "unneeded"},
		}},
	}}
	got, err := slim(u)
	require.NoError(t, err)
	o := got.(*object)
	assert.Equal(t, []string{"shared-gpus", "p-gen-x7k2p"}, o.claims)
	assert.Equal(t, []string{"later"}, o.ungenerated)
	assert.Zero(t, o.gpus)
}

// The claim transform counts the allocated devices of gpu.nvidia.com only;
// without status.allocation a claim is not allocated.
func TestSlimResourceClaim(t *testing.T) {
	t.Parallel()
	claim := func(status map[string]any) *object {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
			"metadata": map[string]any{"name": "c", "namespace": "llm", "uid": "u-1"},
			"status":   status,
		}}
		got, err := slim(u)
		require.NoError(t, err)
		return got.(*object)
	}
	results := []any{
		map[string]any{"request": "gpus", "driver": "gpu.nvidia.com", "pool": "node-a", "device": "gpu-0"},
		map[string]any{"request": "gpus", "driver": "gpu.nvidia.com", "pool": "node-a", "device": "gpu-1-mig-1g10gb-19-0"},
		map[string]any{"request": "channel", "driver": "compute-domain.nvidia.com", "pool": "node-a", "device": "channel-0"},
	}
	o := claim(map[string]any{"allocation": map[string]any{"devices": map[string]any{"results": results}}})
	assert.True(t, o.allocated)
	assert.Equal(t, int64(2), o.claimGPUs)
	assert.Equal(t, "llm", o.Namespace)
	assert.Equal(t, "u-1", string(o.UID))

	o = claim(map[string]any{})
	assert.False(t, o.allocated)
	assert.Zero(t, o.claimGPUs)
}

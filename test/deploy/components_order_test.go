// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// TestEnginePodsAndDRA: components/engine-pods and components/dra together
// render the same objects in either order, the same as
// overlays/cluster-engine-dra (which TestHelmAndKustomizeAgree holds to the
// chart with both values on). Every object decodes strictly into its type,
// the agent runs each flag once, which `serve --help` has, and its egress is
// pods and the API server, nothing else.
func TestEnginePodsAndDRA(t *testing.T) {
	t.Parallel()
	overlay := decodeAll(t, renderKustomize(t, "overlays/cluster-engine-dra"))
	for _, order := range [][]string{
		{"components/engine-pods", "components/dra"},
		{"components/dra", "components/engine-pods"},
	} {
		t.Run(strings.Join(order, ", "), func(t *testing.T) {
			t.Parallel()
			objs := decodeAll(t, renderComponents(t, "overlays/cluster", order...))
			require.ElementsMatch(t, keys(overlay), keys(objs), "the same objects")
			for k, o := range overlay {
				assert.Equal(t, toYAML(t, o), toYAML(t, objs[k]), "%s: overlays/cluster-engine-dra (-) and this order (+)", k)
			}
		})
	}
	ds := only[*appsv1.DaemonSet](t, overlay)
	args := ds.Spec.Template.Spec.Containers[0].Args
	flags := serveFlags(t)
	for _, f := range []string{"engine-pods", "dra"} {
		n := 0
		for _, a := range args {
			if a == "--"+f {
				n++
			}
		}
		assert.Equal(t, 1, n, "--%s once in %q", f, args)
		assert.Contains(t, flags, f, "serve --help has --%s", f)
	}
	assert.NotNil(t, enginePodsBinding(overlay), "the pod watch's RBAC")
	assert.NotNil(t, draBinding(overlay), "the ResourceSlice watch's RBAC")
	checkAgentEgress(t, overlay, ds, true, true)
}

// keys returns the objects' keys, sorted.
func keys(objs objects) []string {
	out := make([]string, 0, len(objs))
	for k := range objs {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// renderComponents builds, as `kubectl kustomize` would, a kustomization of
// deploy/kustomize/<resource> with the components (paths under
// deploy/kustomize) in the order given. It runs on an in-memory copy of
// deploy/kustomize, so that the test writes nothing into the tree.
func renderComponents(t testing.TB, resource string, components ...string) [][]byte {
	t.Helper()
	const root = "/kustomize"
	mem := filesys.MakeFsInMemory()
	src, err := os.OpenRoot(kustomizeDir)
	require.NoError(t, err)
	defer src.Close()
	tree := src.FS()
	err = fs.WalkDir(tree, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(tree, path)
		if err != nil {
			return err
		}
		return mem.WriteFile(filepath.Join(root, path), b)
	})
	require.NoError(t, err, "copy %s", kustomizeDir)
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: nvml-scaler\n" +
		"resources:\n  - ../../" + resource + "\ncomponents:\n"
	for _, c := range components {
		k += "  - ../../" + c + "\n"
	}
	dir := filepath.Join(root, "overlays", "components-order")
	require.NoError(t, mem.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k)))
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, dir)
	require.NoError(t, err, "kustomize build of %s with %v", resource, components)
	out, err := m.AsYaml()
	require.NoError(t, err)
	return splitYAML(out)
}

// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Where deploy/ is, from this package's directory.
const (
	repoRoot     = "../.."
	chartDir     = repoRoot + "/deploy/helm/nvml-scaler"
	kustomizeDir = repoRoot + "/deploy/kustomize"
	examplesDir  = repoRoot + "/deploy/examples"
)

// The release the kustomize base mirrors: `helm install nvml-scaler -n nvml-scaler`.
const (
	releaseName      = "nvml-scaler"
	releaseNamespace = "nvml-scaler"
)

// renderHelm renders the chart as `helm template` would for the release, with
// the values files (under testdata) and then the set values merged over the
// chart's defaults and checked against values.schema.json. It returns the
// rendered YAML documents, NOTES.txt left out.
func renderHelm(t testing.TB, set map[string]any, valuesFiles ...string) ([][]byte, error) {
	t.Helper()
	return renderHelmWith(t, common.DefaultCapabilities, set, valuesFiles...)
}

// prometheusOperatorAPIs are the API versions a cluster with the Prometheus
// Operator's CRDs serves, as `helm template --api-versions` passes them.
var prometheusOperatorAPIs = []string{"monitoring.coreos.com/v1", "monitoring.coreos.com/v1/PodMonitor",
	"monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule"}

// withAPIs returns the default capabilities plus apis.
func withAPIs(apis ...string) *common.Capabilities {
	caps := *common.DefaultCapabilities
	caps.APIVersions = append(slices.Clone(caps.APIVersions), apis...)
	return &caps
}

// renderHelmWith is renderHelm against a cluster with caps.
func renderHelmWith(t testing.TB, caps *common.Capabilities, set map[string]any, valuesFiles ...string) ([][]byte, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	require.NoError(t, err, "load chart")
	// Precedence as `helm template --set … -f a -f b`: set, then b, then a.
	// MergeTables fills its first argument in place: start from a copy of
	// set, which parallel tests share.
	vals := map[string]any{}
	b, err := yaml.Marshal(set)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, &vals))
	for i := len(valuesFiles) - 1; i >= 0; i-- {
		b, err := os.ReadFile(filepath.Join("testdata", valuesFiles[i]))
		require.NoError(t, err)
		var v map[string]any
		require.NoError(t, yaml.Unmarshal(b, &v), valuesFiles[i])
		vals = util.MergeTables(vals, v)
	}
	opts := common.ReleaseOptions{Name: releaseName, Namespace: releaseNamespace, Revision: 1, IsInstall: true}
	top, err := util.ToRenderValuesWithSchemaValidation(chrt, vals, opts, caps, false)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(chrt, top)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		if strings.HasSuffix(name, ".yaml") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var docs [][]byte
	for _, name := range names {
		docs = append(docs, splitYAML([]byte(files[name]))...)
	}
	return docs, nil
}

// mustRenderHelm is renderHelm for values that must render.
func mustRenderHelm(t testing.TB, set map[string]any, valuesFiles ...string) [][]byte {
	t.Helper()
	docs, err := renderHelm(t, set, valuesFiles...)
	require.NoError(t, err, "helm render")
	require.NotEmpty(t, docs)
	return docs
}

// renderKustomize builds deploy/kustomize/<path> as `kubectl kustomize` would.
func renderKustomize(t testing.TB, path string) [][]byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(kustomizeDir, path))
	require.NoError(t, err, "kustomize build %s", path)
	out, err := m.AsYaml()
	require.NoError(t, err)
	return splitYAML(out)
}

// splitYAML splits a multi-document stream, dropping documents that hold
// only comments or whitespace.
func splitYAML(b []byte) [][]byte {
	var docs [][]byte
	for _, d := range bytes.Split(append([]byte("\n"), b...), []byte("\n---")) {
		if hasContent(d) {
			docs = append(docs, d)
		}
	}
	return docs
}

func hasContent(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		l := strings.TrimSpace(line)
		if l != "" && !strings.HasPrefix(l, "#") {
			return true
		}
	}
	return false
}

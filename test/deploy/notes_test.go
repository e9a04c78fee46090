// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
)

// renderNotes renders the chart's NOTES.txt for the release with set over
// the defaults.
func renderNotes(t *testing.T, set map[string]any) string {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	require.NoError(t, err)
	opts := common.ReleaseOptions{Name: releaseName, Namespace: releaseNamespace, Revision: 1, IsInstall: true}
	top, err := util.ToRenderValuesWithSchemaValidation(chrt, set, opts, common.DefaultCapabilities, false)
	require.NoError(t, err)
	files, err := engine.Render(chrt, top)
	require.NoError(t, err)
	notes, ok := files["nvml-scaler/templates/NOTES.txt"]
	require.True(t, ok, "NOTES.txt rendered")
	return notes
}

// TestNotesAddress: NOTES names the address KEDA must use: the aggregator's
// in cluster mode, and otherwise the agents' with the single-node warning.
func TestNotesAddress(t *testing.T) {
	t.Parallel()
	cluster := renderNotes(t, map[string]any{"aggregator": map[string]any{"enabled": true}})
	assert.Contains(t, cluster, "scalerAddress: "+aggregatorHost+":6000")
	assert.NotContains(t, cluster, "scalerAddress: "+agentHost)

	single := renderNotes(t, nil)
	assert.Contains(t, single, "scalerAddress: "+agentHost+":6000")
	assert.Contains(t, single, "single GPU node only")
	assert.Contains(t, single, "aggregator.enabled=true")
}

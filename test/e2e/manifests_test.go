// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// yamlBlock is one ```yaml block of a Markdown file.
type yamlBlock struct {
	where string // file:line
	text  string
}

var fence = regexp.MustCompile("(?ms)^```yaml\\s*\\n(.*?)^```")

// markdownYAML returns every ```yaml block of the Markdown files.
func markdownYAML(t *testing.T, files ...string) []yamlBlock {
	t.Helper()
	var out []yamlBlock
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range fence.FindAllSubmatchIndex(data, -1) {
			line := 1 + strings.Count(string(data[:m[0]]), "\n")
			out = append(out, yamlBlock{where: fmt.Sprintf("%s:%d", f, line), text: string(data[m[2]:m[3]])})
		}
	}
	return out
}

// notInstalled are API groups this control plane does not serve; objects of
// them are reported, not applied.
var notInstalled = map[string]string{"cert-manager.io": "cert-manager is not installed in the test bed"}

// testManifestsStrict is scenario 5: every YAML block of the README and
// docs/ and every file of deploy/examples, as is, through a strict
// server-side dry run (unknown or duplicate fields are errors, the CRDs'
// schemas apply). A block that is a ScaledObject's spec excerpt (it starts
// with "triggers:") is checked inside a minimal ScaledObject; other excerpts
// (Helm values) are reported and skipped.
func testManifestsStrict(t *testing.T, b *bed) {
	root := filepath.Join("..", "..")
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	require.NoError(t, err)
	blocks := markdownYAML(t, append([]string{filepath.Join(root, "README.md")}, docs...)...)
	examples, err := filepath.Glob(filepath.Join(root, "deploy", "examples", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, examples)
	for _, e := range examples {
		data, err := os.ReadFile(e)
		require.NoError(t, err)
		blocks = append(blocks, yamlBlock{where: e, text: string(data)})
	}
	applied := 0
	for _, blk := range blocks {
		objs, err := decodeYAML([]byte(wrapExcerpt(blk.text)))
		if !assert.NoError(t, err, "%s: not YAML", blk.where) {
			continue
		}
		for _, o := range objs {
			if o.GetKind() == "" {
				t.Logf("%s: an excerpt without apiVersion/kind (%s), not applied", blk.where, firstLine(blk.text))
				continue
			}
			if why, skip := notInstalled[o.GroupVersionKind().Group]; skip {
				t.Logf("%s: %s %s not applied: %s", blk.where, o.GetKind(), o.GetName(), why)
				continue
			}
			b.ensureNamespace(t, o)
			assert.NoError(t, b.applyObject(context.Background(), o, applyDryRun), "%s: rejected by the apiserver", blk.where)
			applied++
		}
	}
	t.Logf("%d objects from %d YAML blocks and files validated strictly", applied, len(blocks))
	require.Positive(t, applied)
}

// wrapExcerpt puts a ScaledObject spec excerpt ("triggers:" …) into a
// minimal ScaledObject; anything else is returned as is.
func wrapExcerpt(text string) string {
	if !strings.HasPrefix(strings.TrimSpace(text), "triggers:") {
		return text
	}
	var sb strings.Builder
	sb.WriteString("apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: docs-excerpt, namespace: default}\nspec:\n  scaleTargetRef: {name: docs-excerpt}\n")
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		sb.WriteString("  " + l + "\n")
	}
	return sb.String()
}

// ensureNamespace creates the object's namespace so a dry run can admit it.
func (b *bed) ensureNamespace(t *testing.T, o *unstructured.Unstructured) {
	ns := o.GetNamespace()
	if ns == "" || o.GetKind() == "Namespace" {
		return
	}
	_, err := b.kube.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, ignoreExists(err))
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

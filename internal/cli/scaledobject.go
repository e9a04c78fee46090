// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// scaledObject is the part of a KEDA ScaledObject that query reads. It is
// parsed leniently (unknown fields are ignored), unlike KEDA's admission
// webhook; the trigger metadata must be strings, as Kubernetes requires.
type scaledObject struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		Triggers []soTrigger `json:"triggers"`
	} `json:"spec"`
}

type soTrigger struct {
	Type       string         `json:"type"`
	Name       string         `json:"name"`
	MetricType string         `json:"metricType"`
	Metadata   map[string]any `json:"metadata"`
}

// pickedTrigger is the external trigger query acts on.
type pickedTrigger struct {
	Name, Namespace string // the ScaledObject's
	Index           int    // position in spec.triggers
	TriggerName     string
	Type            string // external or external-push
	MetricType      string // as written; "" means KEDA's default
	Metadata        map[string]string
}

// triggerChoice says which trigger to pick when a ScaledObject has several.
type triggerChoice struct {
	index  int // -1: not given
	name   string
	object string // ScaledObject name, when the file holds several
}

// loadScaledObject reads the ScaledObject in path (a file of one or more YAML
// documents) and picks its external trigger.
func loadScaledObject(path string, c triggerChoice) (pickedTrigger, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return pickedTrigger{}, err
	}
	so, err := findScaledObject(data, c.object)
	if err != nil {
		return pickedTrigger{}, fmt.Errorf("%s: %w", path, err)
	}
	t, err := pickTrigger(so, c)
	if err != nil {
		return pickedTrigger{}, fmt.Errorf("%s: ScaledObject %q: %w", path, so.Metadata.Name, err)
	}
	return t, nil
}

// findScaledObject returns the ScaledObject among the documents in data: the
// only one, or the one named name.
func findScaledObject(data []byte, name string) (*scaledObject, error) {
	var found []*scaledObject
	var names []string
	for i, doc := range splitYAML(data) {
		var so scaledObject
		if err := yaml.Unmarshal(doc, &so); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if so.Kind != "ScaledObject" || name != "" && so.Metadata.Name != name {
			continue
		}
		found = append(found, &so)
		names = append(names, so.Metadata.Name)
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) == 0 && name != "":
		return nil, fmt.Errorf("no ScaledObject named %q", name)
	case len(found) == 0:
		return nil, errors.New("no document of kind ScaledObject")
	}
	return nil, fmt.Errorf("%d ScaledObjects (%s): pick one with --name", len(found), strings.Join(names, ", "))
}

// splitYAML splits a multi-document YAML file at its "---" lines.
func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		if len(bytes.TrimSpace(cur.Bytes())) > 0 {
			docs = append(docs, bytes.Clone(cur.Bytes()))
		}
		cur.Reset()
	}
	for line := range bytes.Lines(data) {
		if t := bytes.TrimRight(line, " \t\r\n"); bytes.Equal(t, []byte("---")) || bytes.HasPrefix(t, []byte("--- ")) {
			flush()
			continue
		}
		cur.Write(line)
	}
	flush()
	return docs
}

func isExternal(t string) bool { return t == "external" || t == "external-push" }

// pickTrigger picks the external trigger c names, or the only one.
func pickTrigger(so *scaledObject, c triggerChoice) (pickedTrigger, error) {
	ts := so.Spec.Triggers
	i := -1
	switch {
	case c.index >= 0:
		if c.index >= len(ts) {
			return pickedTrigger{}, usageErrorf("--trigger-index %d: it has %d trigger(s)", c.index, len(ts))
		}
		i = c.index
	case c.name != "":
		for j := range ts {
			if ts[j].Name == c.name {
				i = j
			}
		}
		if i < 0 {
			return pickedTrigger{}, usageErrorf("--trigger-name %q: no trigger has that name; it has %s", c.name, listTriggers(ts))
		}
	default:
		for j := range ts {
			if !isExternal(ts[j].Type) {
				continue
			}
			if i >= 0 {
				return pickedTrigger{}, usageErrorf("several external triggers: pick one with --trigger-index or --trigger-name; it has %s", listTriggers(ts))
			}
			i = j
		}
		if i < 0 {
			return pickedTrigger{}, fmt.Errorf("no trigger of type external or external-push; it has %s", listTriggers(ts))
		}
	}
	t := ts[i]
	if !isExternal(t.Type) {
		return pickedTrigger{}, usageErrorf("trigger %d is of type %q: want external or external-push", i, t.Type)
	}
	md, err := stringMetadata(t.Metadata)
	if err != nil {
		return pickedTrigger{}, fmt.Errorf("trigger %d: %w", i, err)
	}
	return pickedTrigger{Name: so.Metadata.Name, Namespace: so.Metadata.Namespace, Index: i,
		TriggerName: t.Name, Type: t.Type, MetricType: t.MetricType, Metadata: md}, nil
}

func listTriggers(ts []soTrigger) string {
	if len(ts) == 0 {
		return "no triggers"
	}
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = fmt.Sprintf("%d: %s", i, t.Type)
		if t.Name != "" {
			parts[i] += fmt.Sprintf(" (name %q)", t.Name)
		}
	}
	return strings.Join(parts, ", ")
}

// stringMetadata checks that every metadata value is a string, as the
// ScaledObject CRD requires (an unquoted 60 is rejected by the API server too).
func stringMetadata(in map[string]any) (map[string]string, error) {
	out := make(map[string]string, len(in))
	for k, v := range in {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("metadata %q is %v, not a string: quote it (\"%v\"), as Kubernetes requires", k, v, v)
		}
		out[k] = s
	}
	return out, nil
}

// SPDX-License-Identifier: Apache-2.0

package attribution

import (
	"slices"
	"strings"
)

// notePod is how a note names its pod: "(pod namespace/name,".
func notePod(namespace, name string) string { return "(pod " + namespace + "/" + name + "," }

// NotesOfPod returns the notes that name the pod key ("namespace/name"), at
// most limit of them, in order; nil when none does.
func NotesOfPod(notes []string, key string, limit int) []string {
	ns, name, _ := strings.Cut(key, "/")
	mark := notePod(ns, name)
	var out []string
	for _, n := range notes {
		if len(out) < limit && strings.Contains(n, mark) {
			out = append(out, n)
		}
	}
	return out
}

// NewNotes returns the notes of next that prev does not have, in next's
// order: what a watcher logs once rather than at every poll.
func NewNotes(prev, next []string) []string {
	var out []string
	for _, n := range next {
		if !slices.Contains(prev, n) {
			out = append(out, n)
		}
	}
	return out
}

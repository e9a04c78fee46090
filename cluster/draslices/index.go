// SPDX-License-Identifier: Apache-2.0

package draslices

// wireSlice is the JSON of a resource.k8s.io/v1 ResourceSlice, only the
// fields read. An attribute is a one-of: {"string": …}, {"int": …},
// {"bool": …} or {"version": …}; only strings are read.
type wireSlice struct {
	Metadata struct {
		Name            string `json:"name"`
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
	Spec struct {
		Driver string `json:"driver"`
		Pool   struct {
			Name       string `json:"name"`
			Generation int64  `json:"generation"`
		} `json:"pool"`
		Devices []struct {
			Name       string `json:"name"`
			Attributes map[string]struct {
				String *string `json:"string"`
			} `json:"attributes"`
		} `json:"devices"`
	} `json:"spec"`
}

// uuid returns device i's "uuid" attribute, unqualified or qualified with
// the slice's driver (an unqualified name is in the driver's domain); "" when
// it has none or it is not a string.
func (s *wireSlice) uuid(i int) string {
	attrs := s.Spec.Devices[i].Attributes
	for _, name := range [...]string{UUIDAttribute, s.Spec.Driver + "/" + UUIDAttribute} {
		if a, ok := attrs[name]; ok && a.String != nil {
			return *a.String
		}
	}
	return ""
}

type deviceKey struct{ driver, pool, device string }

type device struct {
	uuid  string // "" when the slice gives none
	slice string // the slice's name, for messages
}

// index is what the node's slices say, immutable once published.
type index struct {
	devices map[deviceKey]device
}

// newIndex indexes the devices of slices (by name), keeping for each pool
// only the slices of its highest generation: a driver that changes a pool
// writes a new generation into every slice of it, and consumers are to
// ignore older ones.
func newIndex(slices map[string]*wireSlice) *index {
	type poolKey struct{ driver, pool string }
	newest := map[poolKey]int64{}
	for _, s := range slices {
		k := poolKey{s.Spec.Driver, s.Spec.Pool.Name}
		if g, ok := newest[k]; !ok || s.Spec.Pool.Generation > g {
			newest[k] = s.Spec.Pool.Generation
		}
	}
	idx := &index{devices: map[deviceKey]device{}}
	for name, s := range slices {
		if s.Spec.Pool.Generation != newest[poolKey{s.Spec.Driver, s.Spec.Pool.Name}] {
			continue
		}
		for i := range s.Spec.Devices {
			idx.devices[deviceKey{s.Spec.Driver, s.Spec.Pool.Name, s.Spec.Devices[i].Name}] = device{uuid: s.uuid(i), slice: name}
		}
	}
	return idx
}

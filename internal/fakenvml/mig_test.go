// SPDX-License-Identifier: Apache-2.0

package fakenvml

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/nvml-scaler/nvml-scaler/recording"
)

func TestSyntheticMIG(t *testing.T) {
	t.Parallel()
	rec := selftestRecording()
	var before bytes.Buffer
	if err := recording.Encode(&before, rec); err != nil {
		t.Fatal(err)
	}
	mig := SyntheticMIG(rec)

	var after bytes.Buffer
	if err := recording.Encode(&after, rec); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before.Bytes(), after.Bytes()) {
		t.Error("SyntheticMIG modified its argument")
	}
	if err := mig.Validate(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(mig.Source, "synthetic MIG") || !strings.HasPrefix(mig.Description, "SYNTHETIC MIG") {
		t.Errorf("not labelled synthetic: source %q, description %q", mig.Source, mig.Description)
	}
	again := SyntheticMIG(selftestRecording())
	if !reflect.DeepEqual(mig.Devices, again.Devices) {
		t.Error("SyntheticMIG is not deterministic")
	}

	uuids := map[string]bool{}
	for i, d := range mig.Devices {
		if d.MIGMode != recording.Ok(recording.MIGMode{Current: 1, Pending: 1}) || len(d.MIGDevices) != 2 {
			t.Fatalf("device %d: MIG mode %+v, %d MIG devices", i, d.MIGMode, len(d.MIGDevices))
		}
		for k, m := range d.MIGDevices {
			if m.Index != uint32(k) || !strings.HasPrefix(m.UUID.Value, "MIG-") || uuids[m.UUID.Value] ||
				!strings.HasPrefix(m.Name.Value, d.Name.Value+" MIG 3g.") {
				t.Errorf("device %d MIG %d: %+v", i, k, m)
			}
			uuids[m.UUID.Value] = true
		}
	}
	for j, s := range mig.Samples {
		for i, d := range s.Devices {
			if d.Utilization.Ret != 3 {
				t.Errorf("samples[%d] device %d: utilization %+v, want NOT_SUPPORTED", j, i, d.Utilization)
			}
			a := s.MIGDevices[mig.Devices[i].MIGDevices[0].UUID.Value]
			b := s.MIGDevices[mig.Devices[i].MIGDevices[1].UUID.Value]
			m := d.Memory.Value
			if a.Memory.Value.Used+b.Memory.Value.Used != m.Used || a.Memory.Value.Total+b.Memory.Value.Total != m.Total ||
				a.Memory.Value.Free+b.Memory.Value.Free != m.Free {
				t.Errorf("samples[%d] device %d: MIG memory %+v + %+v does not add up to %+v", j, i, a.Memory, b.Memory, m)
			}
			if n := len(a.Processes.Value) + len(b.Processes.Value); n != len(d.Processes.Value) {
				t.Errorf("samples[%d] device %d: %d MIG processes, GPU has %d", j, i, n, len(d.Processes.Value))
			}
		}
	}
	if err := WriteScript(&bytes.Buffer{}, mig); err != nil {
		t.Fatal(err)
	}
}

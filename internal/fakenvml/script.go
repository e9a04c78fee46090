// SPDX-License-Identifier: Apache-2.0

package fakenvml

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/nvml-scaler/nvml-scaler/recording"
)

// Limits of the C side (fakenvml.h) and NVML's string buffers (nvml.h).
const (
	maxDevices     = 64
	maxMIG         = 8
	maxRules       = 8  // fail rules per symbol
	maxNaN         = 64 // nan rules
	maxErrorString = 127
	nameMax        = 95 // NVML_DEVICE_NAME_V2_BUFFER_SIZE 96
	uuidMax        = 95 // NVML_DEVICE_UUID_V2_BUFFER_SIZE 96
	versionMax     = 79 // NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE 80
	busIDLegacyMax = 15 // NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE 16
	busIDMax       = 31 // NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE 32
)

// WriteScript writes the fake's script for rec and the fault options to w
// (the grammar is in the package documentation). It is what [New] writes to
// fakenvml.script; tools that run a program on the fake outside tests use it
// directly, placing the script next to a library from [Build] or pointing
// FAKE_NVML_SCRIPT at it. [WithVariant] is ignored here.
func WriteScript(w io.Writer, rec *recording.Recording, opts ...Option) error {
	return writeScript(w, rec, newConfig(opts))
}

func writeScript(w io.Writer, rec *recording.Recording, cfg *config) error {
	if rec == nil {
		return errors.New("write fake NVML script: nil recording")
	}
	if err := rec.Validate(); err != nil {
		return fmt.Errorf("write fake NVML script: %w", err)
	}
	sw := &scriptWriter{w: bufio.NewWriter(w), rec: rec}
	sw.header(cfg)
	sw.system()
	sw.devices()
	sw.samples()
	sw.faults(cfg)
	if err := errors.Join(append(cfg.errs, sw.errs...)...); err != nil {
		return fmt.Errorf("write fake NVML script: %w", err)
	}
	return sw.w.Flush()
}

// scriptWriter renders one script, collecting every problem rather than
// stopping at the first.
type scriptWriter struct {
	w    *bufio.Writer
	rec  *recording.Recording
	errs []error
	// migSlot maps a MIG device UUID to its GPU and slot.
	migSlot map[string][2]int
}

func (sw *scriptWriter) line(format string, args ...any) {
	fmt.Fprintf(sw.w, format, args...)
	sw.w.WriteByte('\n')
}

func (sw *scriptWriter) errorf(format string, args ...any) {
	sw.errs = append(sw.errs, fmt.Errorf(format, args...))
}

// str escapes s as one string token, checking it fits max bytes.
func (sw *scriptWriter) str(what, s string, max int) string {
	if len(s) > max {
		sw.errorf("%s %q: longer than %d bytes", what, s, max)
	}
	if strings.IndexByte(s, 0) >= 0 {
		sw.errorf("%s %q: contains a NUL byte", what, s)
	}
	return escape(s)
}

// escape renders a string token: "-" is the empty string; space, '%', control
// and non-ASCII bytes, and a lone "-", become %XX.
func escape(s string) string {
	if s == "" {
		return "-"
	}
	if s == "-" {
		return "%2D"
	}
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// value returns r's value when it succeeded, else the zero value: the script
// always carries value tokens, which the fake ignores after a failure.
func value[T any](r recording.Result[T]) T {
	if r.Ret != 0 {
		var zero T
		return zero
	}
	return r.Value
}

func float(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func (sw *scriptWriter) header(cfg *config) {
	rec := sw.rec
	sw.line("fakenvml 1")
	sw.line("# rendered by internal/fakenvml from a %s recording", rec.Format)
	sw.line("# source: %s", strings.Join(strings.Fields(rec.Source), " "))
	if len(rec.Devices) > maxDevices {
		sw.errorf("%d devices: the fake holds at most %d", len(rec.Devices), maxDevices)
	}
	sw.line("devices %d", len(rec.Devices))
	sw.line("steps %d", len(rec.Samples))
	sw.migSlot = map[string][2]int{}
	for i, d := range rec.Devices {
		if len(d.MIGDevices) == 0 {
			continue
		}
		if len(d.MIGDevices) > maxMIG {
			sw.errorf("device %d: %d MIG devices: the fake holds at most %d", i, len(d.MIGDevices), maxMIG)
		}
		sw.line("dev %d migs %d", i, len(d.MIGDevices))
		for k, m := range d.MIGDevices {
			if m.UUID.Ret == 0 {
				sw.migSlot[m.UUID.Value] = [2]int{i, k}
			}
		}
	}
	if cfg.speed > 0 {
		sw.line("clock %s", float(cfg.speed))
	}
}

func (sw *scriptWriter) system() {
	s := sw.rec.System
	sw.line("system driver %d %s", s.DriverVersion.Ret, sw.str("driver version", value(s.DriverVersion), versionMax))
	sw.line("system nvml %d %s", s.NVMLVersion.Ret, sw.str("NVML version", value(s.NVMLVersion), versionMax))
	sw.line("system cuda %d %d", s.CUDADriverVersion.Ret, value(s.CUDADriverVersion))
	sw.line("system count %d %d", s.DeviceCount.Ret, value(s.DeviceCount))

	codes := make([]int, 0, len(sw.rec.ErrorStrings))
	for k := range sw.rec.ErrorStrings {
		code, err := strconv.ParseInt(k, 10, 32)
		if err != nil {
			sw.errorf("errorStrings key %q: not a decimal return code", k)
			continue
		}
		codes = append(codes, int(code))
	}
	sort.Ints(codes)
	for _, code := range codes {
		text := sw.rec.ErrorStrings[strconv.Itoa(code)]
		sw.line("errstr %d %s", code, sw.str("error string", text, maxErrorString))
	}
	sw.errorPaths()
}

// errorPaths renders the recorded answers of the handle lookups that failed
// on purpose. Keys name the call with or without its "nvmlDevice"/"nvml"
// prefix, e.g. "nvmlDeviceGetHandleByIndex(count)" or "GetHandleByUUID(bogus)".
func (sw *scriptWriter) errorPaths() {
	keys := make([]string, 0, len(sw.rec.ErrorPaths))
	for k := range sw.rec.ErrorPaths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	done := map[string]bool{}
	for _, k := range keys {
		call := strings.TrimPrefix(strings.TrimPrefix(k, "nvmlDevice"), "nvml")
		var path string
		switch {
		case strings.HasPrefix(call, "GetHandleByIndex("):
			path = "index"
		case strings.HasPrefix(call, "GetHandleByUUID("):
			path = "uuid"
		case strings.HasPrefix(call, "GetMigDeviceHandleByIndex("):
			path = "mig"
		default:
			continue
		}
		if !done[path] {
			done[path] = true
			sw.line("errpath %s %d", path, sw.rec.ErrorPaths[k])
		}
	}
}

func (sw *scriptWriter) devices() {
	for i, d := range sw.rec.Devices {
		sw.line("dev %d name %d %s", i, d.Name.Ret, sw.str("name", value(d.Name), nameMax))
		sw.line("dev %d uuid %d %s", i, d.UUID.Ret, sw.str("uuid", value(d.UUID), uuidMax))
		p := value(d.PCI)
		sw.line("dev %d pci %d %s %d %d %d %d %d %s", i, d.PCI.Ret,
			sw.str("busIdLegacy", p.BusIDLegacy, busIDLegacyMax), p.Domain, p.Bus, p.Device,
			p.PCIDeviceID, p.PCISubSystemID, sw.str("busId", p.BusID, busIDMax))
		sw.line("dev %d arch %d %d", i, d.Architecture.Ret, value(d.Architecture))
		cc := value(d.ComputeCapability)
		sw.line("dev %d cc %d %d %d", i, d.ComputeCapability.Ret, cc[0], cc[1])
		m := value(d.MemoryV1)
		sw.line("dev %d mem1 %d %d %d %d", i, d.MemoryV1.Ret, m.Total, m.Free, m.Used)
		sw.line("dev %d powerlimit %d %d", i, d.PowerLimitMilliwatts.Ret, value(d.PowerLimitMilliwatts))
		mm := value(d.MIGMode)
		sw.line("dev %d migmode %d %d %d", i, d.MIGMode.Ret, mm.Current, mm.Pending)
		sw.line("dev %d maxmig %d %d", i, d.MaxMIGDeviceCount.Ret, value(d.MaxMIGDeviceCount))
		gpm := 0
		if value(d.GPMSupported) {
			gpm = 1
		}
		sw.line("dev %d gpm %d %d", i, d.GPMSupported.Ret, gpm)
		for k, m := range d.MIGDevices {
			sw.line("mig %d %d %d %d %s %d %s", i, k, m.Index,
				m.UUID.Ret, sw.str("MIG uuid", value(m.UUID), uuidMax),
				m.Name.Ret, sw.str("MIG name", value(m.Name), nameMax))
		}
	}
}

func (sw *scriptWriter) samples() {
	for step, s := range sw.rec.Samples {
		sw.line("offset %d %d", step, s.OffsetNanos)
		for i, d := range s.Devices {
			u := value(d.Utilization)
			sw.line("s %d %d util %d %d %d", step, i, d.Utilization.Ret, u.GPU, u.Memory)
			sw.line("s %d %d mem %d %s", step, i, d.Memory.Ret, memory(value(d.Memory)))
			sw.counters(step, i, &d)
			sw.line("s %d %d procs %s", step, i, processes(d.Processes))
			if len(d.GPM) > 0 {
				var b strings.Builder
				for _, g := range d.GPM {
					fmt.Fprintf(&b, " %d %d %s", g.ID, g.Ret, float(float64(g.Value)))
				}
				sw.line("s %d %d gpm %d%s", step, i, len(d.GPM), b.String())
			}
		}
		sw.migSamples(step, s)
	}
}

// migSamples renders the MIG devices' answers at step, in slot order. A MIG
// device without an entry answers NOT_SUPPORTED (the fake's default).
func (sw *scriptWriter) migSamples(step int, s recording.Sample) {
	for u := range s.MIGDevices {
		if _, ok := sw.migSlot[u]; !ok {
			sw.errorf("samples[%d]: MIG device %q is not under any device", step, u)
		}
	}
	for i, d := range sw.rec.Devices {
		for k, dm := range d.MIGDevices {
			m, ok := s.MIGDevices[dm.UUID.Value]
			if !ok || !dm.UUID.OK() {
				continue
			}
			sw.line("ms %d %d %d mem %d %s", step, i, k, m.Memory.Ret, memory(value(m.Memory)))
			sw.line("ms %d %d %d procs %s", step, i, k, processes(m.Processes))
		}
	}
}

func memory(m recording.Memory) string {
	return fmt.Sprintf("%d %d %d %d", m.Total, m.Reserved, m.Free, m.Used)
}

func processes(r recording.Result[[]recording.Process]) string {
	ps := value(r)
	var b strings.Builder
	fmt.Fprintf(&b, "%d %d", r.Ret, len(ps))
	for _, p := range ps {
		fmt.Fprintf(&b, " %d %d %d %d", p.PID, p.UsedGPUMemory, p.GPUInstanceID, p.ComputeInstanceID)
	}
	return b.String()
}

func (sw *scriptWriter) faults(cfg *config) {
	n := len(sw.rec.Devices)
	perSymbol := map[string]int{}
	for _, f := range cfg.fails {
		if perSymbol[f.symbol]++; perSymbol[f.symbol] > maxRules {
			sw.errorf("fail %q: more than %d rules", f.symbol, maxRules)
		}
		sw.line("fail %s %d %d %d", f.symbol, f.ret, f.from, f.to)
	}
	lost := make([]int, 0, len(cfg.lost))
	for i := range cfg.lost {
		lost = append(lost, i)
	}
	sort.Ints(lost)
	for _, i := range lost {
		if i < 0 || i >= n {
			sw.errorf("lost GPU %d: the recording has %d devices", i, n)
			continue
		}
		sw.line("lost %d %d", i, cfg.lost[i])
	}
	denies := cfg.denies
	for i, d := range sw.rec.Devices { // recorded as denied: denied at every step, as it was
		if d.HandleRet != 0 {
			denies = append(denies, deviceRule{i, -1, d.HandleRet, 0, 0})
		}
	}
	for _, r := range denies {
		if r.device < 0 || r.device >= n {
			sw.errorf("fault on GPU %d: the recording has %d devices", r.device, n)
			continue
		}
		if r.slot < 0 {
			sw.line("deny %d %d %d %d", r.device, r.ret, r.from, r.to)
		} else {
			sw.line("slotfail %d %d %d %d %d", r.device, r.slot, r.ret, r.from, r.to)
		}
	}
	if len(cfg.nans) > maxNaN {
		sw.errorf("%d NaN rules: at most %d", len(cfg.nans), maxNaN)
	}
	for _, r := range cfg.nans {
		if r.device < 0 || r.device >= n {
			sw.errorf("NaN on GPU %d: the recording has %d devices", r.device, n)
			continue
		}
		sw.line("nan %d %d %d", r.device, r.metricID, r.from)
	}
	if cfg.churn > 0 {
		sw.line("churn %d", cfg.churn)
	}
	for _, b := range cfg.blocks {
		sw.line("block %s %d", b.symbol, b.d.Milliseconds())
	}
	for _, h := range cfg.holds {
		sw.line("blockfile %s %s %d", h.symbol, escape(holdFile(h.symbol)), h.d.Milliseconds())
	}
	for _, m := range cfg.migLives {
		if m.device < 0 || m.device >= n || m.k < 0 || m.k >= len(sw.rec.Devices[m.device].MIGDevices) {
			sw.errorf("MIG lifetime of device %d of GPU %d: the recording has no such MIG device", m.k, m.device)
			continue
		}
		sw.line("miglife %d %d %d %d", m.device, m.k, m.from, m.to)
	}
	for _, h := range cfg.gpuHolds {
		if h.device < 0 || h.device >= n {
			sw.errorf("hold GPU %d: the recording has %d devices", h.device, n)
			continue
		}
		sw.line("holdgpu %d %s %d", h.device, escape(holdFile(GPUHoldName(h.device))), h.max.Milliseconds())
	}
	if cfg.mismatch != nil {
		sw.line("mismatch %d", *cfg.mismatch)
	}
}

// holdFile is the file, relative to the script, that holds symbol's calls.
func holdFile(symbol string) string { return "hold." + symbol }

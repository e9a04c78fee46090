// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"sigs.k8s.io/yaml"

	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// probeReport is what probe prints: -o json and -o yaml print it whole.
type probeReport struct {
	Node   string `json:"node"`
	Source string `json:"source"`
	// Replay is the recording position, with --replay only.
	Replay *replayPosition `json:"replay,omitempty"`
	GPUs   []probeGPU      `json:"gpus"`
	// Engines lists the --engine-target endpoints, when given.
	Engines []probeEngine `json:"engines,omitempty"`
}

type replayPosition struct {
	OffsetSeconds float64 `json:"offsetSeconds"`
	Phase         string  `json:"phase,omitempty"`
}

// probeGPU is one device. A nil pointer (JSON null) is a value the device did
// not give this sweep; Absent says why for each catalogue metric.
type probeGPU struct {
	Index                 int                `json:"index"`
	UUID                  string             `json:"uuid"`
	Model                 string             `json:"model"`
	MIGParentUUID         string             `json:"migParentUUID,omitempty"`
	MIGIndex              *int               `json:"migIndex,omitempty"` // the MIG slot; absent for a GPU
	Health                string             `json:"health"`
	Error                 string             `json:"error,omitempty"`
	GPUUtilizationPercent *float64           `json:"gpuUtilizationPercent"`
	SMActivePercent       *float64           `json:"smActivePercent"`
	MemoryUsedBytes       *uint64            `json:"memoryUsedBytes"`
	MemoryTotalBytes      *uint64            `json:"memoryTotalBytes"`
	PowerWatts            *float64           `json:"powerWatts"`
	TemperatureCelsius    *float64           `json:"temperatureCelsius"`
	ProcessCount          *int               `json:"processCount"`
	Processes             []probeProcess     `json:"processes"`
	Metrics               map[string]float64 `json:"metrics"`
	Absent                map[string]string  `json:"absent,omitempty"`
}

type probeProcess struct {
	PID uint32 `json:"pid"`
	// UsedMemoryBytes is null when NVML cannot tell (NVML_VALUE_NOT_AVAILABLE).
	UsedMemoryBytes *uint64 `json:"usedMemoryBytes"`
}

// nvmlValueNotAvailable is NVML_VALUE_NOT_AVAILABLE for unsigned long long.
const nvmlValueNotAvailable = math.MaxUint64

func (p *prober) report(snap *scaler.Snapshot) probeReport {
	r := probeReport{Node: snap.Node, Source: p.desc, GPUs: make([]probeGPU, 0, len(snap.GPUs))}
	if p.replay != nil {
		r.Replay = &replayPosition{OffsetSeconds: math.Round(p.replay.Offset().Seconds()*1000) / 1000, Phase: p.replay.Phase()}
	}
	for i := range snap.GPUs {
		raw := p.tee.reading(i)
		r.GPUs = append(r.GPUs, gpuReport(&snap.GPUs[i], &raw))
	}
	return r
}

func gpuReport(g *scaler.GPU, raw *scaler.Reading) probeGPU {
	out := probeGPU{Index: g.Index, UUID: g.UUID, Model: g.Model, MIGParentUUID: g.MIGParentUUID,
		Health: g.Health.String(), Metrics: map[string]float64{}, Processes: []probeProcess{}}
	if g.IsMIG() {
		slot := g.MIGIndex
		out.MIGIndex = &slot
	}
	if g.Err != nil {
		out.Error = g.Err.Error()
	}
	for m, v := range g.Metrics {
		if v.OK() {
			out.Metrics[scaler.Metric(m).String()] = v.V
		} else if g.Health == scaler.HealthOK {
			if out.Absent == nil {
				out.Absent = map[string]string{}
			}
			out.Absent[scaler.Metric(m).String()] = v.Status.String()
		}
	}
	out.GPUUtilizationPercent = metric(g, scaler.GPUUtilization)
	out.SMActivePercent = metric(g, scaler.SMActive)
	out.PowerWatts = metric(g, scaler.PowerWatts)
	out.TemperatureCelsius = metric(g, scaler.TemperatureCelsius)
	if v := metric(g, scaler.MemoryUsedBytes); v != nil {
		used := uint64(*v)
		out.MemoryUsedBytes = &used
	}
	if g.Health == scaler.HealthOK && raw.Memory.OK {
		out.MemoryTotalBytes = &raw.Memory.Value.Total
	}
	if g.Health == scaler.HealthOK && raw.Processes.OK {
		n := len(raw.Processes.Value)
		out.ProcessCount = &n
		for _, pr := range raw.Processes.Value {
			pp := probeProcess{PID: pr.PID}
			if pr.UsedMemoryBytes != nvmlValueNotAvailable {
				mem := pr.UsedMemoryBytes
				pp.UsedMemoryBytes = &mem
			}
			out.Processes = append(out.Processes, pp)
		}
	}
	return out
}

// metric returns g's value of m, or nil when absent.
func metric(g *scaler.GPU, m scaler.Metric) *float64 {
	if v := g.Metrics[m]; g.Health == scaler.HealthOK && v.OK() {
		return &v.V
	}
	return nil
}

func writeReport(w io.Writer, format string, r probeReport) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "yaml":
		b, err := yaml.Marshal(r)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	if err := writeTable(w, r); err != nil {
		return err
	}
	return writeEngines(w, r.Engines)
}

// writeTable prints a header line and one row per device.
func writeTable(w io.Writer, r probeReport) error {
	header := "node " + r.Node + "  ·  " + r.Source
	if r.Replay != nil {
		header += fmt.Sprintf("  ·  at %.1fs", r.Replay.OffsetSeconds)
		if r.Replay.Phase != "" {
			header += " (" + r.Replay.Phase + ")"
		}
	}
	fmt.Fprintln(w, header)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "IDX\tUUID\tMODEL\tHEALTH\tGPU%\tSM%\tMEMORY USED/TOTAL\tPOWER\tTEMP\tPROCESSES")
	for _, g := range r.GPUs {
		idx := fmt.Sprint(g.Index)
		if g.MIGIndex != nil {
			idx += fmt.Sprintf(" (MIG %d)", *g.MIGIndex)
		}
		health := g.Health
		if g.Error != "" {
			health += ": " + g.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", idx, g.UUID, g.Model, health,
			num(g.GPUUtilizationPercent, "%.0f"), num(g.SMActivePercent, "%.1f"),
			memory(g.MemoryUsedBytes, g.MemoryTotalBytes),
			num(g.PowerWatts, "%.0f W"), num(g.TemperatureCelsius, "%.0f°C"), processes(g))
	}
	return tw.Flush()
}

// num formats v, or "-" when absent.
func num(v *float64, format string) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf(format, *v)
}

func gib(b uint64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<30)) }

func memory(used, total *uint64) string {
	u, t := "-", "-"
	if used != nil {
		u = gib(*used)
	}
	if total != nil {
		t = gib(*total)
	}
	return u + " / " + t + " GiB"
}

func processes(g probeGPU) string {
	if g.ProcessCount == nil {
		return "-"
	}
	if *g.ProcessCount == 0 {
		return "none"
	}
	parts := make([]string, 0, len(g.Processes))
	for _, p := range g.Processes {
		mem := "?"
		if p.UsedMemoryBytes != nil {
			mem = gib(*p.UsedMemoryBytes) + " GiB"
		}
		parts = append(parts, fmt.Sprintf("%d (%s)", p.PID, mem))
	}
	return fmt.Sprintf("%d: %s", len(parts), strings.Join(parts, ", "))
}

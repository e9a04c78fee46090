// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// clearScreen moves the cursor home and clears the terminal (ANSI).
const clearScreen = "\x1b[H\x1b[2J"

// sparkWindow is how much history the --watch sparklines show, and
// sparkWidth the most columns they take.
const (
	sparkWindow = time.Minute
	sparkWidth  = 60
)

// watch redraws the table, the engine targets' rows (eng: --engine-target,
// --engine-pods, a --replay recording's) and the sparklines each interval
// until ctx ends; it returns nil then. A sweep that fails after the first is
// shown, not fatal; the engines are found after the first sweep, and their
// rates and means cover the last sparkWindow.
func (p *prober) watch(ctx context.Context, interval time.Duration, eng *probeEngines) error {
	n := max(1, int(sparkWindow/interval))
	hist := map[string]*series{}
	eng.window = sparkWindow
	for first := true; ; first = false {
		snap, err := p.sweep(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if first && err == nil {
			err = eng.discover(ctx, p.d, p.tee.Source, snap)
		}
		var frame bytes.Buffer
		frame.WriteString(clearScreen)
		if err != nil {
			if first {
				return err
			}
			fmt.Fprintf(&frame, "sweep failed: %v\n", err)
		} else {
			_ = writeTable(&frame, p.report(snap))
			eng.scrape(ctx, p.d.now(), interval)
			_ = writeEngines(&frame, eng.report())
			frame.WriteString("\n")
			writeSparklines(&frame, snap, hist, n)
		}
		fmt.Fprintf(&frame, "\nevery %v · last %v · Ctrl-C to stop\n", interval, sparkWindow)
		if _, err := p.d.stdout.Write(frame.Bytes()); err != nil {
			return err
		}
		if !p.d.sleep(ctx, interval) {
			return nil
		}
	}
}

// series is the recent history of one device's activity metric; NaN marks a
// sweep without a value.
type series struct {
	metric scaler.Metric
	values []float64
}

func (s *series) add(v float64, n int) {
	s.values = append(s.values, v)
	if len(s.values) > n {
		s.values = s.values[len(s.values)-n:]
	}
}

// writeSparklines adds each device's newest activity value to hist (n
// values kept) and draws one sparkline per device: SM activity where the
// device has GPM, GPU utilization otherwise.
func writeSparklines(w *bytes.Buffer, snap *scaler.Snapshot, hist map[string]*series, n int) {
	fmt.Fprintf(w, "activity, last %v (0-100%%):\n", sparkWindow)
	for i := range snap.GPUs {
		g := &snap.GPUs[i]
		s := hist[g.UUID]
		if s == nil {
			s = &series{metric: scaler.SMActive}
			if g.Metrics[scaler.SMActive].Status == scaler.StatusNotSupported {
				s.metric = scaler.GPUUtilization
			}
			hist[g.UUID] = s
		}
		v := math.NaN()
		if p := metric(g, s.metric); p != nil {
			v = *p
		}
		s.add(v, n)
		fmt.Fprintf(w, "  %-3d %-24s %s %s\n", g.Index, s.metric, sparkline(s.values, sparkWidth), num(nilIfNaN(v), "%5.1f"))
	}
}

func nilIfNaN(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}

// sparkBlocks are the eight heights of a sparkline column.
const sparkBlocks = "▁▂▃▄▅▆▇█"

// sparkline draws percentages (0–100) as at most width columns, averaging
// neighbours when there are more values; a column with no value is a space.
func sparkline(values []float64, width int) string {
	blocks := []rune(sparkBlocks)
	cols := min(len(values), width)
	var b strings.Builder
	for c := range cols {
		lo, hi := c*len(values)/cols, (c+1)*len(values)/cols
		sum, k := 0.0, 0
		for _, v := range values[lo:hi] {
			if !math.IsNaN(v) {
				sum += v
				k++
			}
		}
		if k == 0 {
			b.WriteByte(' ')
			continue
		}
		level := int(math.Round(min(max(sum/float64(k), 0), 100) / 100 * float64(len(blocks)-1)))
		b.WriteRune(blocks[level])
	}
	return b.String()
}

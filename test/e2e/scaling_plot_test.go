// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// benchColors are the paths' line colours, in runScenario's order.
func benchColors() []color.RGBA {
	return []color.RGBA{
		{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, // nvml-scaler
		{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, // nvml-scaler push
		{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, // prometheus
	}
}

// plotScenario renders each path's Deployment replicas (spec) and the load
// (demand / target, in replicas) against time to a PNG at file.
func plotScenario(file string, sc benchScenario, paths []*benchPath) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("scenario %q: replicas and load (demand / target %g)", sc.name, benchTarget)
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "replicas"
	p.Legend.Top, p.Legend.Left = true, true
	if len(paths) == 0 || len(paths[0].samples) == 0 {
		return fmt.Errorf("plot %s: no samples", file)
	}
	load := make(plotter.XYs, len(paths[0].samples))
	for i, s := range paths[0].samples {
		load[i] = plotter.XY{X: s.at.Seconds(), Y: s.demand / benchTarget}
	}
	l, err := plotter.NewLine(load)
	if err != nil {
		return fmt.Errorf("plot %s: %w", file, err)
	}
	l.Color, l.Dashes = color.Black, []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(l)
	p.Legend.Add("load (demand / target)", l)
	colors := benchColors()
	for i, x := range paths {
		xy := make(plotter.XYs, len(x.samples))
		for j, s := range x.samples {
			xy[j] = plotter.XY{X: s.at.Seconds(), Y: float64(s.spec)}
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return fmt.Errorf("plot %s: %w", file, err)
		}
		l.Color, l.Width = colors[i%len(colors)], vg.Points(1.5)
		l.StepStyle = plotter.PostStep
		p.Add(l)
		p.Legend.Add(x.name+" replicas", l)
	}
	p.Y.Min, p.Y.Max = 0, benchMax+1
	p.Legend.YOffs = -vg.Points(4)
	if err := p.Save(9*vg.Inch, 4.5*vg.Inch, file); err != nil {
		return fmt.Errorf("plot %s: %w", file, err)
	}
	return nil
}

// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
)

// probeOutput is the part of `probe -o json` this check reads.
type probeOutput struct {
	Node   string `json:"node"`
	Source string `json:"source"`
	GPUs   []struct {
		UUID    string             `json:"uuid"`
		Model   string             `json:"model"`
		Health  string             `json:"health"`
		Metrics map[string]float64 `json:"metrics"`
	} `json:"gpus"`
}

func runProbe(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("imagetest probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	gpus := fs.Int("gpus", 2, "GPUs the output must list")
	model := fs.String("model", "NVIDIA H200", "model every GPU must report")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return errors.New("probe: reads stdin, takes no arguments")
	}
	var p probeOutput
	if err := json.NewDecoder(stdin).Decode(&p); err != nil {
		return fmt.Errorf("probe output: %w", err)
	}
	if err := checkProbe(&p, *gpus, *model); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "probe: node %q, source %q, %d healthy %s GPU(s) with sm_active_percent\n", p.Node, p.Source, len(p.GPUs), *model)
	return nil
}

func checkProbe(p *probeOutput, gpus int, model string) error {
	if len(p.GPUs) != gpus {
		return fmt.Errorf("probe output: %d GPU(s): want %d", len(p.GPUs), gpus)
	}
	for _, g := range p.GPUs {
		if g.Model != model || g.Health != "ok" {
			return fmt.Errorf("probe output: GPU %s: model %q health %q: want %q and health \"ok\"", g.UUID, g.Model, g.Health, model)
		}
		if _, ok := g.Metrics["sm_active_percent"]; !ok {
			return fmt.Errorf("probe output: GPU %s: no sm_active_percent in %v", g.UUID, g.Metrics)
		}
	}
	return nil
}

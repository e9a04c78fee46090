// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"math"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nvml-scaler/nvml-scaler/scaler"
	"github.com/nvml-scaler/nvml-scaler/scaler/enginetrigger"
)

type queryFlags struct {
	address         string
	httpAddress     string
	tls             tlsFlags
	metadata        []string
	file            string
	triggerIndex    int
	triggerName     string
	name, namespace string
	currentReplicas int32
	readyPods       int32
	tolerance       float64
	watch           bool
	interval        time.Duration
	count           int
	timeout         time.Duration
	output          string
}

func newQueryCmd(d *deps) *cobra.Command {
	f := &queryFlags{}
	cmd := &cobra.Command{
		Use:   "query",
		Short: "Ask a running scaler what KEDA would ask, and show the replicas the HPA would pick",
		Long: `query acts as KEDA against a running nvml-scaler: it calls GetMetricSpec,
GetMetrics and IsActive with the trigger metadata from --metadata or from a
ScaledObject (-f, its external or external-push trigger), and prints the metric
spec, the value, whether the trigger is active, and the replicas the HPA would
want from --current-replicas under both metric types: AverageValue (KEDA's
default: desired = ceil(value / target)) and Value (desired = ceil(ready pods
× value / target), --ready-pods defaulting to --current-replicas), keeping
the current count while the ratio is within --tolerance (the HPA's default
0.1; a ScaledObject's behavior may set another, Kubernetes 1.35+). At 0
current replicas the HPA does not act: KEDA scales an active trigger to
max(1, minReplicaCount), so query shows 1 when active and 0 when not.

--metadata takes key=value pairs separated by commas; a piece without '='
continues the previous value (gpuIndexes=0,1). It may be repeated, and it
overrides the file's keys. --watch repeats every --interval, one line per
round, until interrupted or --count rounds. gRPC errors print their status
code and message, e.g. "Unavailable: stale: …".

For an engine trigger (metric: requests_waiting, ttft_seconds, …) query also
asks the scaler's read-only HTTP endpoint /debug/engine (on --http-address)
which pods' readings went into the value and which were left out, with the
reason, and prints them; KEDA's answers carry only the value.`,
		Example: `  nvml-scaler query --metadata metric=sm_active_percent,targetValue=60,aggregation=sum
  nvml-scaler query -f deploy/examples/vllm-scaledobject.yaml --current-replicas 3
  nvml-scaler query --address scaler.example:6000 --ca-cert ca.pem --metadata metric=power_watts,targetValue=400 --watch`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := newQuery(d, f, cmd)
			if err != nil {
				return err
			}
			return q.run(cmd.Context())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.address, "address", "localhost:6000", "the scaler's gRPC address (host:port), as a trigger's scalerAddress")
	fs.StringVar(&f.httpAddress, "http-address", "",
		"for an engine trigger: the scaler's HTTP address (its --http-listen), asked which pods the value came from (default: --address's host, port 8080)")
	f.tls.register(fs)
	fs.StringArrayVar(&f.metadata, "metadata", nil, "trigger metadata as key=value,key=value (repeatable), e.g. metric=sm_active_percent,targetValue=60")
	fs.StringVarP(&f.file, "filename", "f", "", "a ScaledObject YAML file: use its external (or external-push) trigger")
	fs.IntVar(&f.triggerIndex, "trigger-index", -1, "with -f: the trigger's position in spec.triggers, from 0, when there are several")
	fs.StringVar(&f.triggerName, "trigger-name", "", "with -f: the trigger's name, when there are several")
	fs.StringVar(&f.name, "name", "", "ScaledObject name sent to the scaler (default: the file's, else \"query\"); picks the ScaledObject in a file that holds several")
	fs.StringVar(&f.namespace, "namespace", "", "ScaledObject namespace sent to the scaler (default: the file's, else \"default\")")
	fs.Int32Var(&f.currentReplicas, "current-replicas", 1, "the Deployment's current replica count, for the HPA's arithmetic")
	fs.Int32Var(&f.readyPods, "ready-pods", -1, "the Deployment's Ready pods, which the HPA multiplies a Value metric by (default: --current-replicas)")
	fs.Float64Var(&f.tolerance, "tolerance", scaler.DefaultHPATolerance, "the HPA's tolerance: the current count is kept while the usage ratio is within it of 1 (behavior's scaleUp/scaleDown tolerance)")
	fs.BoolVarP(&f.watch, "watch", "w", false, "repeat every --interval, one line per round")
	newDuration(fs, &f.interval, "interval", time.Second, "with --watch: time between rounds")
	fs.IntVar(&f.count, "count", 0, "with --watch: stop after this many rounds (0: until interrupted)")
	newDuration(fs, &f.timeout, "timeout", 3*time.Second, "deadline for each round's three calls (KEDA's metrics adapter allows 3s)")
	newEnum(fs, &f.output, "output", "o", "text", "output format (json: one object per round)", "text", "json")
	return cmd
}

// validate checks flag values and combinations; errors are usage errors.
func (f *queryFlags) validate(cmd *cobra.Command) error {
	fs := cmd.Flags()
	switch {
	case f.file == "" && len(f.metadata) == 0:
		return usageErrorf("no trigger: give its metadata with --metadata metric=…,targetValue=… or a ScaledObject with -f FILE")
	case f.file == "" && (fs.Changed("trigger-index") || fs.Changed("trigger-name")):
		return usageErrorf("--trigger-index and --trigger-name pick a trigger in a -f file")
	case fs.Changed("trigger-index") && fs.Changed("trigger-name"):
		return usageErrorf("--trigger-index and --trigger-name: give one or the other")
	case f.currentReplicas < 0:
		return usageErrorf("--current-replicas %d: want 0 or more", f.currentReplicas)
	case fs.Changed("ready-pods") && f.readyPods < 0:
		return usageErrorf("--ready-pods %d: want 0 or more", f.readyPods)
	case !(f.tolerance >= 0) || math.IsInf(f.tolerance, 0):
		return usageErrorf("--tolerance %v: want a number of 0 or more, e.g. 0.1 (the HPA's default) or 0.05", f.tolerance)
	case f.count < 0:
		return usageErrorf("--count %d: want 0 (no limit) or more", f.count)
	case !f.watch && (fs.Changed("count") || fs.Changed("interval")):
		return usageErrorf("--count and --interval need --watch")
	case f.timeout <= 0:
		return usageErrorf("--timeout %v: want a duration above 0, e.g. 3s", f.timeout)
	}
	if err := checkMinDuration("interval", f.interval, 10*time.Millisecond); err != nil {
		return err
	}
	if _, _, err := splitHostPort(f.address); err != nil {
		return usageErrorf("--address %q: want host:port, e.g. localhost:6000", f.address)
	}
	if _, _, err := splitHostPort(f.httpAddress); f.httpAddress != "" && err != nil {
		return usageErrorf("--http-address %q: want host:port, e.g. localhost:8080", f.httpAddress)
	}
	return f.tls.validate()
}

// trigger resolves the ScaledObject reference and metadata from -f and
// --metadata, and checks the metadata as the scaler will.
func (f *queryFlags) trigger() (pickedTrigger, scaler.Trigger, error) {
	t := pickedTrigger{Metadata: map[string]string{}}
	if f.file != "" {
		var err error
		t, err = loadScaledObject(f.file, triggerChoice{index: f.triggerIndex, name: f.triggerName, object: f.name})
		if err != nil {
			return t, scaler.Trigger{}, err
		}
	}
	if err := parseMetadata(t.Metadata, f.metadata); err != nil {
		return t, scaler.Trigger{}, err
	}
	t.Name = firstNonEmpty(f.name, t.Name, "query")
	t.Namespace = firstNonEmpty(f.namespace, t.Namespace, "default")
	for k := range t.Metadata {
		if strings.HasSuffix(k, "FromEnv") {
			return t, scaler.Trigger{}, usageErrorf("trigger metadata %q: KEDA reads it from the workload's environment, which query cannot see: pass the value with --metadata %s=…",
				k, strings.TrimSuffix(k, "FromEnv"))
		}
	}
	if enginetrigger.Serves(t.Metadata) {
		return engineQueryTrigger(t)
	}
	parsed, err := scaler.ParseTrigger(t.Metadata)
	if err != nil {
		return t, scaler.Trigger{}, asUsage(err)
	}
	return t, parsed, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/recording"
	"github.com/nvml-scaler/nvml-scaler/recording/recorder"
	"github.com/nvml-scaler/nvml-scaler/scaler/replay"
)

type recordFlags struct {
	duration, interval time.Duration
	output             string
	nvmlLib            string
	description        string
	engine             recordEngineFlags
}

func newRecordCmd(d *deps) *cobra.Command {
	f := &recordFlags{}
	cmd := &cobra.Command{
		Use:   "record -o FILE",
		Short: "Record live NVML answers into a file that --replay and the fake library play back",
		Long: `record samples every GPU every --interval for --duration and writes the answers,
return codes included, in the recording format of testdata/recordings
(nvml-scaler/recording/v1). 'serve --replay FILE' and 'probe --replay FILE'
play it back; the tests' fake libnvidia-ml replays it at the C ABI.
SIGINT ends the recording early and still writes what was recorded.

--engine-target also scrapes inference servers every --engine-interval and
stores each body (gzip-compressed; a body equal to the previous one as
"same"), or the scrape's error, in the recording's engines section; 'serve
--replay' then serves their engine metrics in step with the GPUs. gzip keeps
about a seventh of a vLLM body; the bodies stop at 18 MiB compressed (about
15 minutes of one 150 KB body a second), which ends the recording early, so
that the file stays under the 32 MiB --replay reads.

--engine-pods records the bodies of the Ready pods holding GPUs on this
node, found as 'serve --engine-pods' finds them, under each pod's
namespace/name with its namespace and GPUs (and, once per reason, why a pod
cannot be scraped), so that 'serve --replay' and 'probe --replay' show them
as pods.`,
		Example: `  nvml-scaler record --duration 2m -o vllm-burst.json --description "vLLM, llama-3-8b, 0→64 concurrent requests"
  nvml-scaler record --duration 2m -o vllm-burst.json --engine-target vllm-0=http://127.0.0.1:8000/metrics
  nvml-scaler record --duration 2m -o node-pods.json --engine-pods   # in the agent's pod: $NODE_NAME, its token`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			return runRecord(cmd.Context(), d, f)
		},
	}
	fs := cmd.Flags()
	newDuration(fs, &f.duration, "duration", time.Minute, "how long to record")
	newDuration(fs, &f.interval, "interval", 100*time.Millisecond, "time between samples, at least 100ms (GPM metrics are not valid over shorter gaps)")
	fs.StringVarP(&f.output, "output", "o", "", "file to write (- for stdout); required")
	fs.StringVar(&f.nvmlLib, "nvml-lib", "", "load NVML from exactly this file (default: the loader's search, then the usual driver directories)")
	fs.StringVar(&f.description, "description", "", "what ran on the GPUs while recording, stored in the file")
	f.engine.register(fs)
	noEnv(fs, "output")
	return cmd
}

func (f *recordFlags) validate() error {
	switch {
	case f.output == "":
		return usageErrorf("--output (-o) is required: the file to write, or - for stdout")
	case f.duration < 0:
		return usageErrorf("--duration %v: want 0 or more (0 takes one sample)", f.duration)
	}
	if err := f.engine.validate(); err != nil {
		return err
	}
	return checkMinDuration("interval", f.interval, nvml.GPMMinInterval)
}

func runRecord(ctx context.Context, d *deps, f *recordFlags) (err error) {
	var opts []nvml.Option
	if f.nvmlLib != "" {
		opts = append(opts, nvml.WithLibraryPath(f.nvmlLib))
	}
	lib, err := nvml.Open(opts...)
	if err != nil {
		return explainNVML(err)
	}
	defer func() { err = errors.Join(err, lib.Close()) }()
	if err := lib.Init(); err != nil {
		return explainNVML(fmt.Errorf("initialise NVML from %s: %w", lib.Path(), err))
	}
	defer func() { err = errors.Join(err, lib.Shutdown()) }()

	host, herr := d.hostname()
	if herr != nil {
		host = "unknown"
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	eng, err := f.engine.start(ctx, d, lib, stop)
	if err != nil {
		return err
	}
	rec, err := recorder.Record(ctx, lib, recorder.Options{
		Duration: f.duration, Interval: f.interval, Description: f.description,
		Source: fmt.Sprintf("host %s (nvml-scaler record %s)", host, buildInfo(d).Version),
	})
	stop()
	eng.finish(rec, d.stderr)
	if err != nil {
		return err
	}
	if err := writeRecording(d.stdout, f.output, rec); err != nil {
		return err
	}
	sayDenied(d.stderr, rec)
	fmt.Fprintf(d.stderr, "recorded %d samples of %d GPU(s) over %v to %s\n",
		len(rec.Samples), len(rec.Devices), time.Duration(rec.Duration()).Round(time.Millisecond), f.output)
	if st, err := os.Stat(f.output); f.output != "-" && err == nil && st.Size() > replay.MaxFileSize {
		fmt.Fprintf(d.stderr, "warning: %s is %d MiB, over the %d MiB that --replay reads: record less (a shorter --duration, a longer --interval)\n",
			f.output, st.Size()>>20, replay.MaxFileSize>>20)
	}
	return nil
}

// writeRecording encodes rec to path ("-": stdout) through a temporary file,
// so an existing file is replaced only by a complete recording.
func writeRecording(stdout io.Writer, path string, rec *recording.Recording) error {
	if path == "-" {
		return recording.Encode(stdout, rec)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if err := recording.Encode(tmp, rec); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// sayDenied names each GPU whose handle NVML refused: recorded with the
// code, without answers.
func sayDenied(w io.Writer, rec *recording.Recording) {
	for _, dev := range rec.Devices {
		if dev.HandleRet != 0 {
			fmt.Fprintf(w, "GPU %d: nvmlDeviceGetHandleByIndex_v2 returned %d (%s): recorded with that return code and no answers; the other GPUs are recorded\n",
				dev.Index, dev.HandleRet, rec.ErrorStrings[strconv.Itoa(int(dev.HandleRet))])
		}
	}
}

// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/recording"
)

// The recordings the agents serve (testdata/recordings, real NVML answers).
const (
	rampRecording = "h200-inference-ramp.json" // H200: idle, duty 10 %..100 % in 3 s steps, bursts, idle
	h100Recording = "h100-two-tenants.json"    // H100: idle, matmul 100 %, 50 % duty with two tenants, idle
)

// gpmSMUtil is nvmlGpmMetricId_t NVML_GPM_METRIC_SM_UTIL: sm_active_percent.
const gpmSMUtil = 2

func loadRecording(t *testing.T, name string) *recording.Recording {
	t.Helper()
	rec, err := recording.Load(filepath.Join("..", "..", "testdata", "recordings", name))
	require.NoError(t, err)
	return rec
}

// agent is one `nvml-scaler serve` on the fake libnvidia-ml, whose recorded
// sample the test picks with SetStep.
type agent struct {
	b          *bed
	name, node string
	fake       *fakenvml.Fake
	rec        *recording.Recording
	args       []string
	grpc       string // KEDA's scalerAddress
	health     string // http://…/readyz
	nodeAPI    string // the aggregator's address for it, with withNodeAPI
	// launcher, when set, runs the binary: launcher[0] with launcher[1:],
	// the binary and its arguments (withDRA's mount namespace).
	launcher []string
	env      []string // added to the test's environment
	p        *proc
}

// agentOption changes how startAgent runs serve.
type agentOption func(*testing.T, *agent) []string

// withNodeAPI serves the node API with attribution from the kubelet socket.
func withNodeAPI(kubeletSocket string) agentOption {
	return func(t *testing.T, a *agent) []string {
		port, err := freePort()
		require.NoError(t, err)
		a.nodeAPI = hostPort(port)
		return []string{"--node-api-listen=" + a.nodeAPI, "--kubelet-socket=" + kubeletSocket}
	}
}

// startAgent runs serve for node on the recording rec through the fake
// library (its calls to nvmlDeviceGetUtilizationRates can be held, making
// the agent stale), at step 0, and waits until it is ready.
func startAgent(t *testing.T, b *bed, node string, rec *recording.Recording, opts ...agentOption) *agent {
	t.Helper()
	fake := fakenvml.New(t, rec, fakenvml.Hold(holdSymbol, time.Hour))
	fake.Release(holdSymbol)
	ports, err := freePorts(2)
	require.NoError(t, err)
	a := &agent{b: b, name: "agent-" + node, node: node, fake: fake, rec: rec,
		grpc: hostPort(ports[0]), health: "http://" + hostPort(ports[1]) + "/readyz"}
	a.args = []string{"serve", "--nvml-lib=" + fake.LibPath, "--interval=500ms",
		"--listen=" + a.grpc, "--http-listen=" + hostPort(ports[1]),
		"--node-name=" + node, "--log-format=text"}
	for _, o := range opts {
		a.args = append(a.args, o(t, a)...)
	}
	a.start(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- %s log ---\n%s", a.name, a.p.tail(30))
		}
		a.p.stop(10 * time.Second)
	})
	return a
}

// holdSymbol is the NVML call a stale agent hangs in.
const holdSymbol = "nvmlDeviceGetUtilizationRates"

// start (re)starts the agent's process with the same flags and ports.
func (a *agent) start(t *testing.T) {
	t.Helper()
	bin, args := a.b.scalerBin, a.args
	if len(a.launcher) > 0 {
		bin, args = a.launcher[0], append(append(slices.Clone(a.launcher[1:]), a.b.scalerBin), a.args...)
	}
	var err error
	a.p, err = startProc(a.b.dir, a.name, bin, args, a.env...)
	require.NoError(t, err)
	require.NoError(t, waitHTTP(context.Background(), a.p, a.health, nil), "agent %s ready", a.name)
}

// setPhase serves the sample in the middle of the recording's phase.
func (a *agent) setPhase(t *testing.T, phase string) float64 {
	t.Helper()
	i, v := phaseSample(t, a.rec, phase)
	a.fake.SetStep(uint64(i))
	return v
}

// phaseSample returns the index of the sample in the middle of phase and its
// first GPU's sm_active_percent.
func phaseSample(t *testing.T, rec *recording.Recording, phase string) (int, float64) {
	t.Helper()
	var from, to int64 = -1, 1 << 62
	for i, p := range rec.Phases {
		if p.Name == phase {
			from = p.OffsetNanos
			if i+1 < len(rec.Phases) {
				to = rec.Phases[i+1].OffsetNanos
			}
		}
	}
	require.GreaterOrEqual(t, from, int64(0), "phase %q not in %s", phase, rec.Source)
	var in []int
	for i, s := range rec.Samples {
		if s.OffsetNanos >= from && s.OffsetNanos < to {
			in = append(in, i)
		}
	}
	require.NotEmpty(t, in, "no samples in phase %q", phase)
	i := in[len(in)/2]
	return i, smUtil(rec, i)
}

// smUtil is sample i's first GPU's recorded GPM SM utilization (percent).
func smUtil(rec *recording.Recording, i int) float64 {
	for _, g := range rec.Samples[i].Devices[0].GPM {
		if g.ID == gpmSMUtil {
			return float64(g.Value)
		}
	}
	return 0
}

func (a *agent) String() string { return fmt.Sprintf("%s (%s)", a.name, a.grpc) }

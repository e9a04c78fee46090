// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/nvml"
)

// A GPU whose handle NVML refuses (the device cgroup denies it: GPU 1 of
// three, NVML_ERROR_NO_PERMISSION) does not stop record: the others are
// recorded, the denied one stays with its return code, and stderr says so.
// The fake library replays the recording with the GPU denied as it was, and
// --replay serves the two that opened.
func TestRecordDeniedGPU(t *testing.T) {
	t.Parallel()
	three, err := fakenvml.Replicate(loadRecording(t, rampRecording), 3)
	require.NoError(t, err)
	f := fakenvml.New(t, three, fakenvml.DenyGPU(1, int32(nvml.ErrNoPermission), 0, 0))
	out := filepath.Join(t.TempDir(), "rec.json")
	r := run(context.Background(), t, []string{"record", "--nvml-lib", f.LibPath, "--duration", "200ms", "--interval", "100ms", "-o", out})
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "GPU 1: nvmlDeviceGetHandleByIndex_v2 returned 4 (Insufficient Permissions): recorded with that return code")
	assert.Regexp(t, `recorded \d+ samples of 3 GPU\(s\)`, r.stderr)

	rec := loadRecording(t, out)
	require.Len(t, rec.Devices, 3)
	denied := rec.Devices[1]
	assert.EqualValues(t, 1, denied.Index)
	assert.EqualValues(t, 4, denied.HandleRet)
	assert.EqualValues(t, 4, denied.UUID.Ret)
	assert.EqualValues(t, 4, denied.Name.Ret)
	assert.Equal(t, three.Devices[2].UUID.Value, rec.Devices[2].UUID.Value, "the GPU after it is recorded")
	require.NotEmpty(t, rec.Samples)
	for _, s := range rec.Samples {
		require.Len(t, s.Devices, 3)
		assert.EqualValues(t, 4, s.Devices[1].Utilization.Ret)
		assert.EqualValues(t, 4, s.Devices[1].PowerMilliwatts.Ret)
		assert.True(t, s.Devices[0].Utilization.OK())
		assert.True(t, s.Devices[2].PowerMilliwatts.OK())
	}

	// The fake, fed the recording alone, denies GPU 1 as the live library did.
	back := fakenvml.New(t, rec)
	r = run(context.Background(), t, []string{"probe", "--nvml-lib", back.LibPath, "-o", "json", "--interval", "100ms"})
	require.Equal(t, ExitOK, r.code, r.stderr)
	var rep probeReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	require.Len(t, rep.GPUs, 3)
	assert.Equal(t, "failed", rep.GPUs[1].Health)
	assert.Contains(t, rep.GPUs[1].Error, "Insufficient Permissions")
	assert.Equal(t, "ok", rep.GPUs[2].Health)

	// --replay serves the GPUs that opened.
	r = run(context.Background(), t, []string{"probe", "--replay", out, "-o", "json", "--interval", "100ms"}, newFakeClock().option())
	require.Equal(t, ExitOK, r.code, r.stderr)
	rep = probeReport{}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	require.Len(t, rep.GPUs, 2)
	assert.Equal(t, rec.Devices[2].UUID.Value, rep.GPUs[1].UUID)
}

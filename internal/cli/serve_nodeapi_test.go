// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nvml-scaler/nvml-scaler/proto/nodev1"
)

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	return addr
}

// serve --node-api-listen streams the node's snapshots to an aggregator; with
// no kubelet socket, attribution says it is unavailable and why, and the
// metrics still flow.
func TestServeNodeAPI(t *testing.T) {
	addr := freeAddr(t)
	s := startServe(t, "--replay", rampRecording, "--interval", "100ms", "--node-name", "gpu-node-7",
		"--node-api-listen", addr, "--kubelet-socket", filepath.Join(t.TempDir(), "kubelet.sock"))
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var msg *nodev1.Snapshot
	var stream nodev1.NodeSnapshots_WatchClient
	require.Eventually(t, func() bool {
		stream, err = nodev1.NewNodeSnapshotsClient(conn).Watch(ctx, &nodev1.WatchRequest{})
		if err != nil {
			return false
		}
		msg, err = stream.Recv()
		return err == nil
	}, 15*time.Second, 100*time.Millisecond)
	assert.Equal(t, "gpu-node-7", msg.GetNode())
	require.Len(t, msg.GetDevices(), 1)
	assert.Len(t, msg.GetGpus(), 1)
	require.NotNil(t, msg.GetAttribution())
	assert.False(t, msg.GetAttribution().GetAvailable())
	// The first message may precede the first kubelet query ("not been
	// asked yet"); attribution travels again when it changes.
	for !strings.Contains(msg.GetAttribution().GetReason(), "kubelet.sock") {
		next, err := stream.Recv()
		require.NoError(t, err, "attribution never named the socket; last: %q", msg.GetAttribution().GetReason())
		if next.GetAttribution() != nil {
			msg = next
			assert.False(t, msg.GetAttribution().GetAvailable())
		}
	}
	cancel()
	r := s.stop(t)
	assert.Equal(t, ExitOK, r.code, r.stderr)
}

func TestServeNodeAPIBadAddress(t *testing.T) {
	t.Parallel()
	r := run(context.Background(), t, []string{"serve", "--replay", rampRecording, "--node-api-listen", "6001"})
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.stderr, `--node-api-listen "6001": want host:port`)
}

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# make demo: the scaler on a recorded NVIDIA H200, no GPU needed. Builds
# bin/nvml-scaler, serves a recording of a real inference ramp at 4x speed,
# queries it as KEDA would while the load climbs, then stops the server with
# SIGTERM and checks that it exits 0.
#
# Environment: GO (go), BIN (bin/nvml-scaler), DEMO_ROUNDS (15 query rounds).
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
BIN=${BIN:-bin/nvml-scaler}
ROUNDS=${DEMO_ROUNDS:-15}
REC=testdata/recordings/h200-inference-ramp.json
METADATA=metric=sm_active_percent,targetValue=60,aggregation=sum

log=$(mktemp "${TMPDIR:-/tmp}/nvml-scaler-demo.XXXXXX")
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -f "$log"
}
trap cleanup EXIT

fail() {
	echo "demo: $*" >&2
	echo "--- server log ---" >&2
	cat "$log" >&2
	exit 1
}

echo "building $BIN ..."
CGO_ENABLED=0 "$GO" build -trimpath -o "$BIN" ./cmd/nvml-scaler

cat <<HEADER

== nvml-scaler demo: what KEDA sees of a GPU, with no GPU ==

The scaler below serves a recording of a real NVIDIA H200 ($REC),
played at 4x: a 60 GiB "KV cache" is allocated while idle, then a memory-bound
decode loop runs at a duty cycle climbing from 10% to 100%, then bursts.

'nvml-scaler query' asks it what KEDA asks, once a second, for the trigger
  $METADATA
VALUE is the GPU's SM activity in percent (the sum over the node's GPUs; one
here). AVERAGEVALUE and VALUE are the replicas the HPA would want from 1
current replica under each metricType (AverageValue is KEDA's default): 0 means
"scale down to minReplicas", and a second replica is wanted once SM activity
passes the 60% target by more than the HPA's 10% tolerance.

HEADER

# Port 0: the kernel picks free ports; serve logs the ones it bound.
"$BIN" serve --replay "$REC" --replay-speed 4 --interval 500ms \
	--listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --log-format text 2>"$log" &
pid=$!

grpc= http=
for _ in $(seq 100); do
	line=$(grep -m1 'msg="nvml-scaler starting"' "$log" || true)
	if [ -n "$line" ]; then
		grpc=$(sed -n 's/.* grpc=\([^ ]*\).*/\1/p' <<<"$line")
		http=$(sed -n 's/.* http=\([^ ]*\).*/\1/p' <<<"$line")
		break
	fi
	kill -0 "$pid" 2>/dev/null || fail "serve exited before listening"
	sleep 0.1
done
[ -n "$grpc" ] && [ -n "$http" ] || fail "serve did not report its addresses within 10s"

# /readyz answers 200 once the first sweep is in (bash's /dev/tcp: no curl needed).
ready() {
	local status
	exec 3<>"/dev/tcp/${http%:*}/${http##*:}" || return 1
	printf 'GET /readyz HTTP/1.0\r\nHost: %s\r\n\r\n' "$http" >&3
	read -r _ status _ <&3 || true
	exec 3<&- 3>&-
	[ "$status" = 200 ]
}
for _ in $(seq 100); do
	ready 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || fail "serve exited before it was ready"
	sleep 0.1
done
ready 2>/dev/null || fail "serve was not ready within 10s"
echo "serve is up: gRPC on $grpc, /healthz and /readyz on http://$http"
echo

"$BIN" query --address "$grpc" --watch --interval 1s --count "$ROUNDS" \
	--metadata "$METADATA" --current-replicas 1

echo
echo "stopping the server with SIGTERM ..."
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" -eq 0 ] || fail "serve exited with status $rc after SIGTERM, want 0"
echo "serve drained and exited 0. Next: 'nvml-scaler probe --replay $REC --watch',"
echo "or 'make test' for the whole suite."

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# make image-test: proves Dockerfile.distroless's recipe where no Docker engine
# runs. It
#   1. builds the binary for amd64 and arm64 with `make build`, the recipe the
#      Dockerfile's build stage runs, and checks each ELF's interpreter and
#      NEEDED libraries (internal/tools/imagetest elf);
#   2. assembles a root file system holding nothing but Debian's libc6 package
#      (the glibc runtime of gcr.io/distroless/base-nossl-debian12), the
#      nonroot user's passwd/group entries, /nvml-scaler and /licenses/LICENSE
#      as the Dockerfile copies them, plus the fake libnvidia-ml.so.1 and its
#      script in /usr/lib standing in for the driver the NVIDIA runtime injects;
#   3. in new mount and network namespaces, with that root mounted read-only,
#      runs as uid/gid 65532 with no_new_privs (the DaemonSet's securityContext):
#      `probe -o json`, then the DaemonSet's `serve` arguments on the default
#      ports until /readyz answers 200, queries it over gRPC with
#      deploy/examples/vllm-scaledobject.yaml, and stops it with SIGTERM,
#      which must exit 0; then, in cluster mode, serve as uid 0 without any
#      capability against a fake kubelet socket mounted read-only, whose
#      attribution the node API must carry (cluster_mode below).
#
# Needs: root (or unprivileged user namespaces), go, a C compiler (the fake
# library), chroot, unshare, setpriv, ip, curl, and apt-get with a Debian
# mirror (without apt it copies the host's libc6 files and says so).
# Environment: GO (go), IMAGE_TEST_CACHE (.cache/image-test: the libc6 .deb),
# IMAGE_TEST_KEEP=1 keeps the work directory.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
CACHE=${IMAGE_TEST_CACHE:-.cache/image-test}
GPUS=2
# Where the NVIDIA container toolkit mounts the driver's libnvidia-ml.so.1 in a
# Debian-family image (the multiarch library directory): the agent finds it
# there by the loader's default search, with no --nvml-lib.
NVML_DIR=/usr/lib/x86_64-linux-gnu
# The DaemonSet's container args (deploy/helm/nvml-scaler/values.yaml: the
# defaults of the chart; test/deploy checks the chart against `serve --help`).
SERVE_ARGS=(serve --listen=:6000 --http-listen=:8080 --interval=1s --log-format=json --log-level=info)
# Absolute paths: `env -i` leaves no PATH.
SETPRIV=$(command -v setpriv)
CHROOT=$(command -v chroot)

say() { printf '%s\n' "image-test: $*"; }
fail() { printf '%s\n' "image-test: FAIL: $*" >&2; exit 1; }

# inside WORK: runs in the new namespaces (see the end of this file).
inside() {
	local work=$1 root=$1/root
	ip link set lo up
	mount --bind "$root" "$root"
	mount -o remount,bind,ro "$root"
	touch "$root/.probe-rw" 2>/dev/null && fail "the root file system is writable"
	say "root mounted read-only; running as uid/gid 65532 with no_new_privs, network namespace of its own"

	# As the kubelet would: a clean environment, NODE_NAME from the downward API.
	say "\$ nvml-scaler version"
	env -i "$SETPRIV" --no-new-privs "$CHROOT" --userspec=65532:65532 "$root" /nvml-scaler version

	say "\$ nvml-scaler probe -o json   (no --nvml-lib: the default search finds $NVML_DIR/libnvidia-ml.so.1)"
	env -i NODE_NAME=image-test-node "$SETPRIV" --no-new-privs "$CHROOT" --userspec=65532:65532 "$root" \
		/nvml-scaler probe -o json --interval 200ms >"$work/probe.json" ||
		fail "probe exited $?"
	head -c 600 "$work/probe.json"
	printf '\n  ... (%s bytes)\n' "$(wc -c <"$work/probe.json")"
	"$work/imagetest" probe -gpus "$GPUS" -model "NVIDIA H200" <"$work/probe.json"

	say "\$ nvml-scaler ${SERVE_ARGS[*]}"
	env -i NODE_NAME=image-test-node \
		"$SETPRIV" --no-new-privs "$CHROOT" --userspec=65532:65532 "$root" /nvml-scaler "${SERVE_ARGS[@]}" \
		>"$work/serve.log" 2>&1 &
	local pid=$! code=
	for _ in $(seq 100); do
		code=$(curl -s -o "$work/readyz" -w '%{http_code}' http://127.0.0.1:8080/readyz || true)
		[ "$code" = 200 ] && break
		kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log" >&2; fail "serve exited before it was ready"; }
		sleep 0.2
	done
	[ "$code" = 200 ] || { cat "$work/serve.log" >&2; fail "/readyz answered $code, not 200, within 20s"; }
	say "/readyz 200: $(cat "$work/readyz")"
	say "/healthz $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/healthz)"
	say "serve process: $(grep -E '^(Uid|Gid|CapEff|NoNewPrivs|VmRSS|VmHWM):' "/proc/$pid/status" | tr -s '\t ' ' ' | paste -sd ';' -)"
	grep -Eq '^Uid:\s+65532\s' "/proc/$pid/status" || fail "serve does not run as uid 65532"

	say "\$ nvml-scaler query -f deploy/examples/vllm-scaledobject.yaml --trigger-name gpu-sm-active --address 127.0.0.1:6000 (host binary, over gRPC)"
	# GPM metrics such as SM activity need two sweeps: retry while the first
	# one is all there is.
	local ok=
	for _ in 1 2 3 4 5; do
		if "$work/amd64/nvml-scaler" query -f deploy/examples/vllm-scaledobject.yaml --trigger-name gpu-sm-active \
			--address 127.0.0.1:6000 >"$work/query.out" 2>&1; then
			ok=1
			break
		fi
		sleep 1
	done
	cat "$work/query.out"
	[ -n "$ok" ] || { cat "$work/serve.log" >&2; fail "query against the image's serve failed"; }

	say "SIGTERM -> serve"
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	say "serve log:"
	sed 's/^/  /' "$work/serve.log"
	[ "$rc" -eq 0 ] || fail "serve exited $rc after SIGTERM, want 0"
	grep -q '"msg":"nvml-scaler stopped"' "$work/serve.log" || fail "serve did not log that it stopped"
	say "serve exited 0 after SIGTERM"
	cluster_mode "$work"
}

# cluster_mode WORK: the agent as the DaemonSet runs it with aggregator.enabled
# (docs/deploy.md, "The agents' privilege in cluster mode"): uid 0 and gid
# 65532 with no capability at all and no_new_privs, the kubelet's
# PodResources directory (0750 root) mounted read-only with the socket in it
# (srwxr-xr-x root, the kubelet's mode under umask 022), --node-api-listen
# and --kubelet-socket. The node API must then carry an available
# attribution naming the fake kubelet's pod.
cluster_mode() {
	local work=$1 root=$1/root kdir=$1/pod-resources pod=llm/vllm-0 uuid
	uuid=$(grep -o '"uuid": *"GPU-[^"]*"' "$work/probe.json" | head -n 1 | sed 's/.*"\(GPU-[^"]*\)"/\1/')
	[ -n "$uuid" ] || fail "no GPU UUID in probe's output"
	mkdir -p "$kdir"
	chmod 0750 "$kdir"
	"$work/imagetest" kubelet -socket "$kdir/kubelet.sock" -pod "$pod" -uuids "$uuid" &
	local kpid=$!
	for _ in $(seq 50); do [ -S "$kdir/kubelet.sock" ] && break; sleep 0.1; done
	[ -S "$kdir/kubelet.sock" ] || fail "the fake kubelet did not create its socket"
	mount --bind "$kdir" "$root/var/lib/kubelet/pod-resources"
	mount -o remount,bind,ro "$root/var/lib/kubelet/pod-resources"
	say "kubelet socket: $(stat -c '%A %U:%G' "$kdir/kubelet.sock"), directory $(stat -c '%a %U:%G' "$kdir"), mounted read-only"
	local args=("${SERVE_ARGS[@]}" --node-api-listen=:6001 --kubelet-socket=/var/lib/kubelet/pod-resources/kubelet.sock)
	say "\$ nvml-scaler ${args[*]}   (uid 0, gid 65532, no capabilities, no_new_privs)"
	env -i NODE_NAME=image-test-node "$work/imagetest" nocaps -root "$root" /nvml-scaler "${args[@]}" >"$work/serve-cluster.log" 2>&1 &
	local pid=$! code=
	for _ in $(seq 100); do
		code=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/readyz || true)
		[ "$code" = 200 ] && break
		kill -0 "$pid" 2>/dev/null || { cat "$work/serve-cluster.log" >&2; fail "cluster-mode serve exited before it was ready"; }
		sleep 0.2
	done
	[ "$code" = 200 ] || { cat "$work/serve-cluster.log" >&2; fail "cluster-mode /readyz answered $code"; }
	local st
	st=$(grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' "/proc/$pid/status" | tr -s '\t ' ' ' | paste -sd ';' -)
	say "cluster-mode serve process: $st"
	grep -Eq '^Uid:\s+0\s' "/proc/$pid/status" || fail "cluster-mode serve does not run as uid 0"
	for c in CapInh CapPrm CapEff CapBnd CapAmb; do
		grep -Eq "^$c:\s+0+$" "/proc/$pid/status" || fail "cluster-mode serve holds capabilities ($c)"
	done
	"$work/imagetest" nodeapi -addr 127.0.0.1:6001 -pod "$pod" -uuid "$uuid" ||
		{ cat "$work/serve-cluster.log" >&2; fail "the node API carries no attribution of $pod"; }
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	kill -TERM "$kpid" 2>/dev/null || true
	wait "$kpid" 2>/dev/null || true
	umount "$root/var/lib/kubelet/pod-resources"
	[ "$rc" -eq 0 ] || { cat "$work/serve-cluster.log" >&2; fail "cluster-mode serve exited $rc after SIGTERM"; }
	say "cluster mode: the kubelet socket read through a read-only mount as uid 0 without capabilities"
}

if [ "${1:-}" = --inside ]; then
	inside "$2"
	exit 0
fi

# Without root, try an unprivileged user namespace that maps us to root.
if [ "$(id -u)" -ne 0 ]; then
	say "not root: re-running in a user namespace (unshare -r)"
	exec unshare -r "$0" "$@"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/nvml-scaler-image-test.XXXXXX")
if [ "${IMAGE_TEST_KEEP:-}" != 1 ]; then
	trap 'rm -rf "$work"' EXIT
else
	say "keeping $work"
fi
root=$work/root

# 0. The Dockerfile must still be the recipe this script imitates.
grep -q 'make build-agent AGENT_BIN=/out/nvml-scaler ' Dockerfile.distroless || fail "Dockerfile.distroless no longer builds /nvml-scaler with 'make build-agent AGENT_BIN=/out/nvml-scaler'"
grep -q '^ARG BASE_IMAGE=base-debian12$' Dockerfile.distroless || fail "Dockerfile.distroless: the default runtime base is no longer base-debian12"
grep -Eq '^FROM gcr\.io/distroless/base-nossl-debian12:nonroot@sha256:[0-9a-f]{64} AS base-debian12$' Dockerfile.distroless ||
	fail "Dockerfile.distroless: base-debian12 is no longer gcr.io/distroless/base-nossl-debian12:nonroot pinned by digest"
grep -Eq '^FROM --platform=\$BUILDPLATFORM golang:[0-9.]+-bookworm@sha256:[0-9a-f]{64} AS build$' Dockerfile.distroless ||
	fail "Dockerfile.distroless: the build stage is no longer golang:<version>-bookworm pinned by digest"
grep -q '^EXPOSE 6000 6001 8080$' Dockerfile.distroless || fail "Dockerfile.distroless: EXPOSE no longer lists 6000 6001 8080"
grep -q '^ENTRYPOINT \["/nvml-scaler"\]' Dockerfile.distroless || fail "Dockerfile.distroless: ENTRYPOINT changed"

# 1. Build as the Dockerfile's build stage does, for both architectures.
"$GO" build -o "$work/imagetest" ./internal/tools/imagetest
for arch in amd64 arm64; do
	say "\$ GOOS=linux GOARCH=$arch make build-agent AGENT_BIN=$work/$arch/nvml-scaler"
	GOOS=linux GOARCH=$arch make --no-print-directory build-agent GO="$GO" AGENT_BIN="$work/$arch/nvml-scaler" >/dev/null
	"$work/imagetest" elf -arch "$arch" "$work/$arch/nvml-scaler"
done

# 1b. The arm64 binary, run under qemu-user where Debian's qemu-user-static
# and dpkg's arm64 architecture are there (apt-get install qemu-user-static;
# dpkg --add-architecture arm64 && apt-get update): `version` in a root of
# Debian's libc6:arm64, so the aarch64 loader and libc are Debian's own.
if command -v qemu-aarch64-static >/dev/null && command -v apt-get >/dev/null &&
	dpkg --print-foreign-architectures 2>/dev/null | grep -qx arm64; then
	mkdir -p "$CACHE" "$work/root-arm64"
	deb64=$(ls "$CACHE"/libc6_*_arm64.deb 2>/dev/null | tail -n 1 || true)
	if [ -z "$deb64" ]; then
		(cd "$CACHE" && apt-get download -qq -o APT::Sandbox::User=root libc6:arm64 >/dev/null)
		deb64=$(ls "$CACHE"/libc6_*_arm64.deb | tail -n 1)
	fi
	dpkg-deb -x "$deb64" "$work/root-arm64"
	say "\$ qemu-aarch64-static -L root-arm64 nvml-scaler version   ($(basename "$deb64"))"
	qemu-aarch64-static -L "$work/root-arm64" "$work/arm64/nvml-scaler" version ||
		fail "the arm64 binary did not run under qemu-user"
	# And real work: a replayed H200 sweep read, derived and printed by the
	# arm64 build (its GPU's UUID comes from the recording).
	rec=testdata/recordings/h200-inference-ramp.json
	uuid=$(grep -o '"GPU-[0-9a-f-]*"' "$rec" | head -n 1)
	say "\$ qemu-aarch64-static -L root-arm64 nvml-scaler probe --replay $rec -o json"
	qemu-aarch64-static -L "$work/root-arm64" "$work/arm64/nvml-scaler" probe --replay "$rec" -o json >"$work/probe-arm64.json" ||
		fail "the arm64 binary's probe failed under qemu-user"
	grep -q "\"uuid\": $uuid" "$work/probe-arm64.json" && grep -q '"health": "ok"' "$work/probe-arm64.json" ||
		fail "the arm64 probe did not report the recording's GPU $uuid as ok: $(head -c 400 "$work/probe-arm64.json")"
else
	say "SKIP arm64 under qemu-user: needs qemu-aarch64-static (Debian's qemu-user-static) and dpkg's arm64 architecture"
fi

# 2. The root file system: glibc's runtime from Debian's libc6 package.
mkdir -p "$CACHE" "$root"
deb=
if command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null; then
	deb=$(ls "$CACHE"/libc6_*_amd64.deb 2>/dev/null | tail -n 1 || true)
	if [ -z "$deb" ]; then
		say "\$ apt-get update && apt-get download libc6"
		apt-get update -qq >/dev/null
		(cd "$CACHE" && apt-get download -qq -o APT::Sandbox::User=root libc6 >/dev/null)
		deb=$(ls "$CACHE"/libc6_*_amd64.deb | tail -n 1)
	fi
	say "libc6: $(basename "$deb") (dpkg-deb -x)"
	dpkg-deb -x "$deb" "$root"
else
	say "WARNING: no apt-get/dpkg-deb: copying the HOST's glibc files instead of Debian's libc6 package"
	for f in /lib64/ld-linux-x86-64.so.2 /lib/x86_64-linux-gnu/{libc.so.6,libdl.so.2,libpthread.so.0,libm.so.6,librt.so.1}; do
		mkdir -p "$root$(dirname "$f")"
		cp -L "$f" "$root$f"
	done
fi
# distroless's /etc/passwd and /etc/group entries for root and nonroot.
mkdir -p "$root/etc" "$root/tmp" "$root/home/nonroot" "$root/licenses" "$root/usr/lib"
# The mount point of the kubelet's PodResources directory (cluster mode);
# the DaemonSet's hostPath volume creates it in the real container.
mkdir -p "$root/var/lib/kubelet/pod-resources"
chmod 1777 "$root/tmp"
chown 65532:65532 "$root/home/nonroot"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
# What the Dockerfile's runtime stage copies.
install -m 0755 "$work/amd64/nvml-scaler" "$root/nvml-scaler"
install -m 0644 LICENSE "$root/licenses/LICENSE"
# The driver stand-in: the NVIDIA runtime injects the real libnvidia-ml.so.1.
mkdir -p "$root$NVML_DIR"
"$work/imagetest" fake -out "$root$NVML_DIR" -gpus "$GPUS" -speed 4
for sh in bin/sh bin/bash usr/bin/sh usr/bin/bash bin/busybox; do
	[ ! -e "$root/$sh" ] || fail "the root file system has a shell: /$sh"
done
say "root: $(find "$root" -type f | wc -l) files, $(du -sh "$root" | cut -f1); no shell"

# 3. Run it, isolated: own mount and network namespaces (default ports cannot
# clash with anything on the host).
unshare --mount --net --fork "$0" --inside "$work"
say "PASS"

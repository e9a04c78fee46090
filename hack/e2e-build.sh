#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the control plane the e2e tests (test/e2e) run, from the Go module
# proxy, once: etcd, kube-apiserver, kube-controller-manager, KEDA's operator
# and metrics adapter, kwok. Binaries land in $E2E_BIN (default
# .cache/e2e/bin, ignored by git); a binary whose version stamp matches is not
# rebuilt. Cold: about 20 minutes on 2 cores (README); seconds once Go's build
# cache is warm. One binary at a time: a kube-apiserver or KEDA link peaks at
# about 3.5 GB.
#
# Each binary is built from a throwaway wrapper module that requires the
# upstream module at its release, because `go install pkg@version` refuses
# modules whose go.mod has replace directives (all but kwok's). The wrapper
# repeats the replaces the upstream build needs: Kubernetes' staging modules
# at their published v0.36.x, KEDA's nexus-proto-annotations fork.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
E2E_BIN=${E2E_BIN:-$PWD/.cache/e2e/bin}
WORK=${E2E_BUILD_DIR:-$PWD/.cache/e2e/build}

ETCD_VERSION=v3.6.16
K8S_VERSION=v1.36.4
K8S_STAGING_VERSION=v0.36.4
KEDA_VERSION=v2.21.0
KWOK_VERSION=v0.8.0

# Kubernetes' staging modules (k8s.io/kubernetes@v1.36.4's go.mod replaces
# each with ./staging/src/...; a module requiring it must point them at their
# releases instead).
K8S_STAGING="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
cloud-provider cluster-bootstrap code-generator component-base component-helpers
controller-manager cri-api cri-client cri-streaming csi-translation-lib
dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator
kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics mount-utils
pod-security-admission sample-apiserver sample-cli-plugin sample-controller streaming"

mkdir -p "$E2E_BIN" "$WORK"

# wrapper DIR MODULE@VERSION [go mod edit flags...]: a module requiring MODULE.
wrapper() {
	local dir=$WORK/$1 req=$2
	shift 2
	rm -rf "$dir" && mkdir -p "$dir"
	(cd "$dir" && $GO mod init e2ebuild/"$(basename "$dir")" >/dev/null 2>&1 &&
		$GO mod edit -require="$req" "$@")
}

# needs NAME STAMP: true when $E2E_BIN/NAME is missing or of another version.
needs() { ! [[ -x $E2E_BIN/$1 && "$(cat "$E2E_BIN/$1.version" 2>/dev/null)" == "$2" ]]; }

# build NAME STAMP DIR PACKAGE [ldflags]: builds PACKAGE in wrapper DIR into
# $E2E_BIN/NAME unless NAME.version already says STAMP.
build() {
	local name=$1 stamp=$2 dir=$WORK/$3 pkg=$4 ldflags=${5:-}
	if ! needs "$name" "$stamp"; then
		echo "e2e-build: $name $stamp (cached)"
		return
	fi
	local start=$SECONDS
	(cd "$dir" && CGO_ENABLED=0 nice -n 10 $GO build -mod=mod -trimpath \
		-ldflags "-s -w $ldflags" -o "$E2E_BIN/$name" "$pkg")
	echo "$stamp" >"$E2E_BIN/$name.version"
	echo "e2e-build: $name $stamp built in $((SECONDS - start)) s"
}


if needs etcd "$ETCD_VERSION"; then
	wrapper etcd go.etcd.io/etcd/server/v3@$ETCD_VERSION
fi
build etcd "$ETCD_VERSION" etcd go.etcd.io/etcd/server/v3

if needs kube-apiserver "$K8S_VERSION" || needs kube-controller-manager "$K8S_VERSION"; then
	replaces=()
	for m in $K8S_STAGING; do replaces+=(-replace="k8s.io/$m=k8s.io/$m@$K8S_STAGING_VERSION"); done
	wrapper kubernetes k8s.io/kubernetes@$K8S_VERSION "${replaces[@]}"
fi
minor=${K8S_VERSION#v1.}
minor=${minor%%.*}
kver="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1
 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean
 -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1
 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
build kube-apiserver "$K8S_VERSION" kubernetes k8s.io/kubernetes/cmd/kube-apiserver "$kver"
build kube-controller-manager "$K8S_VERSION" kubernetes k8s.io/kubernetes/cmd/kube-controller-manager "$kver"

if needs keda-operator "$KEDA_VERSION" || needs keda-adapter "$KEDA_VERSION"; then
	wrapper keda github.com/kedacore/keda/v2@$KEDA_VERSION \
		-replace=github.com/nexus-rpc/nexus-proto-annotations@v0.1.0=github.com/nexus-rpc/nexus-proto-annotations@v0.1.1-0.20260629224316-835bd8d49cb4 \
		-exclude=github.com/go-chi/chi/v5@v5.2.3
fi
kedaver="-X github.com/kedacore/keda/v2/version.Version=${KEDA_VERSION#v}"
build keda-adapter "$KEDA_VERSION" keda github.com/kedacore/keda/v2/cmd/adapter "$kedaver"
build keda-operator "$KEDA_VERSION" keda github.com/kedacore/keda/v2/cmd/operator "$kedaver"

if needs kwok "$KWOK_VERSION"; then
	wrapper kwok sigs.k8s.io/kwok@$KWOK_VERSION
fi
build kwok "$KWOK_VERSION" kwok sigs.k8s.io/kwok/cmd/kwok

# The CRDs and Stage definitions the tests apply, from the same module versions.
keda_dir=$($GO mod download -json github.com/kedacore/keda/v2@$KEDA_VERSION | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
mkdir -p "$E2E_BIN/keda-crds"
cp "$keda_dir"/config/crd/bases/*.yaml "$E2E_BIN/keda-crds/"
kwok_dir=$($GO mod download -json sigs.k8s.io/kwok@$KWOK_VERSION | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
mkdir -p "$E2E_BIN/kwok-stages"
cp "$kwok_dir"/kustomize/stage/node/fast/node-initialize.yaml "$kwok_dir"/kustomize/stage/pod/fast/pod-*.yaml \
	"$E2E_BIN/kwok-stages/"
echo "e2e-build: done, binaries in $E2E_BIN"

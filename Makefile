# SPDX-License-Identifier: Apache-2.0
# The two commands that matter: `make demo` (the scaler on a recorded H200, no GPU
# needed) and `make test` (the whole suite, as CI runs it).

GO        ?= go
BIN       ?= bin/nvml-scaler
# The DaemonSet's binary: the same commands less `aggregate`, without client-go
# (-tags agent; internal/cli/commands_agent.go). The image ships it as
# /nvml-scaler and the full build as /nvml-scaler-aggregator.
AGENT_BIN ?= bin/nvml-scaler-agent
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BENCHTIME ?= 2s

.PHONY: build build-agent test test-keda test-keda-compat test-e2e bench-scaling lint fmt vet bench fuzz cover image demo demo-test tidy-check recordings cross

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/nvml-scaler

build-agent:
	CGO_ENABLED=0 $(GO) build -trimpath -tags agent -ldflags '$(LDFLAGS)' -o $(AGENT_BIN) ./cmd/nvml-scaler

cross:
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -o /dev/null ./...
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -o /dev/null ./...

# The whole suite: the binding through the fake libnvidia-ml (needs a C compiler),
# the scaler on replayed recordings (make demo included, TestDemo), a short soak,
# KEDA's real client (test/keda; at v2.17 and v2.21 against the built binary,
# test-keda-compat), the manifests against Kubernetes' and KEDA's
# types (test/deploy), the image recipe in a glibc-only root (image-test) and
# the real control plane with KEDA's operator (test-e2e).
test: lint cross
	$(GO) test -race -count=1 ./...
	$(MAKE) soak-short
	$(MAKE) test-keda
	$(MAKE) test-keda-compat
	$(MAKE) test-deploy
	$(MAKE) image-test
	$(MAKE) test-e2e

# A real etcd, kube-apiserver, kube-controller-manager, KEDA operator and
# metrics adapter and kwok on loopback, built once from the Go module proxy
# into .cache/e2e/bin (hack/e2e-build.sh; cold cost in the README), then our
# binary against them (nested module test/e2e). E2E_TIMELINES=DIR saves each
# scenario's replica timeline there.
test-e2e:
	GO=$(GO) hack/e2e-build.sh
	cd test/e2e && $(GO) test -race -count=1 -timeout 30m ./...

# The scaling benchmark (issue 11, not part of make test): on the test-e2e
# control plane, nvml-scaler's external trigger against the Prometheus chain
# (Debian's prometheus package: apt-get install prometheus) on one replayed
# load; results in .cache/bench-scaling (table scaling.md, timelines .tsv).
bench-scaling:
	@command -v prometheus >/dev/null 2>&1 || { echo "installing Debian's prometheus (path B of the benchmark)"; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus; }
	GO=$(GO) hack/e2e-build.sh
	mkdir -p .cache/bench-scaling
	cd test/e2e && E2E_BENCH_SCALING=$(CURDIR)/.cache/bench-scaling $(GO) test -race -count=1 -run '^TestScalingBench$$' -timeout 30m -v ./... \
		>$(CURDIR)/.cache/bench-scaling/run.log 2>&1 || (tail -60 .cache/bench-scaling/run.log; exit 1)
	cat .cache/bench-scaling/scaling.md

test-keda:
	@if [ -f test/keda/go.mod ]; then cd test/keda && $(GO) test -race -count=1 ./...; fi

# KEDA's client at the oldest and newest supported releases, v2.17.3 and
# v2.21.0, against the binary `make build` leaves in $(BIN), over gRPC: one
# nested module each under test/kedacompat (neither imports this module, so
# each builds with the k8s.io modules its KEDA pins), the expectations shared
# in test/kedacompat/harness. The v2.17 module's cold build cost is in the
# README.
KEDA_COMPAT ?= v2.17 v2.21
test-keda-compat: build
	cd test/kedacompat/harness && $(GO) test -race -count=1 ./...
	@for v in $(KEDA_COMPAT); do \
		echo "test/kedacompat/$$v"; \
		(cd test/kedacompat/$$v && NVML_SCALER_BIN=$(abspath $(BIN)) $(GO) test -race -count=1 ./...) || exit 1; \
	done

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed'; exit 1)

fmt:
	gofmt -w $$(git ls-files '*.go')

# golangci-lint at a pinned version, built through the Go module proxy into
# bin/ (git-ignored); .golangci.yml says what it checks and why.
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT         := bin/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint

$(GOLANGCI_LINT):
	GOBIN=$(CURDIR)/$(dir $(GOLANGCI_LINT)) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

# The nested modules are linted too, each from its own directory (golangci-lint
# loads one module at a time) with the same configuration; cold, each one first
# compiles its dependencies (KEDA, Helm, the control plane's clients): the
# README has the cost.
LINT_MODULES ?= test/keda test/deploy test/e2e test/kedacompat/harness test/kedacompat/v2.17 test/kedacompat/v2.21
lint: vet $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run ./...
	@for m in $(LINT_MODULES); do \
		echo "golangci-lint: $$m"; \
		(cd $$m && $(abspath $(GOLANGCI_LINT)) run --config $(CURDIR)/.golangci.yml ./...) || exit 1; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./nvml/... ./scaler/... ./engine/...

# Each fuzz target for FUZZTIME (one at a time: -fuzz takes one target per
# package). `make test` runs their seed corpora (testdata/fuzz) as plain tests.
# FUZZMINTIME bounds the minimizing of each new input: at Go's default (60 s)
# the engine target, whose inputs are whole /metrics bodies, spent 45 of its
# 60 s minimizing one input, at 0 execs/s; with 2 s it keeps fuzzing
# (~1,000 execs/s on 2 cores).
FUZZTIME ?= 60s
FUZZMINTIME ?= 2s
FUZZFLAGS = -run '^$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINTIME)
fuzz:
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzDecode$$' ./recording
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzQuoteNonFinite$$' ./recording
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzParseTrigger$$' ./scaler
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzScrapeAndMap$$' ./engine

# The soak (scaler/soak_test.go): sampling at 100 Hz on a replay while 200
# clients connect, call GetMetrics or hold StreamIsActive, and leave; goroutines,
# fds and heap must stay flat, under -race. soak-short is CI's bounded version.
.PHONY: soak soak-short
SOAK ?= 5m
soak:
	$(GO) test -race -count=1 -timeout 60m -run '^TestSoak$$' -v ./scaler/ -args -soak=$(SOAK)

soak-short:
	$(GO) test -race -count=1 -timeout 5m -run '^TestSoak$$' ./scaler/ -args -soak=12s

cover:
	$(GO) test -race -count=1 -coverprofile=coverage.out ./...
	$(GO) tool cover -func=coverage.out | tail -n 1

tidy-check:
	$(GO) mod tidy -diff

# Rewrites the code generated from internal/readings.Fields (the per-sweep
# readings; docs/design.md, "Adding a reading"). TestGeneratedFilesAreCurrent
# fails while it is due.
.PHONY: generate
generate:
	$(GO) generate ./internal/readings

# Regenerates testdata/recordings from ../shared/nvml-recordings.
recordings:
	$(GO) run ./internal/tools/convertrec -all ../shared/nvml-recordings testdata/recordings

# The distroless image, where a Docker engine with buildx runs. One platform by
# default; PLATFORMS=linux/amd64,linux/arm64 cross-compiles both (push them
# with IMAGE_BUILD_FLAGS=--push). docs/deploy.md.
# BASE_IMAGE picks the runtime base, each pinned by digest in the Dockerfile:
# base-debian12 (the default) or base-debian13 (make image BASE_IMAGE=base-debian13),
# or any image reference (docs/deploy.md, "The image").
# BuildKit attaches an SPDX SBOM (its Syft scanner) and a provenance
# attestation to the image (--sbom, --provenance). They travel with a pushed
# image (IMAGE_BUILD_FLAGS=--push); read the SBOM back with
#   docker buildx imagetools inspect $(IMAGE):$(VERSION) --format '{{ json .SBOM }}'
# The classic `docker` image store (--load) drops attestations.
IMAGE             ?= ghcr.io/nvml-scaler/nvml-scaler
PLATFORMS         ?=
IMAGE_BUILD_FLAGS ?=
BASE_IMAGE        ?=
image:
	docker buildx build -f Dockerfile.distroless $(if $(PLATFORMS),--platform $(PLATFORMS)) \
		--build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) \
		--build-arg CREATED=$$(date -u +%Y-%m-%dT%H:%M:%SZ) \
		$(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) \
		--sbom=true --provenance=mode=max \
		-t $(IMAGE):$(VERSION) $(IMAGE_BUILD_FLAGS) .

# The scaler on a recorded H200 inference ramp, queried as KEDA would: no GPU needed.
demo:
	GO=$(GO) BIN=$(BIN) hack/demo.sh

# Runs hack/demo.sh under a time bound and checks its output (TestDemo).
demo-test:
	$(GO) test -count=1 -run '^TestDemo$$' ./internal/cli/

# Proves Dockerfile.distroless's recipe without a Docker engine (root, a C
# compiler and a Debian mirror): hack/image-test.sh.
.PHONY: image-test test-deploy
image-test:
	GO=$(GO) hack/image-test.sh

# Renders deploy/ with Helm's and kustomize's Go APIs and validates it and the
# examples against Kubernetes' and KEDA's types (nested module test/deploy;
# its cold build cost is in docs/deploy.md).
test-deploy:
	cd test/deploy && $(GO) test -race -count=1 ./...

# Regenerates proto/nodev1 (needs protoc: apt-get install protobuf-compiler).
PROTOC_GEN_GO      ?= v1.36.12
PROTOC_GEN_GO_GRPC ?= v1.6.2
.PHONY: proto
proto:
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO)
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC)
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc -I proto --go_out=proto --go_opt=paths=source_relative \
		--go-grpc_out=proto --go-grpc_opt=paths=source_relative proto/nodev1/node.proto

# SPDX-License-Identifier: Apache-2.0
# The two commands that matter: `make demo` (the scaler on a recorded H200, no GPU
# needed) and `make test` (the whole suite, as CI runs it).

GO        ?= go
BIN       ?= bin/nvml-scaler
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BENCHTIME ?= 2s

.PHONY: build test test-keda lint fmt vet bench fuzz cover image demo tidy-check recordings cross

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/nvml-scaler

cross:
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -o /dev/null ./...
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -o /dev/null ./...

# The whole suite: the binding through the fake libnvidia-ml (needs a C compiler),
# the scaler on replayed recordings, and KEDA's real client in test/keda.
test: vet cross
	$(GO) test -race -count=1 ./...
	$(MAKE) test-keda

test-keda:
	@if [ -f test/keda/go.mod ]; then cd test/keda && $(GO) test -race -count=1 ./...; fi

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed'; exit 1)

fmt:
	gofmt -w $$(git ls-files '*.go')

lint: vet

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./nvml/... ./scaler/...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 60s ./recording

cover:
	$(GO) test -race -count=1 -coverprofile=coverage.out ./...
	$(GO) tool cover -func=coverage.out | tail -n 1

tidy-check:
	$(GO) mod tidy -diff

# Regenerates testdata/recordings from ../shared/nvml-recordings.
recordings:
	$(GO) run ./internal/tools/convertrec -all ../shared/nvml-recordings testdata/recordings

image:
	docker build -f Dockerfile.distroless -t nvml-scaler:$(VERSION) .

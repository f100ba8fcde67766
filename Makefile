# Two commands do everything: `make dev` runs the processor on a local TON
# network, `make test` runs every test. Other targets are for development.

GO        ?= go
PKGS      := ./...
# Go test timeout for the whole suite; the emulator-backed suites dominate.
TEST_TIMEOUT ?= 40m

.PHONY: all build test lint bench dev assets tonsim fmt vet check-go

all: build

check-go:
	@command -v $(GO) >/dev/null 2>&1 || { echo "Go 1.26+ is required: https://go.dev/dl/"; exit 1; }

build: check-go
	$(GO) build -o bin/ ./cmd/...

test: check-go
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

fmt:
	gofmt -w .

lint: check-go
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@2025.1.1 $(PKGS)

bench: check-go
	$(GO) test -run '^$$' -bench . -benchtime 3x $(PKGS)

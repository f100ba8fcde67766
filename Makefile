# Two commands do everything: `make dev` runs the processor on a local TON
# network, `make test` runs every test. Other targets are for development.

GO           ?= go
PKGS         := ./...
TEST_TIMEOUT ?= 40m

.PHONY: all build dev test lint bench fuzz soak e2e-testnet assets tonsim fmt tidy check-go check-npm

all: build

check-go:
	@command -v $(GO) >/dev/null 2>&1 || { echo "Go 1.26+ is required (https://go.dev/dl/)"; exit 1; }

check-npm:
	@command -v npm >/dev/null 2>&1 || { echo "npm is required once to fetch the TON emulator (npm pack @ton/sandbox). Install Node.js/npm (Debian: apt-get install npm)."; exit 1; }
	@command -v node >/dev/null 2>&1 || { echo "node is required once to compile tonsim's FunC contracts (@ton-community/func-js). Install Node.js (Debian: apt-get install nodejs)."; exit 1; }

# The TON emulator (WebAssembly from @ton/sandbox) and jetton code are fetched
# with npm into .cache/tonsim-assets (ignored by git), once per pinned version;
# tonsim's own FunC contracts (internal/tonsim/assets/contracts) are compiled
# there with the pinned @ton-community/func-js (npm ci + node), their code
# hashes checked against assets.ContractCodeHashes.
assets: check-go check-npm
	$(GO) run ./cmd/tonsim -fetch

build: check-go
	$(GO) build -o bin/ ./cmd/...

# The processor on a local TON network (tonsim) with a throwaway PostgreSQL
# (or DATABASE_URL), a funded hot wallet and a demo jetton; prints the API
# token, URLs and curl lines. Ctrl-C stops and removes everything.
# Ctrl-C is read from the terminal (not a SIGINT to make), so a clean stop
# exits 0.
dev: check-go assets
	$(GO) build -o bin/processor ./cmd/processor
	./bin/processor dev

# PostgreSQL and RabbitMQ are started when they are down and can be
# (scripts/with-test-db.sh, scripts/with-rabbitmq.sh; README, Tests).
test: check-go assets
	$(GO) vet $(PKGS)
	./scripts/ensure-chromium.sh
	./scripts/with-test-db.sh ./scripts/with-rabbitmq.sh $(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

# A local TON network on its own: liteserver 127.0.0.1:46732, control API
# http://127.0.0.1:8092 (see README).
tonsim: check-go assets
	$(GO) run ./cmd/tonsim

fmt:
	gofmt -w .

# -e: testcontainers-go pulls a Windows-only module the proxy no longer
# serves; it is never built here.
tidy:
	$(GO) mod tidy -e

lint: check-go
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	$(GO) vet $(PKGS)
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@latest
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck $(PKGS)

# Runs every issue's benchmarks three times (BENCH_RUNS=1 for one) beside
# same-run baselines and writes the report to bench/results.md.
bench: check-go assets
	./scripts/with-test-db.sh $(GO) run ./cmd/benchreport

# Every fuzz target for FUZZTIME each (one at a time: go test -fuzz takes one
# target per run). Seeds alone run with `make test`. The budget is a count of
# executions, not a duration: with a duration, Go's fuzz coordinator can fail
# a clean run with "context deadline exceeded" when its workers are starved
# at the deadline (golang/go#75804; it failed CI once at 10s). A count only
# runs slower on a busy machine.
FUZZTIME ?= 500000x
FUZZ_TARGETS := \
	./internal/tonaddr:FuzzParse \
	./internal/boc:FuzzParse \
	./internal/money:FuzzParse \
	./internal/httpapi:FuzzParseBinaryComment \
	./internal/httpapi:FuzzWholeNumber \
	./internal/blockscanner:FuzzClassify \
	./internal/bridge/highhelp:FuzzNormalize \
	./internal/bridge/highhelp:FuzzParseCallback \
	./internal/bridge/paykassma:FuzzParsePostback \
	./internal/bridge/paykassma:FuzzPHPJSON \
	./internal/bridge/paykassma:FuzzPHPEncode \
	./internal/bridge/payfield:FuzzParseCallback \
	./internal/bridge/payfield:FuzzParseResponse
fuzz: check-go assets
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME); \
	done

# The fault and soak suite (internal/soak): tonsim (two liteservers) + the
# processor (kill -9 and restarts) on a throwaway PostgreSQL (restarted);
# TON and USDT deposits, withdrawals and sweeps, a cold wallet, a burst of
# 1,000 withdrawals with comments up to 1000 bytes, a withdrawal above the
# hot wallet balance, refused masterchain destinations, fiat bridge traffic;
# liteserver (drop, stall, lost externals, lagging node), block, webhook and
# shard faults; checks the invariants against the chain and prints a
# summary table with every traffic and fault kind. Default 10 minutes; e.g.
# make soak SOAK_FLAGS="-duration 30m -seed 42". `make test` runs a 45-s
# version (TestSoakShort, a burst of 100).
SOAK_FLAGS ?=
soak: check-go assets
	$(GO) run ./cmd/soak $(SOAK_FLAGS)

# The end-to-end scenarios against the public testnet (see README: needs
# E2E_TON_CONFIG and a funded E2E_SEED; says what to set, without failing,
# when they are missing).
# `make test` runs the same scenarios on tonsim (TestTonsim).
e2e-testnet: check-go
	@if [ -z "$$E2E_TON_CONFIG" ] || [ -z "$$E2E_SEED" ]; then \
		echo "e2e-testnet not run: set E2E_TON_CONFIG (testnet global config path or URL, e.g. https://ton.org/testnet-global.config.json)"; \
		echo "and E2E_SEED (24-word mnemonic of a funded testnet wallet, at least 3 TON); see README."; \
		exit 0; \
	fi; \
	./scripts/with-test-db.sh $(GO) test -tags e2etestnet -count=1 -run TestTestnet -v -timeout 60m ./internal/e2e

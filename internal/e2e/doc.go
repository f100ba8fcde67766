// Package e2e holds the end-to-end scenarios of the processor: TON and
// jetton deposits, withdrawals, a bounced withdrawal, sweeps, service
// withdrawals and DNS resolution, driven through the HTTP API of a
// processor started in-process with its real configuration and code.
//
// The same suite runs against two networks: tonsim (always, in
// go test ./internal/e2e) and the public testnet (TestTestnet, only when
// E2E_TON_CONFIG and E2E_SEED are set; see testnet_test.go).
package e2e

// Command benchreport runs the project's benchmarks (`make bench`) and
// writes one table — metric, target, measured, machine cores — to stdout
// and to bench/results.md. Each benchmark is an ordinary `go test -bench`
// benchmark; this tool only runs them with suitable -benchtime values and
// reads the metrics they report.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// target is one line of the report.
type target struct {
	pkg, bench, benchtime string
	metric                string // unit reported by the benchmark (ns/op or b.ReportMetric unit)
	name                  string // what it measures
	want                  string // the target, as text
	ok                    func(v float64) bool
}

func atLeast(x float64) func(float64) bool { return func(v float64) bool { return v >= x } }
func atMost(x float64) func(float64) bool  { return func(v float64) bool { return v <= x } }

var targets = []target{
	{"./internal/tonsim/chain/", "BenchmarkBulkTransfers$", "10x", "tx/s", "tonsim bulk mode transactions generated", ">= 20,000 tx/s", atLeast(20000)},
	{"./internal/tonsim/tvm/", "BenchmarkEmulateTransfer$", "2000x", "tx/s", "tonsim TVM path, one emulator instance", ">= 300 tx/s", atLeast(300)},
	{"./internal/tonsim/liteserver/", "BenchmarkServeTransactionsPage$", "100x", "ns/op", "liteserver answer to a 256-transaction page with proof (server side)", "< 5 ms", atMost(5e6)},
	{"./internal/tonsim/liteserver/", "BenchmarkListBlockTransactionsPage$", "100x", "ns/op", "client GetBlockTransactionsV2 page of 256 over ADNL incl. proof checks", "< 5 ms (server side above)", nil},
	{"./internal/app/", "BenchmarkAddressNew$", "2000x", "addresses/s", "POST /v1/address/new", ">= 1,000/s", atLeast(1000)},
	{"./internal/app/", "BenchmarkAddressAll$", "2000x", "p99-ms", "GET /v1/address/all p99, 100k addresses", "< 10 ms", atMost(10)},
	{"./internal/app/", "BenchmarkDepositHistory$", "500x", "p99-ms", "GET /v1/deposit/history p99, 1M incomes", "< 20 ms", atMost(20)},
	{"./internal/blockscanner/", "BenchmarkCatchUpMostlyIrrelevant$", "1x", "mcblocks/s", "scanner catch-up, 4 shards, mostly irrelevant traffic", ">= 200 masterchain blocks/s", atLeast(200)},
	{"./internal/blockscanner/", "BenchmarkCatchUpDepositHeavy$", "1x", "deposits/s", "scanner catch-up, relevant transactions into PostgreSQL", ">= 5,000/s", atLeast(5000)},
	{"./internal/app/", "BenchmarkWithdrawalThroughput$", "1x", "withdrawals/min", "withdrawals confirmed through one hot wallet (1 s blocks)", ">= 10,000/min", atLeast(10000)},
	{"./internal/app/", "BenchmarkWithdrawalThroughputLongComments$", "1x", "withdrawals/min", "withdrawals with 1000-byte comments through one hot wallet, every external under 64 KiB (1 s blocks)", ">= 30,000/min", atLeast(30000)},
	{"./internal/app/", "BenchmarkWithdrawalLatencyShortQueue$", "10x", "p50-blocks", "accepted -> processed, short queue (1 s blocks)", "p50 <= 2 masterchain blocks", atMost(2)},
	{"./internal/notify/", "BenchmarkWorkerDrainsBacklog/20000$", "1x", "events/s", "webhook outbox drain to a loopback receiver, 20k backlog", "", nil},
	{"./internal/bridge/", "BenchmarkBridgeOverhead$", "2500x", "p99-ms", "bridge overhead (API -> simulator -> back) p99 at 500 req/s", "< 5 ms", atMost(5)},
	{"./internal/bridge/", "BenchmarkCallbackIngestion$", "20000x", "callbacks/s", "bridge callback ingestion (verify, status change, outbox)", ">= 2,000/s", atLeast(2000)},
}

func main() {
	cores := runtime.NumCPU()
	var out bytes.Buffer
	fmt.Fprintf(&out, "# Benchmark report\n\n%s, %d cores (%s/%s)\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), cores, runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&out, "| metric | target | measured | cores | |\n|---|---|---|---|---|\n")
	failed := 0
	for _, t := range targets {
		v, err := run(t)
		var measured, verdict string
		if err != nil {
			measured = "error: " + err.Error()
		} else {
			measured = format(v, t.metric)
			if t.ok != nil {
				if t.ok(v) {
					verdict = "ok"
				} else {
					verdict = "MISSED"
					failed++
				}
			}
		}
		fmt.Fprintf(&out, "| %s | %s | %s | %d | %s |\n", t.name, t.want, measured, cores, verdict)
		fmt.Fprintf(os.Stderr, "%s: %s\n", t.name, measured)
	}
	os.Stdout.Write(out.Bytes())
	if err := os.MkdirAll("bench", 0o755); err == nil {
		_ = os.WriteFile("bench/results.md", out.Bytes(), 0o644)
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "%d targets missed\n", failed)
	}
}

func format(v float64, unit string) string {
	if unit == "ns/op" {
		return fmt.Sprintf("%.2f ms", v/1e6)
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + " " + unit
}

var line = regexp.MustCompile(`^Benchmark\S+\s+\d+\s+(.*)$`)

// run executes one benchmark and returns the value of its metric.
func run(t target) (float64, error) {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", t.bench, "-benchtime", t.benchtime, "-count", "1", t.pkg)
	cmd.Stderr = os.Stderr
	raw, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, lastLine(raw))
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		f := strings.Fields(m[1])
		for i := 0; i+1 < len(f); i += 2 {
			if f[i+1] == t.metric {
				return strconv.ParseFloat(f[i], 64)
			}
		}
	}
	return 0, fmt.Errorf("metric %s not reported", t.metric)
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

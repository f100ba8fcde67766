// Command benchreport runs the project's benchmarks (`make bench`) and
// writes a report to stdout and to bench/results.md.
//
// Every benchmark runs BENCH_RUNS times (default 3; -quick or
// BENCH_RUNS=1 for development; -only REGEXP runs some targets only) and the report shows the min and the
// median of the runs, and which direction is better; a target counts as
// met only on the median. Beside every figure stands a baseline measured
// in the same run on the same machine (raw PostgreSQL commits, a bare HTTP
// round trip through the same load generator, the raw liteserver page, a
// fixed CPU loop; see internal/benchbase), and our figure as a ratio to
// it, so that a reader can tell the machine from the code. The machine's
// load (/proc/loadavg) is recorded before and after.
//
// Each benchmark is an ordinary `go test -bench` benchmark; this tool only
// runs them with suitable -benchtime values and reads the metrics they
// report.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// bench is one go test benchmark and the metric read from it.
type bench struct {
	pkg, name, benchtime string
	metric               string // unit reported by the benchmark (ns/op or b.ReportMetric unit)
}

// baseline is a same-run reference figure.
type baseline struct {
	key  string // referred to by target.base
	what string
	bench
	higher bool // higher is better
}

// Baselines, run first: the figures of the machine, not of our code.
var baselines = []baseline{
	{"pg1", "PostgreSQL single-row commit, 1 client (rate)", bench{"./internal/benchbase/", "BenchmarkBaselinePGCommit/clients=1$", "2000x", "commits/s"}, true},
	{"pg1-ms", "PostgreSQL single-row commit, 1 client (mean latency)", bench{"./internal/benchbase/", "BenchmarkBaselinePGCommit/clients=1$", "2000x", "mean-ms"}, false},
	{"pg8", "PostgreSQL single-row commit, 8 clients (rate)", bench{"./internal/benchbase/", "BenchmarkBaselinePGCommit/clients=8$", "8000x", "commits/s"}, true},
	{"pg8-ms", "PostgreSQL single-row commit, 8 clients (mean latency)", bench{"./internal/benchbase/", "BenchmarkBaselinePGCommit/clients=8$", "8000x", "mean-ms"}, false},
	{"pg8-p99", "PostgreSQL single-row commit, 8 clients (p99 latency: checkpoint and fsync stalls)", bench{"./internal/benchbase/", "BenchmarkBaselinePGCommit/clients=8$", "8000x", "p99-ms"}, false},
	{"http-p99", "bare HTTP round trip at 500 req/s, same generator and client (p99)", bench{"./internal/benchbase/", "BenchmarkBaselineHTTP$", "2500x", "p99-ms"}, false},
	{"http-rate", "bare HTTP round trip at 500 req/s (completed rate)", bench{"./internal/benchbase/", "BenchmarkBaselineHTTP$", "2500x", "req/s"}, true},
	{"floor-p99", "the same round trip whose handler first makes two single-row commits in sequence: the floor of a create call that stores the payment before the provider call and its outcome before answering (p99)", bench{"./internal/benchbase/", "BenchmarkBaselineHTTPTwoCommits$", "2500x", "p99-ms"}, false},
	{"ls-raw", "raw liteserver 256-transaction page with proof: wire encoding of the ready answer, none of our processing", bench{"./internal/tonsim/liteserver/", "BenchmarkBaselineRawTransactionsPage$", "100x", "ns/op"}, false},
	{"cpu", "fixed CPU loop: SHA-256 of 128 bytes, one goroutine", bench{"./internal/benchbase/", "BenchmarkBaselineCPU$", "2000000x", "hashes/s"}, true},
}

// target is one line of the report.
type target struct {
	bench
	what string // what it measures
	want string // the target, as text
	// higher: higher is better (else lower is). ok (nil: no target) is
	// applied to the median.
	higher bool
	ok     func(v float64) bool
	base   string // baseline key, "" for none
	extra  string // a further metric shown beside the figure (e.g. the achieved rate)
}

func atLeast(x float64) func(float64) bool { return func(v float64) bool { return v >= x } }
func atMost(x float64) func(float64) bool  { return func(v float64) bool { return v <= x } }

func t(pkg, name, benchtime, metric, what, want string, higher bool, ok func(float64) bool, base string) target {
	return target{bench: bench{pkg, name, benchtime, metric}, what: what, want: want, higher: higher, ok: ok, base: base}
}

var targets = []target{
	t("./internal/tonsim/chain/", "BenchmarkBulkTransfers$", "10x", "tx/s", "tonsim bulk mode transactions generated", ">= 20,000 tx/s", true, atLeast(20000), "cpu"),
	t("./internal/tonsim/tvm/", "BenchmarkEmulateTransfer/full-config$", "2000x", "tx/s", "tonsim TVM path, one emulator instance (full mainnet config)", ">= 300 tx/s", true, atLeast(300), "cpu"),
	t("./internal/tonsim/liteserver/", "BenchmarkServeTransactionsPage$", "100x", "ns/op", "liteserver answer to a 256-transaction page with proof (server side)", "< 5 ms", false, atMost(5e6), "ls-raw"),
	t("./internal/tonsim/liteserver/", "BenchmarkListBlockTransactionsPage$", "100x", "ns/op", "client GetBlockTransactionsV2 page of 256 over ADNL incl. proof checks", "< 5 ms (server side above)", false, nil, "ls-raw"),
	t("./internal/app/", "BenchmarkAddressNew$", "2000x", "addresses/s", "POST /v1/address/new", ">= 1,000/s", true, atLeast(1000), "pg8"),
	t("./internal/app/", "BenchmarkAddressAll$", "2000x", "p99-ms", "GET /v1/address/all p99, 100k addresses", "< 10 ms", false, atMost(10), "pg1-ms"),
	t("./internal/app/", "BenchmarkDepositHistory$", "500x", "p99-ms", "GET /v1/deposit/history p99, 1M incomes", "< 20 ms", false, atMost(20), "pg1-ms"),
	t("./internal/blockscanner/", "BenchmarkCatchUpMostlyIrrelevant$", "1x", "mcblocks/s", "scanner catch-up, 4 shards, mostly irrelevant traffic", ">= 200 masterchain blocks/s", true, atLeast(200), "cpu"),
	t("./internal/blockscanner/", "BenchmarkCatchUpDepositHeavy$", "1x", "deposits/s", "scanner catch-up, relevant transactions into PostgreSQL", ">= 5,000/s", true, atLeast(5000), "pg8"),
	t("./internal/app/", "BenchmarkWithdrawalThroughput$", "1x", "withdrawals/min", "withdrawals confirmed through one hot wallet (1 s blocks)", ">= 10,000/min", true, atLeast(10000), "pg1"),
	t("./internal/app/", "BenchmarkWithdrawalThroughputLongComments$", "1x", "withdrawals/min", "withdrawals with 1000-byte comments through one hot wallet, every external under 64 KiB (1 s blocks)", ">= 30,000/min", true, atLeast(30000), "pg1"),
	t("./internal/app/", "BenchmarkWithdrawalLatencyShortQueue$", "10x", "p50-blocks", "accepted -> processed, short queue (1 s blocks)", "p50 <= 2 masterchain blocks", false, atMost(2), ""),
	t("./internal/notify/", "BenchmarkWorkerDrainsBacklog/20000$", "1x", "events/s", "webhook outbox drain to a loopback receiver, 20k backlog", "", true, nil, "pg8"),
	{bench: bench{"./internal/bridge/", "BenchmarkBridgeOverhead$", "2500x", "p99-ms"}, what: "bridge overhead (API -> simulator -> back) p99 at 500 req/s",
		want: "< 5 ms", ok: atMost(5), base: "floor-p99", extra: "req/s"},
	t("./internal/bridge/", "BenchmarkCallbackIngestion$", "20000x", "callbacks/s", "bridge callback ingestion (verify, status change, outbox)", ">= 2,000/s", true, atLeast(2000), "pg8"),

	// ---- Targets added by other work go here (keep this marker). ----
	// The mainnet-shaped follow runs once per run (BENCH_FOLLOW_DURATION,
	// default 3 minutes); both of its lines read that run.
	t("./internal/blockscanner/", "BenchmarkFollowMainnetShaped$", "1x", "cpu%", "scanner following a mainnet-shaped chain (16 shards, 1 s blocks, 1,000 irrelevant tx/s, 3 deposits/s): CPU, % of one core (tonsim and the PostgreSQL server not counted)", "<= 10% of one core", false, atMost(10), ""),
	t("./internal/blockscanner/", "BenchmarkFollowMainnetShaped$", "1x", "lag-max-blocks", "same run: masterchain blocks the scanner is behind the head, max over 50 ms samples", "<= 1 block", false, atMost(1), ""),
	t("./internal/ledger/", "BenchmarkLedgerExport$", "1x", "entries/s", "GET /v1/ledger/export, 1M entries streamed as CSV (keyset pages)", ">= 100,000 entries/s", true, atLeast(100000), "pg1"),
	// ---- end of added targets ----
}

// result is the runs of one benchmark metric.
type result struct {
	runs []float64
	err  error
}

func (r result) min() float64 { return slices.Min(r.runs) }

// median of the runs (the mean of the middle two for an even count).
func (r result) median() float64 {
	s := slices.Clone(r.runs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// runner runs benchmarks, once per (package, benchmark, benchtime), and
// keeps every metric of every run.
type runner struct {
	runs  int
	cache map[string][]map[string]float64
}

func (r *runner) get(b bench) result {
	key := b.pkg + " " + b.name + " " + b.benchtime
	rs, ok := r.cache[key]
	if !ok {
		var err error
		rs, err = runBench(b, r.runs)
		if err != nil {
			r.cache[key] = nil
			return result{err: err}
		}
		r.cache[key] = rs
	}
	if rs == nil {
		return result{err: fmt.Errorf("benchmark failed (see above)")}
	}
	var out result
	for _, m := range rs {
		v, ok := m[b.metric]
		if !ok {
			return result{err: fmt.Errorf("metric %s not reported", b.metric)}
		}
		out.runs = append(out.runs, v)
	}
	return out
}

func main() {
	quick := flag.Bool("quick", false, "one run per benchmark (development; BENCH_RUNS=n sets any count)")
	only := flag.String("only", "", "run only the targets whose benchmark name or description matches this regexp (development; the baselines always run)")
	flag.Parse()
	var onlyRE *regexp.Regexp
	if *only != "" {
		var err error
		if onlyRE, err = regexp.Compile(*only); err != nil {
			fmt.Fprintf(os.Stderr, "-only: %v\n", err)
			os.Exit(2)
		}
	}
	runs := 3
	if v := os.Getenv("BENCH_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "BENCH_RUNS=%q: want a positive integer\n", v)
			os.Exit(2)
		}
		runs = n
	}
	if *quick {
		runs = 1
	}
	cores := runtime.NumCPU()
	loadBefore := loadavg()
	started := time.Now()
	base := measureBaselines(runs, "baseline")
	r := &runner{runs: runs, cache: map[string][]map[string]float64{}}
	type line struct {
		t   target
		res result
		ext result
	}
	var lines []line
	for _, t := range targets {
		if onlyRE != nil && !onlyRE.MatchString(t.name) && !onlyRE.MatchString(t.what) {
			continue
		}
		l := line{t: t, res: r.get(t.bench)}
		if t.extra != "" {
			l.ext = r.get(bench{t.pkg, t.name, t.benchtime, t.extra})
		}
		lines = append(lines, l)
		fmt.Fprintf(os.Stderr, "%s: %s\n", t.what, summary(l.res, t.metric))
	}
	// The baselines again, at the end: a machine's speed can move by a
	// third within the run, and a figure is only comparable with the
	// machine it was measured on.
	end := measureBaselines(runs, "baseline at the end")
	loadAfter := loadavg()

	var out bytes.Buffer
	fmt.Fprintf(&out, "# Benchmark report\n\n%s, %d cores (%s/%s), %d run(s) per benchmark, %s in all\n\n",
		started.UTC().Format("2006-01-02 15:04 MST"), cores, runtime.GOOS, runtime.GOARCH, runs, time.Since(started).Round(time.Second))
	fmt.Fprintf(&out, "Machine load (/proc/loadavg, 1/5/15 min, runnable/total, last pid): before `%s`, after `%s`.\n\n", loadBefore, loadAfter)
	fmt.Fprintf(&out, "A target counts as met only on the median of the runs. \"vs baseline\" is our median over the same-run baseline's median (below): compare it across machines rather than the absolute figure.\n\n")
	fmt.Fprintf(&out, "| metric | target | median | min | better | runs | baseline | vs baseline | |\n|---|---|---|---|---|---|---|---|---|\n")
	failed := 0
	for _, l := range lines {
		t := l.t
		dir := "lower"
		if t.higher {
			dir = "higher"
		}
		var med, mn, runsText, baseText, ratio, verdict string
		if l.res.err != nil {
			med = "error: " + l.res.err.Error()
			verdict = "ERROR"
			if t.ok != nil {
				failed++
			}
		} else {
			m := l.res.median()
			med, mn = format(m, t.metric), format(l.res.min(), t.metric)
			var rs []string
			for _, v := range l.res.runs {
				rs = append(rs, formatNum(v, t.metric))
			}
			runsText = strings.Join(rs, ", ")
			if l.ext.err == nil && len(l.ext.runs) > 0 {
				med += fmt.Sprintf(" (achieved %s)", format(l.ext.median(), t.extra))
			}
			if t.ok != nil {
				if t.ok(m) {
					verdict = "ok"
				} else {
					verdict = "MISSED"
					failed++
				}
			}
			if b, ok := base[t.base]; ok && b.err == nil {
				bm := b.median()
				baseText = format(bm, baseMetric(t.base)) + " (" + t.base + ")"
				if bm != 0 {
					ratio = fmt.Sprintf("%.3gx", m/bm)
				}
			}
		}
		fmt.Fprintf(&out, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", t.what, t.want, med, mn, dir, runsText, baseText, ratio, verdict)
	}
	fmt.Fprintf(&out, "\n## Same-run baselines\n\nMeasured before the benchmarks (the figures above are compared with these) and again after them: \"end / start\" shows how far the machine itself moved during the run.\n\n| key | baseline | median | min | better | runs | at the end: median | end / start |\n|---|---|---|---|---|---|---|---|\n")
	for _, b := range baselines {
		res := base[b.key]
		dir := "lower"
		if b.higher {
			dir = "higher"
		}
		if res.err != nil {
			fmt.Fprintf(&out, "| %s | %s | error: %v | | %s | | | |\n", b.key, b.what, res.err, dir)
			continue
		}
		var rs []string
		for _, v := range res.runs {
			rs = append(rs, formatNum(v, b.metric))
		}
		endText, drift := "", ""
		if e := end[b.key]; e.err != nil {
			endText = "error: " + e.err.Error()
		} else if len(e.runs) > 0 {
			endText = format(e.median(), b.metric)
			if m := res.median(); m != 0 {
				drift = fmt.Sprintf("%.2f", e.median()/m)
			}
		}
		fmt.Fprintf(&out, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", b.key, b.what, format(res.median(), b.metric), format(res.min(), b.metric), dir, strings.Join(rs, ", "), endText, drift)
	}
	os.Stdout.Write(out.Bytes())
	if onlyRE != nil {
		fmt.Fprintln(os.Stderr, "-only: bench/results.md left as it was (a partial report is not the project's)")
	} else if err := os.MkdirAll("bench", 0o755); err == nil {
		_ = os.WriteFile("bench/results.md", out.Bytes(), 0o644)
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "%d targets missed (on the median of %d runs)\n", failed, runs)
	}
}

// measureBaselines runs every baseline runs times and logs each one's
// summary after label.
func measureBaselines(runs int, label string) map[string]result {
	r := &runner{runs: runs, cache: map[string][]map[string]float64{}}
	out := map[string]result{}
	for _, b := range baselines {
		out[b.key] = r.get(b.bench)
		fmt.Fprintf(os.Stderr, "%s %s: %s\n", label, b.what, summary(out[b.key], b.metric))
	}
	return out
}

func baseMetric(key string) string {
	for _, b := range baselines {
		if b.key == key {
			return b.metric
		}
	}
	return ""
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unavailable: " + err.Error()
	}
	return strings.TrimSpace(string(b))
}

func summary(r result, unit string) string {
	if r.err != nil {
		return "error: " + r.err.Error()
	}
	return fmt.Sprintf("median %s, min %s (%d runs)", format(r.median(), unit), format(r.min(), unit), len(r.runs))
}

func format(v float64, unit string) string {
	if unit == "ns/op" {
		return fmt.Sprintf("%.2f ms", v/1e6)
	}
	return formatNum(v, unit) + " " + unit
}

func formatNum(v float64, unit string) string {
	if unit == "ns/op" {
		return fmt.Sprintf("%.2f", v/1e6)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

var line = regexp.MustCompile(`^(Benchmark\S+)\s+\d+\s+(.*)$`)

// runBench executes one benchmark runs times (go test -count) and returns
// the metrics of each run.
func runBench(b bench, runs int) ([]map[string]float64, error) {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", b.name, "-benchtime", b.benchtime,
		"-count", strconv.Itoa(runs), "-timeout", "60m", b.pkg)
	cmd.Stderr = os.Stderr
	raw, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, lastLine(raw))
	}
	var out []map[string]float64
	first := "" // a pattern may match several (sub-)benchmarks: the first one's lines count
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		if first == "" {
			first = m[1]
		}
		if m[1] != first {
			continue
		}
		f := strings.Fields(m[2])
		metrics := map[string]float64{}
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				metrics[f[i+1]] = v
			}
		}
		out = append(out, metrics)
	}
	if len(out) != runs {
		return nil, fmt.Errorf("%d result lines for %d runs", len(out), runs)
	}
	return out, nil
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

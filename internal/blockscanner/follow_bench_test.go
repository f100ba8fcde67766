package blockscanner_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/blockscanner"
	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/store/storetest"
	"github.com/ton-custody/processor/internal/ton"
	"github.com/ton-custody/processor/internal/tonsim"
	"github.com/ton-custody/processor/internal/tonsim/chain"
)

// BenchmarkFollowMainnetShaped: the scanner follows a chain shaped like
// mainnet, at the head, for BENCH_FOLLOW_DURATION (default 3m; 20s with
// -short), and reports what following costs.
//
// The chain: workchain 0 split into 16 shards (depth 4, like mainnet), one
// masterchain block every BENCH_FOLLOW_BLOCK_INTERVAL (default 1s) with one
// new block per shard, about BENCH_FOLLOW_TPS (default 1,000) irrelevant
// transactions a second spread over the shards (tonsim's background
// traffic, to a pool of 10,000 accounts), and BENCH_FOLLOW_DEPOSITS
// (default 3) deposits a second to the 10,000 addresses the scanner
// watches. Mainnet's masterchain made a block about every 5 s for years
// and has been faster since; 1 s is the strictest end of the 1-5 s
// range: the per-block costs (masterchain and 16 shard block downloads,
// one database transaction) come five times as often as at 5 s, and "at
// most one block behind" leaves the scanner 1 s per block.
//
// tonsim answers no liteserver query while it makes a block (a round holds
// the chain's lock: ~0.1 s on an idle machine for this load, more on a busy
// one), which mainnet's liteservers do not do; a scanner that needs longer
// than the gap between rounds waits for the next round too. The log shows
// tonsim's slowest round and the spread of block announcements, so a lag
// that tonsim or a crowded machine caused can be told apart.
//
// tonsim runs in a child process (this test binary re-executed, see
// runFollowChild), so the metrics of this process are the scanner's alone
// (with its liteserver and PostgreSQL clients, and the benchmark's own
// bookkeeping: a sample every 50 ms and a deposit line to the child a few
// times a second, about 0.1% of a core):
//
//	cpu%            CPU time of this process over the measured window
//	                (getrusage RUSAGE_SELF), in % of one core; goal <= 10
//	lag-max-blocks  max over samples (every 50 ms) of masterchain head seqno
//	                minus the scanner's committed cursor; goal <= 1
//	lag-p99-blocks  p99 of the same
//	follow-p50-ms, follow-p99-ms, follow-max-ms
//	                from tonsim announcing a masterchain block to the
//	                scanner's cursor reaching it (50 ms resolution)
//	deposits        deposits sent; every one must be credited exactly once
//	                (the benchmark fails otherwise)
//	missed-deposits deposits not credited (0) or wrongly credited
//	pg-cpu%         CPU of the PostgreSQL server backends serving this test's
//	                database, read from /proc (not included in cpu%; absent
//	                when the server's processes are not visible)
//	tonsim-cpu%     the tonsim child's CPU (not the scanner's; for context)
//	chain-tx/s      transactions tonsim produced per second in the window
//	mc-blocks       masterchain blocks in the window
func BenchmarkFollowMainnetShaped(b *testing.B) {
	p := followParamsFromEnv(b)
	for i := 0; i < b.N; i++ {
		runFollow(b, p)
	}
}

type followParams struct {
	duration, interval, warmup time.Duration
	shards, tps, depositsPerS  int
	watched                    int
}

func followParamsFromEnv(b *testing.B) followParams {
	p := followParams{duration: 3 * time.Minute, interval: time.Second, shards: 16, tps: 1000, depositsPerS: 3, watched: 10_000}
	if testing.Short() {
		p.duration = 20 * time.Second
	}
	dur := func(name string, v *time.Duration) {
		if s := os.Getenv(name); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				b.Fatalf("%s=%q: want a positive Go duration such as 30s", name, s)
			}
			*v = d
		}
	}
	num := func(name string, v *int) {
		if s := os.Getenv(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				b.Fatalf("%s=%q: want a non-negative integer", name, s)
			}
			*v = n
		}
	}
	dur("BENCH_FOLLOW_DURATION", &p.duration)
	dur("BENCH_FOLLOW_BLOCK_INTERVAL", &p.interval)
	num("BENCH_FOLLOW_SHARDS", &p.shards)
	num("BENCH_FOLLOW_TPS", &p.tps)
	num("BENCH_FOLLOW_DEPOSITS", &p.depositsPerS)
	// Steady state before measuring: the scanner's first batches, pool
	// connections and the traffic's accounts appearing.
	p.warmup = max(5*time.Second, 5*p.interval)
	return p
}

// followChildEnv carries the child's followSpec; TestMain runs the child
// instead of the tests when it is set.
const followChildEnv = "BLOCKSCANNER_FOLLOW_TONSIM"

type followSpec struct {
	Shards     int           `json:"shards"`
	Interval   time.Duration `json:"interval"`
	TPS        int           `json:"tps"`
	ConfigPath string        `json:"config_path"`
}

// runFollowChild is the tonsim process of BenchmarkFollowMainnetShaped. It
// writes the liteserver global config to spec.ConfigPath, then "ready" and
// "head <mc seqno> <transactions so far> <µs the round took>" after every
// masterchain block on
// stdout; it reads "deposit <account hex> <nanoton>" lines (bulk transfers
// for the next block) from stdin and exits when stdin closes.
func runFollowChild(raw string) int {
	var spec followSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "follow child:", err)
		return 2
	}
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "follow child:", err); return 1 }
	ctx := context.Background()
	octx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	e, err := tonsim.OpenEmulator(octx, "", 1)
	cancel()
	if err != nil {
		return fail(err)
	}
	defer e.Close(ctx)
	// Blocks on the child's own ticker (what tonsim's timed mode does), so
	// that it can tell how long each round took.
	n, err := tonsim.Start(ctx, e, e.Contracts, tonsim.Options{Shards: spec.Shards, BlockInterval: spec.Interval, Manual: true,
		LiteAddr: "127.0.0.1:0", Traffic: tonsim.Traffic{TPS: spec.TPS}})
	if err != nil {
		return fail(err)
	}
	defer n.Close()
	gc, err := n.GlobalConfig()
	if err != nil {
		return fail(err)
	}
	cfg, _ := json.Marshal(gc)
	if err := os.WriteFile(spec.ConfigPath, cfg, 0o644); err != nil {
		return fail(err)
	}
	out := bufio.NewWriter(os.Stdout)
	var outMu sync.Mutex
	say := func(format string, a ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(out, format+"\n", a...)
		_ = out.Flush()
	}
	say("ready")
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(spec.Interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			start := time.Now()
			blk, err := n.ProduceBlock(ctx)
			if err != nil {
				fmt.Fprintln(os.Stderr, "follow child: produce block:", err)
				continue
			}
			say("head %d %d %d", blk.ID.SeqNo, n.Chain.TxCount(), time.Since(start).Microseconds())
		}
	}()
	defer close(done)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) != 3 || f[0] != "deposit" {
			return fail(fmt.Errorf("bad command %q", in.Text()))
		}
		acct, err := hex.DecodeString(f[1])
		amount, ok := new(big.Int).SetString(f[2], 10)
		if err != nil || len(acct) != 32 || !ok {
			return fail(fmt.Errorf("bad deposit %q", in.Text()))
		}
		if err := n.Chain.BulkLoad([]chain.BulkTransfer{{To: address.NewAddress(0, 0, acct), Amount: amount}}); err != nil {
			return fail(err)
		}
	}
	return 0
}

// followChild is the parent's handle on the tonsim child.
type followChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex // guards stdin
	head  atomic.Uint32
	txs   atomic.Uint64
	// seen records when each head was announced (for follow latency).
	seenMu sync.Mutex
	seen   map[uint32]time.Time
	took   map[uint32]time.Duration // how long tonsim took to make each block
	exited chan struct{}
}

func startFollowChild(b *testing.B, spec followSpec) *followChild {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := json.Marshal(spec)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), followChildEnv+"="+string(raw))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	c := &followChild{cmd: cmd, stdin: stdin, seen: map[uint32]time.Time{}, took: map[uint32]time.Duration{}, exited: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		defer close(c.exited)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if line == "ready" {
				close(ready)
				continue
			}
			f := strings.Fields(line)
			if len(f) != 4 || f[0] != "head" {
				continue
			}
			seqno, _ := strconv.ParseUint(f[1], 10, 32)
			txs, _ := strconv.ParseUint(f[2], 10, 64)
			us, _ := strconv.ParseInt(f[3], 10, 64)
			now := time.Now()
			c.seenMu.Lock()
			c.seen[uint32(seqno)] = now
			c.took[uint32(seqno)] = time.Duration(us) * time.Microsecond
			c.seenMu.Unlock()
			c.txs.Store(txs)
			c.head.Store(uint32(seqno))
		}
		_ = cmd.Wait()
	}()
	b.Cleanup(func() {
		c.mu.Lock()
		_ = c.stdin.Close()
		c.mu.Unlock()
		select {
		case <-c.exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-c.exited
		}
	})
	select {
	case <-ready:
	case <-c.exited:
		b.Fatal("the tonsim child exited before it was ready")
	case <-time.After(5 * time.Minute):
		b.Fatal("the tonsim child did not get ready in 5 minutes")
	}
	return c
}

func (c *followChild) deposit(acct []byte, nano int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := fmt.Fprintf(c.stdin, "deposit %x %d\n", acct, nano)
	return err
}

func (c *followChild) seenAt(seqno uint32) (time.Time, bool) {
	c.seenMu.Lock()
	defer c.seenMu.Unlock()
	t, ok := c.seen[seqno]
	return t, ok
}

// cpuTime is this process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times (100 on every
// Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// procCPU is the user+system CPU time of process pid from /proc, and the
// process's name.
func procCPU(pid int) (time.Duration, string, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", err
	}
	s := string(raw)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return 0, "", fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[closing+1:])
	// After the name: state(3) ... utime(14) stime(15), 1-based over the line.
	if len(f) < 13 {
		return 0, "", fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, "", fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return time.Duration(ut+st) * clockTick, s[open+1 : closing], nil
}

// pgBackendsCPU sums the CPU time of the server processes serving db's
// database, when they are visible in this machine's /proc (ok=false
// otherwise: a remote or containerised server).
func pgBackendsCPU(ctx context.Context, db *pgxpool.Pool) (map[int]time.Duration, bool) {
	rows, err := db.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		return nil, false
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, false
	}
	out := map[int]time.Duration{}
	for _, pid := range pids {
		t, name, err := procCPU(int(pid))
		if err != nil || !strings.Contains(name, "postgres") {
			return nil, false
		}
		out[int(pid)] = t
	}
	return out, len(out) > 0
}

func runFollow(b *testing.B, p followParams) {
	b.StopTimer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfgPath := filepath.Join(b.TempDir(), "global.json")
	child := startFollowChild(b, followSpec{Shards: p.shards, Interval: p.interval, TPS: p.tps, ConfigPath: cfgPath})

	db := storetest.NewDB(b)
	accts := make([][]byte, p.watched)
	rows := make([][]any, p.watched)
	for i := range rows {
		accts[i] = benchAcct("follow", i).Data()
		rows[i] = []any{fmt.Sprint("u", i%1000), "TON", int64(i + 1), int32(0), accts[i]}
	}
	if _, err := db.CopyFrom(ctx, []string{"deposit_wallets"}, []string{"user_id", "currency", "subwallet_id", "workchain", "address"},
		pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	liteReg := prometheus.NewRegistry()
	client, err := ton.Connect(ctx, cfgPath, ton.Options{Registerer: liteReg})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	hot := sha256.Sum256([]byte("follow hot wallet"))
	s := blockscanner.New(db, blockscanner.TonChain{API: client.API()}, outboxEnqueue,
		blockscanner.Config{Network: config.Testnet, HotWallet: hot}, nil, quiet)
	if err := s.Init(ctx); err != nil {
		b.Fatal(err)
	}
	runCtx, stopScanner := context.WithCancel(ctx)
	scannerDone := make(chan struct{})
	go func() { _ = s.Run(runCtx); close(scannerDone) }()
	defer func() { stopScanner(); <-scannerDone }()

	// Deposits: depositsPerS a second, each with an amount of its own so
	// that every one can be found among the credits.
	type sent struct {
		acct string
		nano int64
	}
	var sentMu sync.Mutex
	var deposits []sent
	stopDeposits := make(chan struct{})
	depositsDone := make(chan struct{})
	stopSending := sync.OnceFunc(func() { close(stopDeposits); <-depositsDone })
	defer stopSending() // before the child's stdin closes (b.Cleanup)
	go func() {
		defer close(depositsDone)
		if p.depositsPerS == 0 {
			return
		}
		t := time.NewTicker(time.Second / time.Duration(p.depositsPerS))
		defer t.Stop()
		for k := 0; ; k++ {
			select {
			case <-stopDeposits:
				return
			case <-t.C:
			}
			acct := accts[(k*7919)%len(accts)]
			nano := int64(1_000_000_000 + k)
			if err := child.deposit(acct, nano); err != nil {
				b.Error(err)
				return
			}
			sentMu.Lock()
			deposits = append(deposits, sent{hex.EncodeToString(acct), nano})
			sentMu.Unlock()
		}
	}()

	// Warm up: the scanner reaches the head, then runs a while.
	deadline := time.Now().Add(2 * time.Minute)
	for blockscanner.CursorSeqno(s) == 0 || blockscanner.CursorSeqno(s) < child.head.Load() {
		if time.Now().After(deadline) {
			b.Fatalf("the scanner did not reach the head in 2 minutes (cursor %d, head %d)", blockscanner.CursorSeqno(s), child.head.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(p.warmup)

	// The measured window.
	pgStart, pgOK := pgBackendsCPU(ctx, db)
	childStart, _, childErr := procCPU(child.cmd.Process.Pid)
	headStart, txsStart := child.head.Load(), child.txs.Load()
	cpuStart, wallStart := cpuTime(), time.Now()
	b.StartTimer()
	var lags []int
	var follow []time.Duration
	type slow struct {
		seqno uint32
		took  time.Duration
	}
	var slowest []slow
	lastCursor := blockscanner.CursorSeqno(s)
	tick := time.NewTicker(50 * time.Millisecond)
	for now := range tick.C {
		head, cur := child.head.Load(), blockscanner.CursorSeqno(s)
		lag := 0
		if head > cur {
			lag = int(head - cur)
		}
		lags = append(lags, lag)
		for sq := lastCursor + 1; sq <= cur; sq++ {
			if at, ok := child.seenAt(sq); ok {
				follow = append(follow, now.Sub(at))
				slowest = append(slowest, slow{sq, now.Sub(at)})
			}
		}
		lastCursor = max(lastCursor, cur)
		if now.Sub(wallStart) >= p.duration {
			break
		}
	}
	tick.Stop()
	b.StopTimer()
	wall := time.Since(wallStart)
	cpu := cpuTime() - cpuStart
	headEnd, txsEnd := child.head.Load(), child.txs.Load()
	childEnd, _, childErr2 := procCPU(child.cmd.Process.Pid)
	pgEnd, pgOK2 := pgBackendsCPU(ctx, db)

	// Drain: no more deposits; two more blocks carry the last ones, and
	// the scanner passes them.
	stopSending()
	target := child.head.Load() + 2
	deadline = time.Now().Add(time.Minute + 5*p.interval)
	for blockscanner.CursorSeqno(s) < target {
		if time.Now().After(deadline) {
			b.Fatalf("the scanner did not reach block %d after the window (cursor %d, head %d)", target, blockscanner.CursorSeqno(s), child.head.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopScanner()
	<-scannerDone

	// Every deposit credited once, nothing else credited.
	got := map[sent]int{}
	crows, err := db.Query(ctx, `SELECT w.address, i.amount::text FROM incomes i JOIN deposit_wallets w ON w.id = i.deposit_wallet_id`)
	if err != nil {
		b.Fatal(err)
	}
	for crows.Next() {
		var acct []byte
		var amount string
		if err := crows.Scan(&acct, &amount); err != nil {
			b.Fatal(err)
		}
		nano, _ := strconv.ParseInt(amount, 10, 64)
		got[sent{hex.EncodeToString(acct), nano}]++
	}
	if err := crows.Err(); err != nil {
		b.Fatal(err)
	}
	missed := 0
	for _, d := range deposits {
		if got[d] != 1 {
			missed++
		}
		delete(got, d)
	}
	missed += len(got) // credits of nothing sent
	if missed > 0 || len(deposits) == 0 && p.depositsPerS > 0 {
		b.Errorf("%d of %d deposits not credited exactly once (or credits of nothing sent)", missed, len(deposits))
	}

	slices.Sort(lags)
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu%")
	if len(lags) > 0 {
		b.ReportMetric(float64(lags[len(lags)-1]), "lag-max-blocks")
		b.ReportMetric(float64(lags[len(lags)*99/100]), "lag-p99-blocks")
	}
	if len(follow) > 0 {
		slices.Sort(follow)
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		b.ReportMetric(ms(follow[len(follow)/2]), "follow-p50-ms")
		b.ReportMetric(ms(follow[len(follow)*99/100]), "follow-p99-ms")
		b.ReportMetric(ms(follow[len(follow)-1]), "follow-max-ms")
	}
	b.ReportMetric(float64(len(deposits)), "deposits")
	b.ReportMetric(float64(missed), "missed-deposits")
	if pgOK && pgOK2 {
		var pg time.Duration
		for pid, t := range pgEnd {
			pg += t - pgStart[pid] // a backend born in the window counts whole
		}
		b.ReportMetric(100*pg.Seconds()/wall.Seconds(), "pg-cpu%")
	} else {
		b.Log("PostgreSQL backends not visible in /proc: pg-cpu% not reported")
	}
	if childErr == nil && childErr2 == nil {
		b.ReportMetric(100*(childEnd-childStart).Seconds()/wall.Seconds(), "tonsim-cpu%")
	}
	b.ReportMetric(float64(txsEnd-txsStart)/wall.Seconds(), "chain-tx/s")
	b.ReportMetric(float64(headEnd-headStart), "mc-blocks")
	// How evenly tonsim made its blocks: a loaded machine delays a round
	// and the next one follows at once, which is lag the scanner did not
	// cause (follow-*-ms is the scanner's own part).
	minGap, maxGap, maxRound := time.Duration(1<<62), time.Duration(0), time.Duration(0)
	for sq := headStart + 1; sq <= headEnd; sq++ {
		a, okA := child.seenAt(sq - 1)
		z, okZ := child.seenAt(sq)
		if okA && okZ {
			minGap, maxGap = min(minGap, z.Sub(a)), max(maxGap, z.Sub(a))
		}
		child.seenMu.Lock()
		maxRound = max(maxRound, child.took[sq])
		child.seenMu.Unlock()
	}
	slices.SortFunc(slowest, func(x, y slow) int { return int(y.took - x.took) })
	var worst []string
	for _, w := range slowest[:min(5, len(slowest))] {
		worst = append(worst, fmt.Sprintf("%d:%v", w.seqno, w.took.Round(time.Millisecond)))
	}
	var liteRetries, liteErrors float64
	if mfs, err := liteReg.Gather(); err == nil {
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				switch mf.GetName() {
				case "processor_liteserver_retries_total":
					liteRetries += m.GetCounter().GetValue()
				case "processor_liteserver_errors_total":
					liteErrors += m.GetCounter().GetValue()
				}
			}
		}
	}
	b.Logf("slowest blocks to follow (seqno:latency) %s; liteserver errors %.0f, retries %.0f (whole run)", strings.Join(worst, " "), liteErrors, liteRetries)
	b.Logf("%d shards, %v blocks (announced %v..%v apart, tonsim's slowest round %v), %d tx/s traffic, %d deposits/s, %v window: scanner %.2f%% of one core, lag max %d p99 %d blocks",
		p.shards, p.interval, minGap.Round(time.Millisecond), maxGap.Round(time.Millisecond), maxRound.Round(time.Millisecond), p.tps, p.depositsPerS, wall.Round(time.Second),
		100*cpu.Seconds()/wall.Seconds(), lags[len(lags)-1], lags[len(lags)*99/100])
}

package blockscanner

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	tonutils "github.com/xssnick/tonutils-go/ton"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/ledger"
	"github.com/ton-custody/processor/internal/store"
	"github.com/ton-custody/processor/internal/tonaddr"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Event is what the scanner reports for every credited deposit, written to
// the outbox in the transaction that records the credit.
type Event struct {
	ID    string // stable: "deposit:<tx hash hex>"
	Topic string // "deposit"
	Data  DepositEvent
}

// DepositEvent is the webhook payload of a credited deposit.
type DepositEvent struct {
	UserID         string `json:"user_id"`
	Currency       string `json:"currency"`
	DepositAddress string `json:"deposit_address"`
	Amount         string `json:"amount"`
	SourceAddress  string `json:"source_address,omitempty"`
	Comment        string `json:"comment,omitempty"`
	BinaryComment  string `json:"binary_comment,omitempty"`
	TxHash         string `json:"tx_hash"`
	LT             string `json:"lt"`
	Time           int64  `json:"time"`
	MasterSeqno    uint32 `json:"mc_seqno"`
}

// Enqueuer writes events inside the caller's transaction (internal/notify);
// an event whose ID was enqueued before must be skipped, not duplicated.
type Enqueuer func(ctx context.Context, tx pgx.Tx, events []Event) error

// Observed is a transaction of an account a Hook watches (the hot wallet,
// its jetton wallets, withdrawal destinations), a deposit wallet's
// external-message transaction (KindDeposit: a sweep or service withdrawal
// it executed) or another deposit-side transaction of a sweep (see
// depositSideOfSweep), handed to the hook in the transaction that advances
// the cursor past it.
type Observed struct {
	Tx          *tlb.Transaction
	W           Watched
	InMsgHash   []byte       // hash of the inbound message cell (nil if none)
	OutMsgs     []*cell.Cell // emitted messages, in order
	MasterSeqno uint32
}

// Hook follows the hot wallet's side of the chain (internal/withdrawals).
type Hook interface {
	// Watch returns extra accounts to watch; called before each batch.
	Watch(ctx context.Context) (map[[32]byte]Watched, error)
	// Observe records what the batch's transactions mean, inside the
	// batch's database transaction; obs are in logical time order.
	Observe(ctx context.Context, tx pgx.Tx, obs []Observed) error
}

// Config configures a Scanner.
type Config struct {
	Network config.Network
	// StartBlock is the masterchain seqno to start from when the database
	// has no cursor; 0 means the current head.
	StartBlock uint32
	// BatchBlocks is how many masterchain blocks one database transaction
	// may cover while catching up (default 100); at the head it is one.
	BatchBlocks int
	// Parallel bounds concurrent block downloads (default 16).
	Parallel int
	// HotWallet is the hot wallet's account id (workchain 0).
	HotWallet [32]byte
	// Hook, when set, receives the hot wallet's transactions.
	Hook Hook
}

// Scanner follows the masterchain from a stored cursor and credits
// deposits exactly once. See Run.
type Scanner struct {
	db      *pgxpool.Pool
	chain   Chain
	index   *Index
	enqueue Enqueuer
	conf    Config
	log     *slog.Logger
	m       *metrics

	head atomic.Pointer[headInfo]
	// start is where scanning began while no cursor is stored (Run's
	// goroutine only).
	start uint32
	// crash, when set by tests, is called at named points of a batch; an
	// error there aborts the batch as a crash would.
	crash func(point string) error
}

type headInfo struct {
	seqno    uint32
	genUtime int64
}

// New creates a scanner. reg may be nil (no metrics).
func New(db *pgxpool.Pool, chain Chain, enqueue Enqueuer, conf Config, reg prometheus.Registerer, log *slog.Logger) *Scanner {
	if conf.BatchBlocks <= 0 {
		conf.BatchBlocks = 100
	}
	if conf.Parallel <= 0 {
		conf.Parallel = 16
	}
	if log == nil {
		log = slog.Default()
	}
	ix := NewIndex(db, conf.HotWallet)
	ix.hook = conf.Hook
	return &Scanner{db: db, chain: chain, index: ix, enqueue: enqueue, conf: conf, log: log, m: newMetrics(reg)}
}

// Index is the scanner's watched-account index.
func (s *Scanner) Index() *Index { return s.index }

// Head reports the newest masterchain block the scanner has seen; it backs
// the sync flag (ReadModelConfig.Head).
func (s *Scanner) Head(ctx context.Context) (uint32, int64, error) {
	h := s.head.Load()
	if h == nil {
		return 0, 0, errors.New("blockscanner: network head not known yet")
	}
	return h.seqno, h.genUtime, nil
}

// Init stores the starting cursor if the database has none: the current
// head (its transactions predate every address this processor has handed
// out), or the block before Config.StartBlock. Call it before the API
// hands out addresses, so no deposit can land between the first address
// and the scanner's first block, whichever instance scans.
func (s *Scanner) Init(ctx context.Context) error {
	cur, err := s.loadCursor(ctx)
	if err != nil || cur != nil {
		return err
	}
	var start uint32
	if s.conf.StartBlock > 0 {
		start = s.conf.StartBlock - 1
	} else {
		head, err := s.chain.Head(ctx)
		if err != nil {
			return fmt.Errorf("blockscanner: network head: %w", err)
		}
		start = head.SeqNo
	}
	m, err := fetchMaster(ctx, s.chain, start)
	if err != nil {
		return fmt.Errorf("blockscanner: starting block: %w", err)
	}
	return store.InTx(ctx, s.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO scanner_cursor (singleton, mc_seqno, root_hash, file_hash, gen_utime)
			VALUES (true, $1, $2, $3, $4) ON CONFLICT (singleton) DO NOTHING`,
			int64(m.id.SeqNo), m.id.RootHash, m.id.FileHash, int64(m.genUtime))
		if err != nil || tag.RowsAffected() == 0 {
			return err // another instance initialised it first
		}
		if err := insertShardTops(ctx, tx, m.tops); err != nil {
			return err
		}
		s.log.Info("scanner starts after masterchain block", "seqno", m.id.SeqNo)
		return nil
	})
}

// cursor is the last fully processed masterchain block and its shard tops.
type cursor struct {
	seqno    uint32
	rootHash []byte
	tops     []*tonutils.BlockIDExt
}

// Run scans until ctx ends. Errors (liteserver down, database restarting)
// are logged, counted and retried with backoff; Run returns only ctx's error.
func (s *Scanner) Run(ctx context.Context) error {
	backoff := time.Second
	for ctx.Err() == nil {
		if err := s.step(ctx); err != nil {
			if ctx.Err() != nil {
				break
			}
			s.m.errors.Inc()
			s.log.Warn("scanner step failed; retrying", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			if backoff *= 2; backoff > 30*time.Second {
				backoff = 30 * time.Second
			}
			continue
		}
		backoff = time.Second
	}
	return ctx.Err()
}

func (s *Scanner) loadCursor(ctx context.Context) (*cursor, error) {
	var c cursor
	var seqno int64
	err := s.db.QueryRow(ctx, `SELECT mc_seqno, root_hash FROM scanner_cursor`).Scan(&seqno, &c.rootHash)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("blockscanner: read cursor: %w", err)
	}
	c.seqno = uint32(seqno)
	rows, err := s.db.Query(ctx, `SELECT workchain, shard, seqno, root_hash, file_hash FROM scanner_shard_tops ORDER BY shard`)
	if err != nil {
		return nil, fmt.Errorf("blockscanner: read shard tops: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id tonutils.BlockIDExt
		var sq int64
		if err := rows.Scan(&id.Workchain, &id.Shard, &sq, &id.RootHash, &id.FileHash); err != nil {
			return nil, fmt.Errorf("blockscanner: read shard tops: %w", err)
		}
		id.SeqNo = uint32(sq)
		c.tops = append(c.tops, &id)
	}
	return &c, rows.Err()
}

// step processes one batch of masterchain blocks (or waits for the next).
func (s *Scanner) step(ctx context.Context) error {
	cur, err := s.loadCursor(ctx)
	if err != nil {
		return err
	}
	head, err := s.chain.Head(ctx)
	if err != nil {
		return fmt.Errorf("network head: %w", err)
	}
	var first uint32
	if cur == nil {
		// The first batch starts at the head (or StartBlock) of the first
		// try and stays there until it commits: a retry that took the
		// head of its own time would skip the blocks in between, and the
		// deposits in them (until 2026-12-07 it did; the processor
		// calls Init first, which stores a cursor, so only a Run
		// without Init was exposed).
		if s.start == 0 {
			s.start = head.SeqNo
			if s.conf.StartBlock != 0 {
				s.start = s.conf.StartBlock
			}
		}
		first = s.start
	} else {
		if head.SeqNo <= cur.seqno {
			if h := s.head.Load(); h == nil || h.seqno < head.SeqNo {
				s.noteHead(ctx, head.SeqNo)
			}
			// Caught up: wait for the next block (answered the moment it exists).
			if _, err := s.chain.WaitHead(ctx, cur.seqno, 10*time.Second); err != nil {
				return fmt.Errorf("wait for block %d: %w", cur.seqno+1, err)
			}
			return nil
		}
		first = cur.seqno + 1
	}
	last := head.SeqNo
	if last >= first+uint32(s.conf.BatchBlocks) {
		last = first + uint32(s.conf.BatchBlocks) - 1
	}
	return s.processBatch(ctx, cur, first, last, head.SeqNo)
}

// noteHead records the head and its generation time for the sync flag.
func (s *Scanner) noteHead(ctx context.Context, seqno uint32) {
	m, err := fetchMaster(ctx, s.chain, seqno)
	if err != nil {
		return
	}
	s.setHead(seqno, int64(m.genUtime))
}

func (s *Scanner) setHead(seqno uint32, utime int64) {
	for {
		old := s.head.Load()
		if old != nil && old.seqno >= seqno {
			return
		}
		if s.head.CompareAndSwap(old, &headInfo{seqno: seqno, genUtime: utime}) {
			s.m.headSeqno.Set(float64(seqno))
			return
		}
	}
}

// blockResult is everything one masterchain block contributes.
type blockResult struct {
	master   *masterInfo
	credits  []*Credit
	observed []Observed
	scanned  int
	fakes    int // fake jetton notifications, counted once the batch commits
}

func (s *Scanner) processBatch(ctx context.Context, cur *cursor, first, last, head uint32) error {
	started := time.Now()
	n := int(last - first + 1)
	masters := make([]*masterInfo, n)
	sem := make(chan struct{}, s.conf.Parallel)
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	fail := func(err error) { firstErr.CompareAndSwap(nil, &err) }
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			m, err := fetchMaster(ctx, s.chain, first+uint32(i))
			if err != nil {
				fail(err)
				return
			}
			masters[i] = m
		}()
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return *p
	}
	if err := s.checkCrash("fetched-masters"); err != nil {
		return err
	}
	if err := checkLinked(cur, masters); err != nil {
		s.m.unlinked.Inc()
		return err
	}
	if last == head {
		s.setHead(head, int64(masters[n-1].genUtime))
	} else {
		s.noteHead(ctx, head)
	}
	// New addresses must be watched before the blocks are classified.
	if err := s.index.Refresh(ctx); err != nil {
		return err
	}
	results := make([]blockResult, n)
	for i := 0; i < n; i++ {
		var prev []*tonutils.BlockIDExt
		switch {
		case i > 0:
			prev = masters[i-1].tops
		case cur != nil:
			prev = cur.tops
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r, err := s.scanMaster(ctx, masters[i], prev)
			if err != nil {
				fail(err)
				return
			}
			results[i] = r
		}()
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return *p
	}
	if err := s.checkCrash("classified"); err != nil {
		return err
	}
	credited, err := s.commit(ctx, cur, results)
	if err != nil {
		return err
	}
	if err := s.checkCrash("committed"); err != nil {
		return err
	}
	lastM := masters[n-1]
	s.m.lastSeqno.Set(float64(last))
	s.m.lastUtime.Set(float64(lastM.genUtime))
	s.m.lag.Set(time.Since(time.Unix(int64(lastM.genUtime), 0)).Seconds())
	s.m.blocks.Add(float64(n))
	scanned, fakes := 0, 0
	for _, r := range results {
		scanned += r.scanned
		fakes += r.fakes
	}
	s.m.txs.Add(float64(scanned))
	s.m.fakes.Add(float64(fakes))
	if n > 1 || credited > 0 {
		s.log.Info("scanned", "from", first, "to", last, "head", head, "deposits", credited, "took", time.Since(started).Round(time.Millisecond))
	}
	return nil
}

// errUnlinked says a masterchain block does not name the one before it as
// its previous block: a liteserver answered with a block of another chain
// (or a forged one). Nothing of it is committed; the scanner retries.
var errUnlinked = errors.New("blockscanner: masterchain block does not follow the previous one (prev_ref mismatch): a liteserver served a block of another chain")

// checkLinked checks that each masterchain block's prev_ref is the root
// hash of the block before it, the first one against the stored cursor.
// Batch expiry and every credit rest on these blocks, and with Fast
// proofs the liteserver is otherwise trusted completely.
func checkLinked(cur *cursor, masters []*masterInfo) error {
	for i, m := range masters {
		var want []byte
		switch {
		case i > 0:
			want = masters[i-1].id.RootHash
		case cur != nil:
			want = cur.rootHash
		default:
			continue
		}
		if !bytes.Equal(m.prevRoot, want) {
			return fmt.Errorf("%w: block %d names prev %x, expected %x", errUnlinked, m.id.SeqNo, m.prevRoot, want)
		}
	}
	return nil
}

func (s *Scanner) checkCrash(point string) error {
	if s.crash == nil {
		return nil
	}
	return s.crash(point)
}

// scanMaster finds the deposits of one masterchain block's new shard blocks.
func (s *Scanner) scanMaster(ctx context.Context, m *masterInfo, prev []*tonutils.BlockIDExt) (blockResult, error) {
	r := blockResult{master: m}
	blocks, err := newShardBlocks(ctx, s.chain, prev, m.tops)
	if err != nil {
		return r, fmt.Errorf("masterchain block %d: %w", m.id.SeqNo, err)
	}
	for _, b := range blocks {
		matched, total, err := watchedTxs(b.blk, s.index)
		if err != nil {
			return r, fmt.Errorf("shard block %x:%d: %w", uint64(b.id.Shard), b.id.SeqNo, err)
		}
		r.scanned += total
		for _, mt := range matched {
			switch mt.w.Kind {
			case KindHot, KindHotJetton, KindDestination:
				r.observed = append(r.observed, Observed{Tx: mt.tx, W: mt.w, InMsgHash: mt.inHash, OutMsgs: mt.outs, MasterSeqno: m.id.SeqNo})
				continue
			}
			if depositExternal(mt.w, mt.tx) || depositSideOfSweep(mt.w, mt.tx, s.conf.HotWallet) {
				// A deposit wallet executing our signed message (sweep,
				// service withdrawal), receiving gas from the hot wallet,
				// or its jetton wallet executing its transfer: the
				// hook's, never a credit.
				r.observed = append(r.observed, Observed{Tx: mt.tx, W: mt.w, InMsgHash: mt.inHash, OutMsgs: mt.outs, MasterSeqno: m.id.SeqNo})
				continue
			}
			c, verdict := Classify(mt.tx, mt.w, s.conf.HotWallet)
			if c != nil && creditedBefore(mt.w, mt.tx) {
				// The previous processor credited it (an imported deposit).
				s.log.Debug("deposit credited before the takeover skipped", "tx", hex.EncodeToString(mt.tx.Hash), "deposit_id", mt.w.DepositID)
				continue
			}
			if c != nil && fromPreviousHot(mt.w, mt.tx) {
				s.log.Info("transfer from the previous processor's hot wallet to an imported deposit is its gas, not a deposit",
					"tx", hex.EncodeToString(mt.tx.Hash), "deposit_id", mt.w.DepositID, "amount", c.Amount.String())
				continue
			}
			if c != nil {
				c.Fee = ledger.TxFees(mt.tx)
				r.credits = append(r.credits, c)
				continue
			}
			if verdict == VerdictFakeJetton {
				r.fakes++
				s.log.Warn("fake jetton notification ignored", "tx", hex.EncodeToString(mt.tx.Hash), "deposit_id", mt.w.DepositID)
			}
		}
	}
	// Deterministic order: the same block always writes its rows alike.
	sort.Slice(r.credits, func(i, j int) bool { return r.credits[i].LT < r.credits[j].LT })
	return r, nil
}

// commit writes every credit of the batch, its events and the new cursor in
// one transaction; the cursor update is conditional on the old one, so two
// scanners racing on one database cannot both advance it.
func (s *Scanner) commit(ctx context.Context, cur *cursor, results []blockResult) (int, error) {
	credited := 0
	byCurrency := map[string]int{}
	err := store.InTx(ctx, s.db, func(tx pgx.Tx) error {
		credited = 0
		clear(byCurrency)
		// The batch's ledger postings (credits, and the hook's for every
		// settled withdrawal) are written together before the cursor.
		lctx, postings := ledger.Defer(ctx)
		inserted, err := s.insertCredits(lctx, tx, results)
		if err != nil {
			return err
		}
		if s.conf.Hook != nil {
			var obs []Observed
			for _, r := range results {
				obs = append(obs, r.observed...)
			}
			sort.SliceStable(obs, func(i, j int) bool { return obs[i].Tx.LT < obs[j].Tx.LT })
			if len(obs) > 0 {
				if err := s.conf.Hook.Observe(lctx, tx, obs); err != nil {
					return fmt.Errorf("hot wallet transactions: %w", err)
				}
			}
		}
		if err := postings.Flush(ctx, tx); err != nil {
			return err
		}
		for _, c := range inserted {
			credited++
			byCurrency[c.Currency]++
		}
		if err := s.checkCrash("before-cursor"); err != nil {
			return err
		}
		lastM := results[len(results)-1].master
		var tag pgconn.CommandTag
		if cur == nil {
			tag, err = tx.Exec(ctx, `INSERT INTO scanner_cursor (singleton, mc_seqno, root_hash, file_hash, gen_utime)
				VALUES (true, $1, $2, $3, $4) ON CONFLICT (singleton) DO NOTHING`,
				int64(lastM.id.SeqNo), lastM.id.RootHash, lastM.id.FileHash, int64(lastM.genUtime))
		} else {
			tag, err = tx.Exec(ctx, `UPDATE scanner_cursor SET mc_seqno = $1, root_hash = $2, file_hash = $3, gen_utime = $4, updated_at = now()
				WHERE mc_seqno = $5 AND root_hash = $6`,
				int64(lastM.id.SeqNo), lastM.id.RootHash, lastM.id.FileHash, int64(lastM.genUtime), int64(cur.seqno), cur.rootHash)
		}
		if err != nil {
			return fmt.Errorf("advance cursor: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return errors.New("blockscanner: the cursor moved under this scanner (another scanner on the same database?)")
		}
		if _, err := tx.Exec(ctx, `DELETE FROM scanner_shard_tops`); err != nil {
			return fmt.Errorf("replace shard tops: %w", err)
		}
		if err := insertShardTops(ctx, tx, lastM.tops); err != nil {
			return fmt.Errorf("replace shard tops: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for cur, k := range byCurrency {
		s.m.deposits.WithLabelValues(cur).Add(float64(k))
	}
	return credited, nil
}

// insertShardTops stores a masterchain block's shard tops in one
// statement (16 rows on mainnet, every block).
func insertShardTops(ctx context.Context, tx pgx.Tx, tops []*tonutils.BlockIDExt) error {
	if len(tops) == 0 {
		return nil
	}
	wcs, shards, seqnos := make([]int32, len(tops)), make([]int64, len(tops)), make([]int64, len(tops))
	roots, files := make([][]byte, len(tops)), make([][]byte, len(tops))
	for i, t := range tops {
		wcs[i], shards[i], seqnos[i], roots[i], files[i] = t.Workchain, t.Shard, int64(t.SeqNo), t.RootHash, t.FileHash
	}
	_, err := tx.Exec(ctx, `INSERT INTO scanner_shard_tops (workchain, shard, seqno, root_hash, file_hash)
		SELECT * FROM unnest($1::int[], $2::bigint[], $3::bigint[], $4::bytea[], $5::bytea[])`, wcs, shards, seqnos, roots, files)
	return err
}

// insertCredits records a batch's deposits in one statement and enqueues
// an event for each newly recorded one; deposits recorded before (a batch
// redone after a crash) are skipped by the tx_hash key.
func (s *Scanner) insertCredits(ctx context.Context, tx pgx.Tx, results []blockResult) ([]*Credit, error) {
	var all []*Credit
	var seqnos []int64
	for _, r := range results {
		for _, c := range r.credits {
			all = append(all, c)
			seqnos = append(seqnos, int64(r.master.id.SeqNo))
		}
	}
	if len(all) == 0 {
		return nil, nil
	}
	n := len(all)
	depIDs, lts, utimes := make([]int64, n), make([]int64, n), make([]int64, n)
	users, currencies, amounts := make([]string, n), make([]string, n), make([]string, n)
	srcWCs := make([]*int32, n)
	srcAddrs, binaries, hashes := make([][]byte, n), make([][]byte, n), make([][]byte, n)
	comments := make([]*string, n)
	for i, c := range all {
		depIDs[i], users[i], currencies[i], amounts[i] = c.DepositID, c.UserID, c.Currency, c.Amount.String()
		if c.Source != nil {
			wc := c.Source.Workchain()
			srcWCs[i], srcAddrs[i] = &wc, c.Source.Data()
		}
		comments[i], binaries[i], hashes[i] = c.Comment, c.BinaryComment, c.TxHash
		lts[i], utimes[i] = int64(c.LT), int64(c.Utime)
	}
	rows, err := tx.Query(ctx, `
		INSERT INTO incomes (deposit_wallet_id, user_id, currency, amount, source_workchain, source_address, comment, binary_comment, tx_hash, tx_lt, utime, mc_seqno)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::numeric[], $5::int[], $6::bytea[], $7::text[], $8::bytea[], $9::bytea[], $10::bigint[], $11::bigint[], $12::bigint[])
		ON CONFLICT (tx_hash) DO NOTHING RETURNING tx_hash`,
		depIDs, users, currencies, amounts, srcWCs, srcAddrs, comments, binaries, hashes, lts, utimes, seqnos)
	if err != nil {
		return nil, fmt.Errorf("record deposits: %w", err)
	}
	fresh := map[string]bool{}
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			rows.Close()
			return nil, fmt.Errorf("record deposits: %w", err)
		}
		fresh[string(h)] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("record deposits: %w", err)
	}
	var out []*Credit
	var events []Event
	var postings []*ledger.Posting
	for i, c := range all {
		if !fresh[string(c.TxHash)] {
			continue
		}
		out = append(out, c)
		events = append(events, s.event(c, uint32(seqnos[i])))
		postings = append(postings, creditPostings(c, uint32(seqnos[i]))...)
	}
	if err := ledger.PostAll(ctx, tx, postings...); err != nil {
		return nil, err
	}
	if s.enqueue != nil && len(events) > 0 {
		if err := s.enqueue(ctx, tx, events); err != nil {
			return nil, fmt.Errorf("enqueue deposit events: %w", err)
		}
	}
	return out, nil
}

// event is the webhook event of a credited deposit.
func (s *Scanner) event(c *Credit, mcSeqno uint32) Event {
	ev := DepositEvent{UserID: c.UserID, Currency: c.Currency, Amount: c.Amount.String(), TxHash: hex.EncodeToString(c.TxHash),
		LT: fmt.Sprint(c.LT), Time: int64(c.Utime), MasterSeqno: mcSeqno,
		DepositAddress: tonaddr.Format(address.NewAddress(0, 0, c.Owner[:]), s.conf.Network, false)}
	if c.Source != nil {
		ev.SourceAddress = tonaddr.Format(c.Source, s.conf.Network, false)
	}
	if c.Comment != nil {
		ev.Comment = *c.Comment
	}
	if c.BinaryComment != nil {
		ev.BinaryComment = hex.EncodeToString(c.BinaryComment)
	}
	return Event{ID: "deposit:" + ev.TxHash, Topic: "deposit", Data: ev}
}

// creditPostings are the ledger postings of a credited deposit: the
// deposit's account is debited and the user's liability credited with the
// amount; a TON deposit also pays its transaction's fees (the user is
// credited the full amount, the fee is the operator's).
func creditPostings(c *Credit, mcSeqno uint32) []*ledger.Posting {
	acct := ledger.DepositRaw(0, c.Owner[:])
	p := &ledger.Posting{Ref: "deposit:" + ledger.TxRef(c.TxHash), Kind: "deposit", TxHash: c.TxHash, TxLT: c.LT, Utime: c.Utime,
		MasterSeqno: mcSeqno, Lines: ledger.Move(c.Currency, c.Amount, ledger.User(c.UserID), acct)}
	out := []*ledger.Posting{p}
	if c.Currency == "TON" && c.Fee != nil && c.Fee.Sign() > 0 {
		out = append(out, &ledger.Posting{Ref: "fee:" + ledger.TxRef(c.TxHash), Kind: "network_fee", TxHash: c.TxHash, TxLT: c.LT,
			Utime: c.Utime, MasterSeqno: mcSeqno, Lines: ledger.Move("TON", c.Fee, acct, ledger.Fees)})
	}
	return out
}

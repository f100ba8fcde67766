package ledger

import (
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ExportFilter selects the entries of an export: created in [From, To),
// of Currency when not empty.
type ExportFilter struct {
	From, To time.Time
	Currency string
	// PageSize is how many entries one query reads (default 5000).
	PageSize int
}

// Entry is one exported ledger entry with its posting's event and chain
// reference. Debit and Credit are decimal strings; one of them is "0".
type Entry struct {
	ID          int64     `json:"id"`
	CreatedAt   time.Time `json:"created_at"`
	PostingID   int64     `json:"posting_id"`
	Ref         string    `json:"ref"`
	Kind        string    `json:"kind"`
	Account     string    `json:"account"`
	Currency    string    `json:"currency"`
	Debit       string    `json:"debit"`
	Credit      string    `json:"credit"`
	TxHash      string    `json:"tx_hash,omitempty"`
	TxLT        string    `json:"lt,omitempty"`
	MasterSeqno *int64    `json:"mc_seqno,omitempty"`
	Utime       *int64    `json:"time,omitempty"`
}

// ExportColumns is the CSV header.
var ExportColumns = []string{"id", "created_at", "posting_id", "ref", "kind", "account", "currency", "debit", "credit", "tx_hash", "lt", "mc_seqno", "time"}

// Export reads the entries f selects in (created_at, id) order, page by
// page with a keyset (never OFFSET, never the whole result in memory), and
// hands each to emit. It returns the number of entries.
func Export(ctx context.Context, q Querier, f ExportFilter, emit func(*Entry) error) (int, error) {
	size := f.PageSize
	if size <= 0 {
		size = 5000
	}
	const cols = `SELECT e.id, e.created_at, e.posting_id, p.ref, p.kind, e.account, e.currency, e.amount::text,
		p.tx_hash, p.tx_lt, p.mc_seqno, p.utime FROM ledger_entries e JOIN ledger_postings p ON p.id = e.posting_id `
	var sql string
	if f.Currency != "" {
		sql = cols + `WHERE e.currency = $5 AND e.created_at >= $1 AND e.created_at < $2 AND (e.created_at, e.id) > ($3, $4)
			ORDER BY e.currency, e.created_at, e.id LIMIT $6`
	} else {
		sql = cols + `WHERE e.created_at >= $1 AND e.created_at < $2 AND (e.created_at, e.id) > ($3, $4) AND $5 = ''
			ORDER BY e.created_at, e.id LIMIT $6`
	}
	lastAt, lastID := f.From.Add(-time.Microsecond), int64(0)
	n := 0
	e := &Entry{}
	for {
		rows, err := q.Query(ctx, sql, f.From, f.To, lastAt, lastID, f.Currency, size)
		if err != nil {
			return n, fmt.Errorf("ledger: export: %w", err)
		}
		got := 0
		for rows.Next() {
			var amount string
			var hash []byte
			var lt *int64
			*e = Entry{}
			if err := rows.Scan(&e.ID, &e.CreatedAt, &e.PostingID, &e.Ref, &e.Kind, &e.Account, &e.Currency, &amount,
				&hash, &lt, &e.MasterSeqno, &e.Utime); err != nil {
				rows.Close()
				return n, fmt.Errorf("ledger: export: %w", err)
			}
			if strings.HasPrefix(amount, "-") {
				e.Debit, e.Credit = "0", amount[1:]
			} else {
				e.Debit, e.Credit = amount, "0"
			}
			if hash != nil {
				e.TxHash = hex.EncodeToString(hash)
			}
			if lt != nil {
				e.TxLT = strconv.FormatInt(*lt, 10)
			}
			lastAt, lastID = e.CreatedAt, e.ID
			if err := emit(e); err != nil {
				rows.Close()
				return n, err
			}
			got++
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return n, fmt.Errorf("ledger: export: %w", err)
		}
		if got < size {
			return n, nil
		}
	}
}

// EntryWriter writes exported entries in one format.
type EntryWriter interface {
	Write(*Entry) error
	// Close ends the document (a JSON array's "]") and flushes.
	Close() error
}

// flusher is what http.ResponseWriter offers to push data out early.
type flusher interface{ Flush() }

// NewCSVWriter writes entries as CSV with a header row (ExportColumns),
// flushing every 1000 rows when w can be flushed.
func NewCSVWriter(w io.Writer) EntryWriter {
	c := &csvWriter{w: csv.NewWriter(w), out: w}
	return c
}

type csvWriter struct {
	w      *csv.Writer
	out    io.Writer
	n      int
	header bool
	rec    []string
}

func (c *csvWriter) start() error {
	if c.header {
		return nil
	}
	c.header = true
	c.rec = make([]string, len(ExportColumns))
	return c.w.Write(ExportColumns)
}

func (c *csvWriter) Write(e *Entry) error {
	if err := c.start(); err != nil {
		return err
	}
	opt := func(p *int64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatInt(*p, 10)
	}
	r := c.rec
	r[0], r[1], r[2], r[3], r[4] = strconv.FormatInt(e.ID, 10), e.CreatedAt.UTC().Format(time.RFC3339Nano), strconv.FormatInt(e.PostingID, 10), e.Ref, e.Kind
	r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12] = e.Account, e.Currency, e.Debit, e.Credit, e.TxHash, e.TxLT, opt(e.MasterSeqno), opt(e.Utime)
	if err := c.w.Write(r); err != nil {
		return err
	}
	if c.n++; c.n%1000 == 0 {
		return c.flush()
	}
	return nil
}

func (c *csvWriter) flush() error {
	c.w.Flush()
	if f, ok := c.out.(flusher); ok {
		f.Flush()
	}
	return c.w.Error()
}

func (c *csvWriter) Close() error {
	if err := c.start(); err != nil {
		return err
	}
	return c.flush()
}

// NewJSONWriter writes entries as one JSON array, an object per entry,
// flushing every 1000 entries when w can be flushed.
func NewJSONWriter(w io.Writer) EntryWriter { return &jsonWriter{out: w, enc: json.NewEncoder(w)} }

type jsonWriter struct {
	out io.Writer
	enc *json.Encoder
	n   int
}

func (j *jsonWriter) Write(e *Entry) error {
	sep := ","
	if j.n == 0 {
		sep = "["
	}
	if _, err := io.WriteString(j.out, sep); err != nil {
		return err
	}
	if err := j.enc.Encode(e); err != nil {
		return err
	}
	if j.n++; j.n%1000 == 0 {
		if f, ok := j.out.(flusher); ok {
			f.Flush()
		}
	}
	return nil
}

func (j *jsonWriter) Close() error {
	end := "]\n"
	if j.n == 0 {
		end = "[]\n"
	}
	_, err := io.WriteString(j.out, end)
	if f, ok := j.out.(flusher); ok {
		f.Flush()
	}
	return err
}

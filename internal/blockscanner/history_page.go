package blockscanner

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ton-custody/processor/internal/apierr"
)

// HistoryKey is the position of an income in History's order (its
// transaction time, then the order it was recorded in).
type HistoryKey struct {
	Utime int64
	ID    int64
}

// HistoryPage returns up to limit (1..MaxHistoryLimit) incomes of userID
// in currency, in History's order, and the key of the last one (nil when
// the page is empty). The first page (after nil) skips offset incomes; a
// later one starts after the key the previous page returned, with offset
// 0. Paging by key keeps every page one range read of incomes_user_history_idx
// however deep it is, and incomes recorded meanwhile neither repeat nor
// shift later pages, so a long history can be read page by page.
func (m *ReadModel) HistoryPage(ctx context.Context, userID, currency string, after *HistoryKey, offset int64, limit int, asc bool) ([]Income, *HistoryKey, error) {
	if limit < 1 || limit > MaxHistoryLimit {
		return nil, nil, apierr.BadRequest("limit must be between 1 and %d, got %d", MaxHistoryLimit, limit)
	}
	if offset < 0 || (after != nil && offset != 0) {
		return nil, nil, apierr.BadRequest("offset must be 0 after a key and never negative, got %d", offset)
	}
	var (
		rows pgx.Rows
		err  error
	)
	switch {
	case after == nil && asc:
		rows, err = m.db.Query(ctx, historyPageAscSQL, userID, currency, limit, offset)
	case after == nil:
		rows, err = m.db.Query(ctx, historyPageDescSQL, userID, currency, limit, offset)
	case asc:
		rows, err = m.db.Query(ctx, historyPageAscAfterSQL, userID, currency, limit, after.Utime, after.ID)
	default:
		rows, err = m.db.Query(ctx, historyPageDescAfterSQL, userID, currency, limit, after.Utime, after.ID)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("blockscanner: query history page: %w", err)
	}
	defer rows.Close()
	out := []Income{}
	var key *HistoryKey
	for rows.Next() {
		var id int64
		in, err := m.scanIncome(withID{rows, &id})
		if err != nil {
			return nil, nil, fmt.Errorf("blockscanner: scan history page: %w", err)
		}
		out = append(out, in)
		key = &HistoryKey{Utime: in.Time, ID: id}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("blockscanner: read history page: %w", err)
	}
	return out, key, nil
}

// withID scans the income columns followed by i.id.
type withID struct {
	pgx.Rows
	id *int64
}

func (r withID) Scan(dest ...any) error { return r.Rows.Scan(append(dest, r.id)...) }

const (
	historyPageDescSQL = `SELECT ` + incomeColumns + `, i.id` + historyFrom + `
ORDER BY i.utime DESC, i.id DESC
LIMIT $3 OFFSET $4`
	historyPageAscSQL = `SELECT ` + incomeColumns + `, i.id` + historyFrom + `
ORDER BY i.utime ASC, i.id ASC
LIMIT $3 OFFSET $4`
	historyPageDescAfterSQL = `SELECT ` + incomeColumns + `, i.id` + historyFrom + `
  AND (i.utime, i.id) < ($4, $5)
ORDER BY i.utime DESC, i.id DESC
LIMIT $3`
	historyPageAscAfterSQL = `SELECT ` + incomeColumns + `, i.id` + historyFrom + `
  AND (i.utime, i.id) > ($4, $5)
ORDER BY i.utime ASC, i.id ASC
LIMIT $3`
)

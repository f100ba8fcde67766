package withdrawals

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	tonutils "github.com/xssnick/tonutils-go/ton"
)

// rowQuerier is what pinned reads the cursor with: the pool, or a
// transaction when the cursor must be read after that transaction's reads.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// pinned returns a masterchain block at or after the scanner's cursor as q
// sees it now. Chain state read there already reflects everything the
// scanner has confirmed: confirmed batches stop being reserved, confirmed
// deposit wallet messages stop being waited for, so a balance or seqno
// from an older block (a lagging liteserver's head) would count their
// effects as not yet happened.
func (w *Worker) pinned(ctx context.Context, q rowQuerier) (*tonutils.BlockIDExt, error) {
	cursor, err := w.cursor(ctx, q)
	if err != nil {
		return nil, err
	}
	b, err := w.chain.PinnedAt(ctx, cursor)
	if err != nil {
		return nil, fmt.Errorf("pin a block at or after the scanner's cursor %d: %w", cursor, err)
	}
	return b, nil
}

// cursor is the scanner's masterchain cursor as q sees it now; 0 when the
// scanner has confirmed nothing yet (any block will do).
func (w *Worker) cursor(ctx context.Context, q rowQuerier) (uint32, error) {
	var cursor int64
	err := q.QueryRow(ctx, `SELECT mc_seqno FROM scanner_cursor`).Scan(&cursor)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("read the scanner's cursor: %w", err)
	}
	return uint32(cursor), nil
}

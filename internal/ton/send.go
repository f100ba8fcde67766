package ton

import (
	"context"
	"fmt"

	"github.com/xssnick/tonutils-go/tl"
	"github.com/xssnick/tonutils-go/tlb"
	tonutils "github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/ton-custody/processor/internal/boc"
)

// SendExternalBOC submits a serialised external message exactly as given.
// The withdrawal worker stores a batch's signed message before the first
// send and re-sends those same bytes until the batch settles; this is the
// call for that. A nil error means a liteserver accepted the message into
// its queue, not that it executed: the scanner confirms execution.
func (c *Client) SendExternalBOC(ctx context.Context, msg []byte) error {
	if _, err := boc.Parse(msg); err != nil {
		return fmt.Errorf("ton: send external message: not a valid BoC: %w", err)
	}
	var resp tl.Serializable
	if err := c.lite.QueryLiteserver(ctx, tonutils.SendMessage{Body: msg}, &resp); err != nil {
		return fmt.Errorf("ton: send external message: %w", err)
	}
	switch t := resp.(type) {
	case tonutils.SendMessageStatus:
		if t.Status != 1 {
			return fmt.Errorf("ton: send external message: liteserver status %d", t.Status)
		}
		return nil
	case tonutils.LSError:
		return fmt.Errorf("ton: send external message: %w", t)
	default:
		return fmt.Errorf("ton: send external message: unexpected liteserver answer %T", resp)
	}
}

// SendExternal serialises an external message cell (a tlb.ExternalMessage
// after tlb.ToCell) and submits it; see SendExternalBOC.
func (c *Client) SendExternal(ctx context.Context, msg *cell.Cell) error {
	return c.SendExternalBOC(ctx, msg.ToBOCWithFlags(false))
}

// SendExternalMessage serialises msg and submits it; see SendExternalBOC.
func (c *Client) SendExternalMessage(ctx context.Context, msg *tlb.ExternalMessage) error {
	root, err := tlb.ToCell(msg)
	if err != nil {
		return fmt.Errorf("ton: serialise external message: %w", err)
	}
	return c.SendExternal(ctx, root)
}

package blockscanner

import (
	"errors"
	"testing"

	tonutils "github.com/xssnick/tonutils-go/ton"
)

// A masterchain block is accepted only when it names, as its prev_ref,
// the block before it (the stored cursor for the first of a batch): a
// liteserver that serves another chain's block, or a forged one (a later
// gen_utime would expire live batches), is refused.
func TestMasterchainBlocksMustChainFromTheCursor(t *testing.T) {
	t.Parallel()
	h := func(b byte) []byte { return append(make([]byte, 31), b) }
	m := func(seqno uint32, root, prev byte) *masterInfo {
		return &masterInfo{id: &tonutils.BlockIDExt{Workchain: -1, SeqNo: seqno, RootHash: h(root)}, prevRoot: h(prev)}
	}
	cur := &cursor{seqno: 10, rootHash: h(10)}
	tests := []struct {
		name    string
		cur     *cursor
		masters []*masterInfo
		ok      bool
	}{
		{"linked", cur, []*masterInfo{m(11, 11, 10), m(12, 12, 11)}, true},
		{"first block does not follow the cursor", cur, []*masterInfo{m(11, 11, 99), m(12, 12, 11)}, false},
		{"second block does not follow the first", cur, []*masterInfo{m(11, 11, 10), m(12, 12, 98)}, false},
		{"no cursor yet: the first block is the start", nil, []*masterInfo{m(11, 11, 77), m(12, 12, 11)}, true},
	}
	for _, tt := range tests {
		err := checkLinked(tt.cur, tt.masters)
		if tt.ok != (err == nil) || (err != nil && !errors.Is(err, errUnlinked)) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

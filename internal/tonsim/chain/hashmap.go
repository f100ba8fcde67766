package chain

import (
	"math/bits"

	"github.com/xssnick/tonutils-go/tvm/cell"
)

// hmEntry is one dictionary entry: a key of the dictionary's key size,
// left-aligned in bytes, and the value bits/refs to store in the leaf.
type hmEntry struct {
	key []byte
	val *cell.Builder
}

// buildHashmap builds a Hashmap n X from entries sorted by key (ascending,
// unique) in one pass: every node is built once, instead of once per
// insertion as repeated Dictionary.Set calls would. It returns nil for no
// entries (an empty HashmapE).
func buildHashmap(n uint, entries []hmEntry) *cell.Cell {
	if len(entries) == 0 {
		return nil
	}
	return buildNode(entries, 0, n)
}

func bitAt(key []byte, i uint) uint64 { return uint64(key[i/8]>>(7-i%8)) & 1 }

// bitsFrom returns n bits of key starting at bit off, left-aligned.
func bitsFrom(key []byte, off, n uint) []byte {
	out := make([]byte, (n+7)/8)
	for i := uint(0); i < n; i++ {
		if bitAt(key, off+i) == 1 {
			out[i/8] |= 0x80 >> (i % 8)
		}
	}
	return out
}

// buildNode builds the subtree for entries that share the first off bits;
// m key bits remain.
func buildNode(entries []hmEntry, off, m uint) *cell.Cell {
	b := cell.BeginCell()
	first, last := entries[0].key, entries[len(entries)-1].key
	if len(entries) == 1 {
		storeLabel(b, first, off, m, m)
		b.MustStoreBuilder(entries[0].val)
		return b.EndCell()
	}
	// Sorted keys: the common prefix of all is that of the first and last.
	p := uint(0)
	for p < m && bitAt(first, off+p) == bitAt(last, off+p) {
		p++
	}
	storeLabel(b, first, off, p, m)
	split := off + p
	i := 0
	for i < len(entries) && bitAt(entries[i].key, split) == 0 {
		i++
	}
	left := buildNode(entries[:i], split+1, m-p-1)
	right := buildNode(entries[i:], split+1, m-p-1)
	return b.MustStoreRef(left).MustStoreRef(right).EndCell()
}

// storeLabel writes the shortest of hml_short, hml_long and hml_same for the
// l bits of key at off, where m bits remain (block.tlb HmLabel ~l m).
func storeLabel(b *cell.Builder, key []byte, off, l, m uint) {
	k := uint(bits.Len(m)) // bits to store a length <= m
	shortLen := 1 + l + 1 + l
	longLen := 2 + k + l
	same := l > 0
	for i := uint(1); i < l && same; i++ {
		same = bitAt(key, off+i) == bitAt(key, off)
	}
	sameLen := uint(3 + k)
	switch {
	case same && sameLen < shortLen && sameLen < longLen:
		b.MustStoreUInt(0b11, 2).MustStoreUInt(bitAt(key, off), 1).MustStoreUInt(uint64(l), k)
	case shortLen <= longLen:
		b.MustStoreUInt(0, 1)
		for i := uint(0); i < l; i++ {
			b.MustStoreUInt(1, 1)
		}
		b.MustStoreUInt(0, 1).MustStoreSlice(bitsFrom(key, off, l), l)
	default:
		b.MustStoreUInt(0b10, 2).MustStoreUInt(uint64(l), k).MustStoreSlice(bitsFrom(key, off, l), l)
	}
}

// updateHashmap applies sorted, unique entries to the Hashmap n X rooted at
// root (nil = empty): an entry with a nil val deletes its key, others insert
// or replace. Only nodes on the changed paths are rebuilt, each once.
func updateHashmap(root *cell.Cell, n uint, entries []hmEntry) (*cell.Cell, error) {
	return updateNode(root, 0, n, entries)
}

func liveEntries(entries []hmEntry) []hmEntry {
	out := make([]hmEntry, 0, len(entries))
	for _, e := range entries {
		if e.val != nil {
			out = append(out, e)
		}
	}
	return out
}

// parseLabel reads HmLabel ~l m from s and returns l and the label bits.
func parseLabel(s *cell.Slice, m uint) (uint, []byte, error) {
	k := uint(bits.Len(m))
	first, err := s.LoadUInt(1)
	if err != nil {
		return 0, nil, err
	}
	if first == 0 { // hml_short
		var l uint
		for {
			b, err := s.LoadUInt(1)
			if err != nil {
				return 0, nil, err
			}
			if b == 0 {
				break
			}
			l++
		}
		lb, err := s.LoadSlice(l)
		return l, lb, err
	}
	second, err := s.LoadUInt(1)
	if err != nil {
		return 0, nil, err
	}
	if second == 0 { // hml_long
		l, err := s.LoadUInt(k)
		if err != nil {
			return 0, nil, err
		}
		lb, err := s.LoadSlice(uint(l))
		return uint(l), lb, err
	}
	v, err := s.LoadUInt(1) // hml_same
	if err != nil {
		return 0, nil, err
	}
	l, err := s.LoadUInt(k)
	if err != nil {
		return 0, nil, err
	}
	lb := make([]byte, (l+7)/8)
	if v == 1 {
		for i := uint(0); i < uint(l); i++ {
			lb[i/8] |= 0x80 >> (i % 8)
		}
	}
	return uint(l), lb, nil
}

// relabel builds a node whose label is label[from:l] followed by rest.
func relabel(label []byte, from, l, m uint, rest *cell.Slice) *cell.Cell {
	b := cell.BeginCell()
	storeLabel(b, bitsFrom(label, from, l-from), 0, l-from, m)
	b.MustStoreBuilder(rest.ToBuilder())
	return b.EndCell()
}

func updateNode(node *cell.Cell, off, m uint, entries []hmEntry) (*cell.Cell, error) {
	if len(entries) == 0 {
		return node, nil
	}
	if node == nil {
		live := liveEntries(entries)
		if len(live) == 0 {
			return nil, nil
		}
		return buildNode(live, off, m), nil
	}
	s := node.BeginParse()
	l, label, err := parseLabel(s, m)
	if err != nil {
		return nil, err
	}
	// Where does the first entry leave the label, if anywhere?
	split := l
	for _, e := range entries {
		for i := uint(0); i < split; i++ {
			if bitAt(e.key, off+i) != bitAt(label, i) {
				split = i
				break
			}
		}
	}
	if split < l {
		// New fork at split: the existing subtree on one side, entries that
		// diverge there on the other.
		oldBit := bitAt(label, split)
		var same, other []hmEntry
		for _, e := range entries {
			if bitAt(e.key, off+split) == oldBit {
				same = append(same, e)
			} else if e.val != nil {
				other = append(other, e)
			}
		}
		existing := relabel(label, split+1, l, m-split-1, s)
		existing, err := updateNode(existing, off+split+1, m-split-1, same)
		if err != nil {
			return nil, err
		}
		var fresh *cell.Cell
		if len(other) > 0 {
			fresh = buildNode(other, off+split+1, m-split-1)
		}
		return joinFork(label, split, m, oldBit, existing, fresh, off)
	}
	if l == m { // leaf: exactly this key
		e := entries[0]
		if e.val == nil {
			return nil, nil
		}
		b := cell.BeginCell()
		storeLabel(b, label, 0, l, m)
		return b.MustStoreBuilder(e.val).EndCell(), nil
	}
	at := off + l
	i := 0
	for i < len(entries) && bitAt(entries[i].key, at) == 0 {
		i++
	}
	// The children themselves, not copies (Slice.LoadRef + ToCell): an
	// untouched side is returned as is, its hashes already known, instead
	// of a copy whose whole subtree would be hashed again (issue 17).
	left, err := node.PeekRef(0)
	if err != nil {
		return nil, err
	}
	right, err := node.PeekRef(1)
	if err != nil {
		return nil, err
	}
	nl, err := updateNode(left, at+1, m-l-1, entries[:i])
	if err != nil {
		return nil, err
	}
	nr, err := updateNode(right, at+1, m-l-1, entries[i:])
	if err != nil {
		return nil, err
	}
	return joinFork(label, l, m, 0, nl, nr, off)
}

// joinFork makes the node for a fork after the first p bits of label with
// children a (on side bit aBit) and b; when one side is empty the other
// child absorbs the fork's label and the branch bit.
func joinFork(label []byte, p, m uint, aBit uint64, a, b *cell.Cell, off uint) (*cell.Cell, error) {
	left, right := a, b
	if aBit == 1 {
		left, right = b, a
	}
	if left != nil && right != nil {
		nb := cell.BeginCell()
		storeLabel(nb, label, 0, p, m)
		return nb.MustStoreRef(left).MustStoreRef(right).EndCell(), nil
	}
	child, bit := left, uint64(0)
	if child == nil {
		child, bit = right, 1
	}
	if child == nil {
		return nil, nil
	}
	// Merge label[:p] + bit + child's label into one label.
	cs := child.BeginParse()
	cl, clabel, err := parseLabel(cs, m-p-1)
	if err != nil {
		return nil, err
	}
	merged := make([]byte, (p+1+cl+7)/8)
	set := func(i uint, v uint64) {
		if v == 1 {
			merged[i/8] |= 0x80 >> (i % 8)
		}
	}
	for i := uint(0); i < p; i++ {
		set(i, bitAt(label, i))
	}
	set(p, bit)
	for i := uint(0); i < cl; i++ {
		set(p+1+i, bitAt(clabel, i))
	}
	nb := cell.BeginCell()
	storeLabel(nb, merged, 0, p+1+cl, m)
	return nb.MustStoreBuilder(cs.ToBuilder()).EndCell(), nil
}

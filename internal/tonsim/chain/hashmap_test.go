package chain

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/xssnick/tonutils-go/tvm/cell"
)

// The one-pass builder must produce dictionaries tonutils-go reads back
// exactly, whatever the key distribution (dense, sparse, shared prefixes).
func TestBuildHashmapMatchesDictionary(t *testing.T) {
	for _, tc := range []struct {
		name string
		bits uint
		keys func(i int) []byte
		n    int
	}{
		{"one", 256, func(i int) []byte { return bytes.Repeat([]byte{0xab}, 32) }, 1},
		{"dense 64-bit", 64, func(i int) []byte { k := make([]byte, 8); binary.BigEndian.PutUint64(k, uint64(i)); return k }, 300},
		{"random 256-bit", 256, func(i int) []byte {
			k := make([]byte, 32)
			r := rand.New(rand.NewPCG(uint64(i), 7))
			for j := range k {
				k[j] = byte(r.Uint32())
			}
			return k
		}, 500},
		{"same runs", 256, func(i int) []byte { k := make([]byte, 32); k[31] = byte(i); return k }, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var entries []hmEntry
			want := cell.NewDict(tc.bits)
			for i := 0; i < tc.n; i++ {
				k := tc.keys(i)
				v := cell.BeginCell().MustStoreUInt(uint64(i), 32)
				entries = append(entries, hmEntry{key: k, val: v})
				if err := want.Set(cell.BeginCell().MustStoreSlice(k, tc.bits).EndCell(), v.EndCell()); err != nil {
					t.Fatal(err)
				}
			}
			sort.Slice(entries, func(i, j int) bool { return bytes.Compare(entries[i].key, entries[j].key) < 0 })
			got := buildHashmap(tc.bits, entries).AsDict(tc.bits)
			wantAll, _ := want.LoadAll()
			gotAll, err := got.LoadAll()
			if err != nil || len(gotAll) != len(wantAll) {
				t.Fatalf("%d entries (%v), want %d", len(gotAll), err, len(wantAll))
			}
			for _, kv := range wantAll {
				k := kv.Key.MustToCell()
				v, err := got.LoadValue(k)
				if err != nil || !bytes.Equal(v.MustToCell().Hash(), kv.Value.MustToCell().Hash()) {
					t.Fatalf("key %x: got %v", k.BeginParse().MustLoadSlice(tc.bits), v)
				}
			}
		})
	}
}

// Random batches of inserts, replacements and deletions must leave the same
// key/value set as Dictionary.Set applied one by one.
func TestUpdateHashmapMatchesDictionary(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 40; round++ {
		keyBits := uint(64)
		if round%2 == 0 {
			keyBits = 256
		}
		want := cell.NewDict(keyBits)
		var root *cell.Cell
		universe := make([][]byte, 60)
		for i := range universe {
			k := make([]byte, keyBits/8)
			for j := range k {
				k[j] = byte(r.Uint32())
			}
			if i%3 == 0 {
				copy(k, universe[0]) // shared prefixes
				k[len(k)-1] = byte(i)
			}
			universe[i] = k
		}
		for batch := 0; batch < 6; batch++ {
			picked := map[int]bool{}
			var entries []hmEntry
			for j := 0; j < 1+r.IntN(30); j++ {
				i := r.IntN(len(universe))
				if picked[i] {
					continue
				}
				picked[i] = true
				var v *cell.Builder
				if r.IntN(4) != 0 {
					v = cell.BeginCell().MustStoreUInt(uint64(r.Uint32()), 32)
				}
				entries = append(entries, hmEntry{key: universe[i], val: v})
				var vc *cell.Cell
				if v != nil {
					vc = v.EndCell()
				}
				if err := want.Set(cell.BeginCell().MustStoreSlice(universe[i], keyBits).EndCell(), vc); err != nil {
					t.Fatal(err)
				}
			}
			sort.Slice(entries, func(i, j int) bool { return bytes.Compare(entries[i].key, entries[j].key) < 0 })
			var err error
			if root, err = updateHashmap(root, keyBits, entries); err != nil {
				t.Fatal(err)
			}
			wantAll, _ := want.LoadAll()
			if root == nil {
				if len(wantAll) != 0 {
					t.Fatalf("round %d: empty result, want %d entries", round, len(wantAll))
				}
				continue
			}
			got := root.AsDict(keyBits)
			gotAll, err := got.LoadAll()
			if err != nil || len(gotAll) != len(wantAll) {
				t.Fatalf("round %d batch %d: %d entries (%v), want %d", round, batch, len(gotAll), err, len(wantAll))
			}
			for _, kv := range wantAll {
				v, err := got.LoadValue(kv.Key.MustToCell())
				if err != nil || !bytes.Equal(v.MustToCell().Hash(), kv.Value.MustToCell().Hash()) {
					t.Fatalf("round %d: value mismatch", round)
				}
			}
		}
	}
}

package chain

import "testing"

func TestShardMath(t *testing.T) {
	four, err := evenShards(4)
	if err != nil {
		t.Fatal(err)
	}
	want := []ShardID{0x2000000000000000, 0x6000000000000000, 0xa000000000000000, 0xe000000000000000}
	for i := range want {
		if four[i] != want[i] {
			t.Fatalf("shard %d = %s, want %s", i, four[i], want[i])
		}
	}
	l, r, err := ShardAll.Children()
	if err != nil || l != 0x4000000000000000 || r != 0xc000000000000000 {
		t.Fatalf("children of all: %s %s %v", l, r, err)
	}
	if l.Parent() != ShardAll || r.Parent() != ShardAll || l.Sibling() != r || !l.IsLeft() || r.IsLeft() {
		t.Fatal("parent/sibling relation broken")
	}
	if !four[1].Contains(0x7fffffffffffffff) || four[1].Contains(0x8000000000000000) || !ShardAll.Contains(0) {
		t.Fatal("Contains broken")
	}
	if four[2].PrefixLen() != 2 || four[2].Prefix() != 0x8000000000000000 {
		t.Fatalf("prefix of %s: %d %x", four[2], four[2].PrefixLen(), four[2].Prefix())
	}
	if _, err := evenShards(3); err == nil {
		t.Fatal("3 shards accepted")
	}
}

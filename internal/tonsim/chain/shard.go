package chain

import (
	"fmt"
	"math/bits"
)

// ShardID is a TON shard identifier as a uint64: the shard prefix followed by
// a single tag bit (1) and zeros, exactly as liteservers and tonutils-go put it
// on the wire (as int64). 0x8000000000000000 is the whole workchain.
type ShardID uint64

// ShardAll is the shard covering the whole workchain.
const ShardAll ShardID = 1 << 63

// tag is the lowest set bit: it marks where the prefix ends.
func (s ShardID) tag() uint64 { return uint64(s) & -uint64(s) }

// PrefixLen is the number of prefix bits (0 for ShardAll).
func (s ShardID) PrefixLen() int { return 63 - bits.TrailingZeros64(uint64(s)) }

// Prefix is the prefix bits without the tag bit, left-aligned.
func (s ShardID) Prefix() uint64 { return uint64(s) &^ (s.tag()<<1 - 1) }

// Contains reports whether an account whose first 64 address bits are a lies in s.
func (s ShardID) Contains(a uint64) bool {
	mask := ^(s.tag()<<1 - 1)
	return a&mask == uint64(s)&mask
}

// Children splits s into its left and right halves.
func (s ShardID) Children() (ShardID, ShardID, error) {
	t := s.tag()
	if t == 1 || s.PrefixLen() >= 60 {
		return 0, 0, fmt.Errorf("shard %s cannot be split further", s)
	}
	h := t >> 1
	return ShardID(uint64(s) - h), ShardID(uint64(s) + h), nil
}

// Parent is the shard that s was split from.
func (s ShardID) Parent() ShardID {
	t := s.tag()
	return ShardID((uint64(s) - t) | t<<1)
}

// Sibling is the other child of s's parent.
func (s ShardID) Sibling() ShardID {
	return ShardID(uint64(s) ^ (s.tag() << 1))
}

// IsLeft reports whether s is the left child of its parent.
func (s ShardID) IsLeft() bool { return uint64(s)&(s.tag()<<1) == 0 }

func (s ShardID) String() string { return fmt.Sprintf("%016x", uint64(s)) }

// evenShards returns n shards of equal size covering the workchain; n must be
// a power of two.
func evenShards(n int) ([]ShardID, error) {
	if n < 1 || n&(n-1) != 0 || n > 256 {
		return nil, fmt.Errorf("shard count %d must be a power of two between 1 and 256", n)
	}
	depth := bits.TrailingZeros(uint(n))
	out := make([]ShardID, 0, n)
	for i := 0; i < n; i++ {
		tagBit := uint64(1) << (63 - depth)
		out = append(out, ShardID(uint64(i)<<(64-depth)|tagBit))
	}
	if depth == 0 {
		out[0] = ShardAll
	}
	return out, nil
}

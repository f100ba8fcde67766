package withdrawals

import (
	"errors"
	"fmt"
	"strings"
)

// ParseBinaryComment parses the API's binary_comment: a hex bit string in
// TL-B notation. Each hex digit gives 4 bits, most significant first, so
// the length need not be whole bytes. A trailing '_' is the completion
// tag: the bit string ends just before its last 1 bit, so trailing zero
// bits and that 1 bit are removed ("9fe7_" is the 15 bits
// 100111111110011). Hex digits may be upper or lower case; no 0x prefix.
//
// The result holds nbits bits packed most significant bit first, with the
// unused low bits of the last byte zero; "" gives no bits.
func ParseBinaryComment(s string) (bits []byte, nbits uint, err error) {
	tagged := strings.HasSuffix(s, "_")
	if tagged {
		s = s[:len(s)-1]
	}
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		return nil, 0, errors.New("must be hex digits without a 0x prefix")
	}
	bits = make([]byte, (len(s)+1)/2)
	for i := 0; i < len(s); i++ {
		v, ok := hexValue(s[i])
		if !ok {
			if s[i] == '_' {
				return nil, 0, errors.New("'_' (completion tag) is only allowed as the last character")
			}
			return nil, 0, fmt.Errorf("invalid hex digit %q at position %d", s[i], i)
		}
		if i%2 == 0 {
			bits[i/2] = v << 4
		} else {
			bits[i/2] |= v
		}
	}
	nbits = uint(len(s)) * 4
	if tagged {
		for nbits > 0 && bits[(nbits-1)/8]&(0x80>>((nbits-1)%8)) == 0 {
			nbits--
		}
		if nbits == 0 {
			return nil, 0, errors.New("ends with the completion tag '_' but has no 1 bit to mark the end")
		}
		nbits-- // the completion bit itself
	}
	bits = bits[:(nbits+7)/8]
	if rem := nbits % 8; rem != 0 {
		bits[len(bits)-1] &= byte(0xff << (8 - rem))
	}
	if nbits == 0 {
		bits = nil
	}
	return bits, nbits, nil
}

func hexValue(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

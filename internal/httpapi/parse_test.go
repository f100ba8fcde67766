package httpapi_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ton-custody/processor/internal/httpapi"
)

func TestParseBinaryComment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		bits    []byte
		nbits   uint
		wantErr string
	}{
		{name: "spec example 9fe7_", in: "9fe7_", bits: []byte{0x9f, 0xe6}, nbits: 15},
		{name: "whole bytes", in: "deadbeef", bits: []byte{0xde, 0xad, 0xbe, 0xef}, nbits: 32},
		{name: "upper case", in: "DEADBEEF", bits: []byte{0xde, 0xad, 0xbe, 0xef}, nbits: 32},
		{name: "odd number of digits", in: "abc", bits: []byte{0xab, 0xc0}, nbits: 12},
		{name: "tag removes trailing zeros and the 1", in: "a8_", bits: []byte{0xa0}, nbits: 4},
		{name: "tag after 4", in: "4_", bits: []byte{0x00}, nbits: 1},
		{name: "tag after c", in: "c_", bits: []byte{0x80}, nbits: 1},
		{name: "tag leaving nothing", in: "8_", bits: nil, nbits: 0},
		{name: "tag over a zero byte", in: "ff80_", bits: []byte{0xff}, nbits: 8},
		{name: "empty", in: "", bits: nil, nbits: 0},
		{name: "1023 bits", in: strings.Repeat("f", 256) + "_", bits: append(bytes.Repeat([]byte{0xff}, 127), 0xfe), nbits: 1023},

		{name: "tag only", in: "_", wantErr: "no 1 bit"},
		{name: "tag with only zeros", in: "000_", wantErr: "no 1 bit"},
		{name: "not hex", in: "zz", wantErr: `invalid hex digit 'z' at position 0`},
		{name: "0x prefix", in: "0x12", wantErr: "0x prefix"},
		{name: "underscore inside", in: "12_34", wantErr: "only allowed as the last character"},
		{name: "double tag", in: "12__", wantErr: "only allowed as the last character"},
		{name: "space", in: "12 34", wantErr: "invalid hex digit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bits, n, err := httpapi.ParseBinaryComment(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.nbits || !bytes.Equal(bits, tt.bits) {
				t.Errorf("got %x (%d bits), want %x (%d bits)", bits, n, tt.bits, tt.nbits)
			}
		})
	}
}

package httpapi

import "github.com/ton-custody/processor/internal/withdrawals"

// ParseBinaryComment parses the API's binary_comment (see
// withdrawals.ParseBinaryComment, which owns the format: the takeover
// reads bicycle's rows with the same parser, so a retry hashes the same).
func ParseBinaryComment(s string) (bits []byte, nbits uint, err error) {
	return withdrawals.ParseBinaryComment(s)
}

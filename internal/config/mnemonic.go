package config

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha512"
	"errors"
	"fmt"
	"strings"
)

// mnemonicWords is the length of a TON mnemonic; minMnemonicWords is the
// shortest gobicycle/bicycle took (tonutils-go's SeedToPrivateKey accepts
// 12 words or more that pass TON's checksum), so that a bicycle
// deployment's SEED can be taken over. New seeds are 24 words
// (processor new-seed).
const (
	mnemonicWords    = 24
	minMnemonicWords = 12
)

// checkMnemonic validates a TON mnemonic without ever quoting a word: the
// messages give positions and counts only, because the words are the keys.
// It returns the words joined by single spaces, the form key derivation
// (tonutils-go wallet.SeedToPrivateKey) expects, and a warning for a
// mnemonic of 12 to 23 words: accepted, as gobicycle/bicycle accepted it,
// when it passes the checksum; otherwise it is reported as the wrong
// length.
//
// The checksum test is TON's "basic seed" rule (what tonutils-go and the
// official wallets apply): the first byte of
// PBKDF2-SHA512(HMAC-SHA512(key=mnemonic, msg=""), "TON seed version",
// 100000/256 iterations) is zero. It catches a mistyped word with
// probability 255/256 and costs about a millisecond.
func checkMnemonic(raw string) (string, string, error) {
	words := strings.Fields(raw)
	wrongLength := fmt.Errorf("must be %d words, got %d", mnemonicWords, len(words))
	if len(words) < minMnemonicWords || len(words) > mnemonicWords {
		return "", "", wrongLength
	}
	for i, w := range words {
		for j := 0; j < len(w); j++ {
			if w[j] < 'a' || w[j] > 'z' {
				return "", "", fmt.Errorf("word %d must be lower-case letters a-z", i+1)
			}
		}
	}
	joined := strings.Join(words, " ")
	mac := hmac.New(sha512.New, []byte(joined))
	entropy := mac.Sum(nil)
	check, err := pbkdf2.Key(sha512.New, string(entropy), []byte("TON seed version"), 100000/256, 1)
	if err != nil {
		return "", "", errors.New("cannot compute the mnemonic checksum")
	}
	switch {
	case check[0] != 0 && len(words) != mnemonicWords:
		return "", "", wrongLength
	case check[0] != 0:
		return "", "", errors.New("is not a valid TON mnemonic (checksum mismatch: a mistyped word, or a BIP39 phrase from another wallet)")
	case len(words) != mnemonicWords:
		return joined, fmt.Sprintf("is a TON mnemonic of %d words, accepted as gobicycle/bicycle accepted it (12 words or more); new seeds have %d (processor new-seed)",
			len(words), mnemonicWords), nil
	}
	return joined, "", nil
}

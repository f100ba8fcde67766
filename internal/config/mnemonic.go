package config

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha512"
	"errors"
	"fmt"
	"strings"
)

// mnemonicWords is the length of a TON mnemonic.
const mnemonicWords = 24

// checkMnemonic validates a TON mnemonic without ever quoting a word: the
// messages give positions and counts only, because the words are the keys.
// It returns the words joined by single spaces, the form key derivation
// (tonutils-go wallet.SeedToPrivateKey) expects.
//
// The checksum test is TON's "basic seed" rule (what tonutils-go and the
// official wallets apply): the first byte of
// PBKDF2-SHA512(HMAC-SHA512(key=mnemonic, msg=""), "TON seed version",
// 100000/256 iterations) is zero. It catches a mistyped word with
// probability 255/256 and costs about a millisecond.
func checkMnemonic(raw string) (string, error) {
	words := strings.Fields(raw)
	if len(words) != mnemonicWords {
		return "", fmt.Errorf("must be %d words, got %d", mnemonicWords, len(words))
	}
	for i, w := range words {
		for j := 0; j < len(w); j++ {
			if w[j] < 'a' || w[j] > 'z' {
				return "", fmt.Errorf("word %d must be lower-case letters a-z", i+1)
			}
		}
	}
	joined := strings.Join(words, " ")
	mac := hmac.New(sha512.New, []byte(joined))
	entropy := mac.Sum(nil)
	check, err := pbkdf2.Key(sha512.New, string(entropy), []byte("TON seed version"), 100000/256, 1)
	if err != nil {
		return "", errors.New("cannot compute the mnemonic checksum")
	}
	if check[0] != 0 {
		return "", errors.New("is not a valid TON mnemonic (checksum mismatch: a mistyped word, or a BIP39 phrase from another wallet)")
	}
	return joined, nil
}

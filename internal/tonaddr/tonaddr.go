// Package tonaddr is the one place where the processor parses addresses
// given to it and formats addresses it prints.
package tonaddr

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/config"
)

// User-friendly address layout: tag, workchain, 32-byte account id, CRC16.
const (
	friendlyBytes = 36
	friendlyChars = 48

	tagBounceable    = 0x11
	tagNonBounceable = 0x51
	tagTestnetFlag   = 0x80
)

// Format renders a in the user-friendly URL-safe base64 form the API
// prints: the bounceable flag as asked (deposit addresses non-bounceable,
// "UQ"/"0Q"; contracts such as DNS results bounceable, "EQ"/"kQ") and the
// testnet flag exactly when network is testnet, like the spec's 0Q...
// examples. a is not modified.
func Format(a *address.Address, network config.Network, bounceable bool) string {
	return a.Bounce(bounceable).Testnet(network == config.Testnet).String()
}

// Parse parses an address given to the API: user-friendly base64 (the
// URL-safe alphabet, or the standard one with + and /), 48 characters. It
// refuses, with a message saying why:
//   - the raw form "0:<hex>": it has no checksum and no bounce flag, so a
//     typo or a lost bounce preference would go unnoticed;
//   - a wrong checksum or an unknown tag byte;
//   - a workchain other than 0 (basechain) and -1 (masterchain);
//   - a flag for the other network: a testnet-flagged address on mainnet,
//     and a mainnet (unflagged) address on testnet. The flag is the one
//     sign that an address was copied from the wrong environment, and on
//     mainnet that mistake costs real money. Testnet is strict too so that
//     the rule is the same as for COLD_WALLET and JETTONS in config; the
//     processor and tonsim print testnet addresses with the flag (kQ/0Q).
//
// The returned address keeps the bounceable and testnet flags it was
// written with: a withdrawal's bounce flag comes from the destination form.
// Error messages are predicates ("is required", "has a wrong checksum")
// for the caller to prefix with the field name; they never echo the input.
func Parse(s string, network config.Network) (*address.Address, error) {
	switch {
	case s == "":
		return nil, errors.New("is required")
	case strings.Contains(s, ":"):
		return nil, fmt.Errorf("is a raw address (workchain:hex), which is not accepted: use the user-friendly form (48 characters, e.g. %s)", example(network))
	case strings.ContainsAny(s, " \t"):
		return nil, errors.New("contains white space (in a query string, + must be sent as %2B; or use the URL-safe form with - and _)")
	case len(s) != friendlyChars:
		return nil, fmt.Errorf("must be %d characters of user-friendly base64, got %d", friendlyChars, len(s))
	}
	urlSafe := strings.NewReplacer("+", "-", "/", "_").Replace(s)
	data, err := base64.RawURLEncoding.DecodeString(urlSafe)
	if err != nil || len(data) != friendlyBytes {
		return nil, errors.New("is not valid base64")
	}
	a, err := address.ParseAddr(urlSafe) // checks the CRC16
	if err != nil {
		return nil, errors.New("has a wrong checksum (mistyped or truncated?)")
	}
	tag := data[0]
	testnet := tag&tagTestnetFlag != 0
	if base := tag &^ tagTestnetFlag; base != tagBounceable && base != tagNonBounceable {
		return nil, fmt.Errorf("has an unknown address tag 0x%02x", tag)
	}
	if wc := int8(data[1]); wc != 0 && wc != -1 {
		return nil, fmt.Errorf("is in workchain %d; only 0 (basechain) and -1 (masterchain) are supported", wc)
	}
	switch {
	case network != config.Testnet && testnet:
		return nil, errors.New("is a testnet address (testnet flag set) but the processor runs on mainnet")
	case network == config.Testnet && !testnet:
		return nil, errors.New("is a mainnet address (no testnet flag) but the processor runs on testnet; use its testnet form (kQ.../0Q...)")
	}
	return a, nil
}

// exampleAccount is the account of the spec's example deposit address.
var exampleAccount = []byte{0x7b, 0x05, 0x27, 0xab, 0x57, 0x23, 0xfd, 0xc4, 0x02, 0xa7, 0xc6, 0x9d, 0xd0, 0xa6, 0xa4, 0x7c,
	0x24, 0xed, 0x87, 0x2b, 0x06, 0x61, 0x97, 0x5d, 0x33, 0xb1, 0xfc, 0x20, 0xed, 0xa2, 0x76, 0xf3}

func example(network config.Network) string {
	return Format(address.NewAddress(0, 0, exampleAccount), network, false)
}

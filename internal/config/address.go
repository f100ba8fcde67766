package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/xssnick/tonutils-go/address"
)

// parseAddress accepts a user-friendly address (base64url or base64, 48
// characters) or a raw one ("0:<64 hex>"). A friendly address carries a
// testnet flag, which must agree with the network: a testnet address on
// mainnet (or the reverse) is almost always a copy-paste from the wrong
// environment. Raw addresses have no flag and are accepted on both.
func parseAddress(s string, network Network) (*address.Address, error) {
	if strings.Contains(s, ":") {
		a, err := address.ParseRawAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a valid raw address (workchain:64 hex digits)", s)
		}
		if err := checkWorkchain(a); err != nil {
			return nil, err
		}
		return a, nil
	}
	// Accept the standard base64 alphabet too; tonutils-go reads only URL-safe.
	urlSafe := strings.NewReplacer("+", "-", "/", "_").Replace(s)
	a, err := address.ParseAddr(urlSafe)
	if err != nil {
		return nil, fmt.Errorf("%q is not a valid address (bad base64, length or checksum)", s)
	}
	// ParseAddr does not check the tag byte; re-encoding does, because it
	// writes only the four valid tags.
	if a.String() != urlSafe {
		return nil, fmt.Errorf("%q has an unknown address tag", s)
	}
	if err := checkWorkchain(a); err != nil {
		return nil, err
	}
	switch {
	case network == Mainnet && a.IsTestnetOnly():
		return nil, fmt.Errorf("%q is a testnet address but TON_NETWORK=mainnet", s)
	case network == Testnet && !a.IsTestnetOnly():
		return nil, fmt.Errorf("%q is a mainnet address but TON_NETWORK=testnet (use its testnet form or the raw form)", s)
	}
	return a, nil
}

func checkWorkchain(a *address.Address) error {
	if wc := a.Workchain(); wc != 0 && wc != -1 {
		return errors.New("workchain must be 0 (basechain) or -1 (masterchain)")
	}
	return nil
}

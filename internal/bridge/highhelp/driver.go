package highhelp

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ton-custody/processor/internal/bridge"
)

func init() {
	bridge.RegisterDriver(bridge.Driver{Name: Name, Settings: Settings, New: newFromConfig})
}

// Values of the algorithm, bools and sig_encoding settings.
const (
	AlgorithmRSA  = "rsa"
	AlgorithmHMAC = "hmac"

	BoolsDigits = "digits"
	BoolsWords  = "words"

	EncodingBase64URL = "base64url"
	EncodingBase64    = "base64"
	EncodingHex       = "hex"
)

// Settings are HighHelp's BRIDGE_HIGHHELP_<KEY> variables. The base URL
// and the timeout are the core's BRIDGE_HIGHHELP_BASE_URL and
// BRIDGE_HIGHHELP_TIMEOUT.
var Settings = []bridge.Setting{
	{Key: "merchant_id", Required: true, Description: "x-access-merchant-id: the kassa UUID"},
	{Key: "project_id", Description: "general.project_id; empty: the merchant id"},
	{Key: "algorithm", Default: AlgorithmRSA, Description: "request signatures: rsa (RSA-SHA256 with the kassa key) or hmac (HMAC-SHA512)"},
	{Key: "private_key_file", Description: "PEM file of the kassa's RSA private key (PKCS#1 or PKCS#8, unencrypted); required with algorithm rsa"},
	{Key: "hmac_secret", Secret: true, Description: "HMAC-SHA512 request signing key; required with algorithm hmac"},
	{Key: "token", Secret: true, Description: "x-access-token; empty with algorithm rsa: derived from the key (base64url of the SPKI public key); required with algorithm hmac"},
	{Key: "algorithm_header", Default: string(HMACSHA512), Description: "x-access-merchant-algorithm sent with hmac signatures (the spelling HighHelp expects is not public)"},
	{Key: "callback_public_key_file", Description: "PEM file of HighHelp's RSA public key that verifies callbacks (or set callback_secret); without either, callbacks are rejected"},
	{Key: "callback_secret", Secret: true, Description: "HMAC-SHA512 key that verifies callbacks (or set callback_public_key_file)"},
	{Key: "callback_max_age", Default: DefaultCallbackMaxAge.String(), Description: "how far a callback's x-access-timestamp may be from now"},
	{Key: "bools", Default: BoolsDigits, Description: "booleans in the normalized body: digits (1/0, the docs) or words (true/false, the public client)"},
	{Key: "pad_body", Default: "false", Description: "keep = padding on base64url(normalized body)"},
	{Key: "sig_encoding", Default: EncodingBase64URL, Description: "x-access-signature encoding: base64url (unpadded), base64 or hex"},
}

// setting reads one setting, falling back to its declared default (a
// ProviderConfig built by hand has no defaults filled in).
func setting(pc bridge.ProviderConfig, key string) string {
	v := strings.TrimSpace(pc.Get(key))
	if v != "" {
		return v
	}
	for _, s := range Settings {
		if s.Key == key {
			return s.Default
		}
	}
	return ""
}

func newFromConfig(pc bridge.ProviderConfig, client *http.Client) (bridge.Provider, error) {
	name := pc.Name
	if name == "" {
		name = Name
	}
	probs := bridge.NewProblems(name)
	bad, envName := probs.Add, probs.Var

	cfg := Config{
		BaseURL:         pc.BaseURL,
		MerchantID:      setting(pc, "merchant_id"),
		ProjectID:       setting(pc, "project_id"),
		Token:           pc.Secret("token").Reveal(),
		AlgorithmHeader: setting(pc, "algorithm_header"),
		Timeout:         pc.Timeout,
		HTTPClient:      client,
	}
	if cfg.MerchantID == "" {
		bad("merchant_id", "required: the kassa UUID (x-access-merchant-id)")
	}

	hmacSecret := pc.Secret("hmac_secret")
	keyFile := setting(pc, "private_key_file")
	switch alg := strings.ToLower(setting(pc, "algorithm")); alg {
	case AlgorithmRSA:
		if hmacSecret.IsSet() {
			bad("hmac_secret", "is set but %s is rsa: unset it, or set the algorithm to hmac", envName("algorithm"))
		}
		if keyFile == "" {
			bad("private_key_file", "required with algorithm rsa: path of the kassa's PEM RSA private key")
			break
		}
		k, err := readPrivateKey(keyFile)
		if err != nil {
			bad("private_key_file", "%v", err)
			break
		}
		cfg.Key = RSAKey(k)
	case AlgorithmHMAC:
		if keyFile != "" {
			bad("private_key_file", "is set but %s is hmac: unset it, or set the algorithm to rsa", envName("algorithm"))
		}
		if !hmacSecret.IsSet() {
			bad("hmac_secret", "required with algorithm hmac: the HMAC-SHA512 signing key")
		} else {
			cfg.Key = HMACKey([]byte(hmacSecret.Reveal()))
		}
		if cfg.Token == "" {
			bad("token", "required with algorithm hmac: the x-access-token HighHelp issued")
		}
	default:
		bad("algorithm", "must be %s or %s, got %q", AlgorithmRSA, AlgorithmHMAC, alg)
	}

	cbFile := setting(pc, "callback_public_key_file")
	cbSecret := pc.Secret("callback_secret")
	switch {
	case cbFile != "" && cbSecret.IsSet():
		bad("callback_secret", "set only one of %s and %s", envName("callback_public_key_file"), envName("callback_secret"))
	case cbFile != "":
		k, err := readPublicKey(cbFile)
		if err != nil {
			bad("callback_public_key_file", "%v", err)
		} else {
			cfg.CallbackKey = RSAPublicKey(k)
		}
	case cbSecret.IsSet():
		cfg.CallbackKey = HMACKey([]byte(cbSecret.Reveal()))
	}

	if v := setting(pc, "callback_max_age"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad("callback_max_age", "must be a positive duration such as 5m, got %q", v)
		} else {
			cfg.CallbackMaxAge = d
		}
	}
	switch v := strings.ToLower(setting(pc, "bools")); v {
	case BoolsDigits:
		cfg.Scheme.Bools = BoolDigits
	case BoolsWords:
		cfg.Scheme.Bools = BoolWords
	default:
		bad("bools", "must be %s or %s, got %q", BoolsDigits, BoolsWords, v)
	}
	if b, err := parseBool(setting(pc, "pad_body")); err != nil {
		bad("pad_body", "%v", err)
	} else {
		cfg.Scheme.PadBody = b
	}
	switch v := strings.ToLower(setting(pc, "sig_encoding")); v {
	case EncodingBase64URL:
		cfg.Scheme.Encoding = Base64URL
	case EncodingBase64:
		cfg.Scheme.Encoding = Base64Std
	case EncodingHex:
		cfg.Scheme.Encoding = Hex
	default:
		bad("sig_encoding", "must be %s, %s or %s, got %q", EncodingBase64URL, EncodingBase64, EncodingHex, v)
	}

	if err := probs.Err(); err != nil {
		return nil, err
	}
	return New(cfg)
}

// parseBool accepts true/false, 1/0, yes/no ("" is false).
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1", "yes":
		return true, nil
	case "", "false", "0", "no":
		return false, nil
	}
	return false, fmt.Errorf("must be true or false, got %q", v)
}

// readPEM returns the first PEM block of the file at path whose type is
// one of types. Errors never quote the file's content.
func readPEM(path string, types ...string) (*pem.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the key file: %w", err)
	}
	rest := data
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return nil, fmt.Errorf("%s: no PEM block of type %s", path, strings.Join(types, " or "))
		}
		for _, t := range types {
			if blk.Type == t {
				if _, enc := blk.Headers["DEK-Info"]; enc {
					return nil, fmt.Errorf("%s: encrypted PEM keys are not supported", path)
				}
				return blk, nil
			}
		}
		if blk.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, fmt.Errorf("%s: encrypted PEM keys are not supported", path)
		}
	}
}

// readPrivateKey loads an RSA private key (PKCS#1 "RSA PRIVATE KEY" or
// PKCS#8 "PRIVATE KEY") from a PEM file.
func readPrivateKey(path string) (*rsa.PrivateKey, error) {
	blk, err := readPEM(path, "RSA PRIVATE KEY", "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	if blk.Type == "RSA PRIVATE KEY" {
		k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: not a valid PKCS#1 RSA private key", path)
		}
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: not a valid PKCS#8 private key", path)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: the key is %T, not RSA", path, k)
	}
	return rk, nil
}

// readPublicKey loads an RSA public key (PKIX "PUBLIC KEY", PKCS#1 "RSA
// PUBLIC KEY", or the key of a "CERTIFICATE") from a PEM file.
func readPublicKey(path string) (*rsa.PublicKey, error) {
	blk, err := readPEM(path, "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	var k any
	switch blk.Type {
	case "RSA PUBLIC KEY":
		k, err = x509.ParsePKCS1PublicKey(blk.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(blk.Bytes); err == nil {
			k = cert.PublicKey
		}
	default:
		k, err = x509.ParsePKIXPublicKey(blk.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: not a valid %s", path, blk.Type)
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: the key is %T, not RSA", path, k)
	}
	return rk, nil
}

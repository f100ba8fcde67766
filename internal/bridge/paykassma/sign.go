package paykassma

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

func sha1hex(s string) string {
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// WithdrawalSigningString is what the withdrawal signature hashes: data
// (without its "signature" element) ksorted at the top level and imploded
// with ":" (nested arrays in their own order, or ksorted too with
// sortNested).
func WithdrawalSigningString(data *Array, sortNested bool) (string, error) {
	d := data.Clone()
	d.Delete("signature")
	d.KSort()
	return Implode(":", d, sortNested)
}

// WithdrawalSignature is the spec's generateSignature($data):
// sha1(privateKey . md5(multiImplode(':', ksort($data)))), lowercase hex.
func WithdrawalSignature(privateKey string, data *Array, sortNested bool) (string, error) {
	s, err := WithdrawalSigningString(data, sortNested)
	if err != nil {
		return "", err
	}
	return sha1hex(privateKey + md5hex(s)), nil
}

// PostbackSignature is sha1(access_key . private_access_key .
// md5(json_encode($covered, JSON_UNESCAPED_SLASHES|JSON_UNESCAPED_UNICODE))),
// lowercase hex.
func PostbackSignature(accessKey, privateAccessKey string, covered any) (string, error) {
	js, err := JSONEncode(covered)
	if err != nil {
		return "", err
	}
	return sha1hex(accessKey + privateAccessKey + md5hex(string(js))), nil
}

// equalHex compares two hex digests in constant time, ignoring case.
func equalHex(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(a)), []byte(strings.ToLower(b))) == 1
}

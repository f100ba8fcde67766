package config_test

import "encoding/base64"

// crc16xmodem is the checksum of user-friendly addresses.
func crc16xmodem(data []byte) uint16 {
	var crc uint16
	for _, b := range data {
		crc ^= uint16(b) << 8
		for i := 0; i < 8; i++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

func base64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

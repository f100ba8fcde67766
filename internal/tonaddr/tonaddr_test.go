package tonaddr_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/sigurn/crc16"
	"github.com/xssnick/tonutils-go/address"

	"github.com/ton-custody/processor/internal/config"
	"github.com/ton-custody/processor/internal/tonaddr"
)

// craft builds a user-friendly address from a tag, workchain byte and
// account byte with a correct checksum (or a broken one).
func craft(tag, wc, b byte, breakCRC bool) string {
	var d [36]byte
	d[0], d[1] = tag, wc
	copy(d[2:34], bytes.Repeat([]byte{b}, 32))
	crc := crc16.Checksum(d[:34], crc16.MakeTable(crc16.CRC16_XMODEM))
	if breakCRC {
		crc ^= 1
	}
	binary.BigEndian.PutUint16(d[34:], crc)
	return base64.RawURLEncoding.EncodeToString(d[:])
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		in         string
		network    config.Network
		wantErr    string // "" = valid
		bounceable bool
		testnet    bool
		wc         int32
	}{
		{name: "spec example, testnet non-bounceable, on testnet", in: "0QB7BSerVyP9xAKnxp3QpqR8JO2HKwZhl10zsfwg7aJ281ZR", network: config.Testnet, testnet: true},
		{name: "spec DNS example, testnet bounceable", in: "kQCKt2WPGX-fh0cIAz38Ljd_OKQjoZE_cqk7QrYGsNP6wfP0", network: config.Testnet, bounceable: true, testnet: true},
		{name: "mainnet bounceable on mainnet", in: craft(0x11, 0, 7, false), network: config.Mainnet, bounceable: true},
		{name: "mainnet non-bounceable on mainnet", in: craft(0x51, 0, 7, false), network: config.Mainnet},
		{name: "mainnet form refused on testnet", in: craft(0x11, 0, 7, false), network: config.Testnet, wantErr: "mainnet address (no testnet flag) but the processor runs on testnet"},
		{name: "masterchain", in: craft(0x11, 0xff, 7, false), network: config.Mainnet, bounceable: true, wc: -1},
		{name: "standard base64 alphabet", in: strings.NewReplacer("-", "+", "_", "/").Replace("0QCdyiS-fIV9UVfI9Phswo4l2MA-hm8YseHynZ_YiH9Y1oSe"), network: config.Testnet, testnet: true},

		{name: "testnet address on mainnet", in: "0QB7BSerVyP9xAKnxp3QpqR8JO2HKwZhl10zsfwg7aJ281ZR", network: config.Mainnet, wantErr: "testnet address (testnet flag set) but the processor runs on mainnet"},
		{name: "empty", in: "", network: config.Mainnet, wantErr: "is required"},
		{name: "raw form", in: "0:" + strings.Repeat("ab", 32), network: config.Mainnet, wantErr: "raw address"},
		{name: "raw masterchain form", in: "-1:" + strings.Repeat("ab", 32), network: config.Mainnet, wantErr: "raw address"},
		{name: "truncated", in: "0QB7BSerVyP9xAKnxp3QpqR8JO2HKwZhl10zsfwg7aJ281Z", network: config.Testnet, wantErr: "must be 48 characters"},
		{name: "plus decoded as space in a query", in: "0QCdyiS fIV9UVfI9Phswo4l2MA-hm8YseHynZ_YiH9Y1oSe", network: config.Testnet, wantErr: "white space"},
		{name: "not base64", in: "0QB7BSerVyP9xAKnxp3QpqR8JO2HKwZhl10zsfwg7aJ281Z!", network: config.Testnet, wantErr: "not valid base64"},
		{name: "bad checksum", in: craft(0x11, 0, 7, true), network: config.Mainnet, wantErr: "wrong checksum"},
		{name: "one character changed", in: "0QB7BSerVyP9xAKnxp3QpqR8JO2HKwZhl10zsfwg7aJ281ZS", network: config.Testnet, wantErr: "wrong checksum"},
		{name: "unknown tag", in: craft(0x12, 0, 7, false), network: config.Mainnet, wantErr: "unknown address tag 0x12"},
		{name: "unknown tag with testnet bit", in: craft(0x93, 0, 7, false), network: config.Testnet, wantErr: "unknown address tag 0x93"},
		{name: "workchain 5", in: craft(0x11, 5, 7, false), network: config.Mainnet, wantErr: "workchain 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := tonaddr.Parse(tt.in, tt.network)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.IsBounceable() != tt.bounceable || a.IsTestnetOnly() != tt.testnet || a.Workchain() != tt.wc {
				t.Errorf("bounceable %v testnet %v wc %d; want %v %v %d", a.IsBounceable(), a.IsTestnetOnly(), a.Workchain(), tt.bounceable, tt.testnet, tt.wc)
			}
			// Same account as tonutils-go reads.
			ref, err := address.ParseAddr(strings.NewReplacer("+", "-", "/", "_").Replace(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !a.Equals(ref) {
				t.Errorf("parsed %s, tonutils-go reads %s", a.StringRaw(), ref.StringRaw())
			}
		})
	}
}

func TestFormatRoundTripsAndSetsNetworkFlag(t *testing.T) {
	t.Parallel()
	raw := address.MustParseRawAddr("0:7b0527ab5723fdc402a7c69dd0a6a47c24ed872b0661975d33b1fc20eda276f3")
	for _, tc := range []struct {
		network    config.Network
		bounceable bool
		want       string
	}{
		{config.Testnet, false, "0QB7BSerVyP9xAKnxp3QpqR8JO2HKwZhl10zsfwg7aJ281ZR"},
		{config.Mainnet, false, "UQB7BSerVyP9xAKnxp3QpqR8JO2HKwZhl10zsfwg7aJ28-3b"},
		{config.Testnet, true, ""},
		{config.Mainnet, true, ""},
	} {
		got := tonaddr.Format(raw, tc.network, tc.bounceable)
		if tc.want != "" && got != tc.want {
			t.Errorf("Format(%s, bounceable=%v) = %s, want %s", tc.network, tc.bounceable, got, tc.want)
		}
		back, err := tonaddr.Parse(got, tc.network)
		if err != nil || !back.Equals(raw) || back.IsBounceable() != tc.bounceable {
			t.Errorf("Parse(Format(...)) = %v, %v", back, err)
		}
	}
	if raw.IsTestnetOnly() || !raw.IsBounceable() {
		t.Fatal("Format modified its argument")
	}
}

func TestParseRawFormShowsTheFriendlyExample(t *testing.T) {
	t.Parallel()
	_, err := tonaddr.Parse("0:7b0527ab5723fdc402a7c69dd0a6a47c24ed872b0661975d33b1fc20eda276f3", config.Testnet)
	if err == nil || !strings.Contains(err.Error(), "0QB7BSerVyP9xAKnxp3QpqR8JO2HKwZhl10zsfwg7aJ281ZR") {
		t.Fatalf("raw form error %v does not show the testnet example", err)
	}
}

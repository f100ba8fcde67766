package paykassma

import "testing"

// Expected hashes were computed outside Go with Python hashlib over the
// literal strings shown (sha1(key + md5hex(s))), not with this package.
func TestWithdrawalSignatureGolden(t *testing.T) {
	// The spec's example request, in its order, key "yourprivatekey".
	a := NewArray().Set("withdrawal_id", "1234567").Set("payment_system", "paytm").Set("amount", 1000).
		Set("currency_code", "INR").Set("label", "55").Set("is_test", false).Set("comment", "withdrawal").
		Set("account_number", "11111111").
		Set("payments_details", NewArray().Set("payments_provider", "56").Set("payments_method", "MOBILE_MONEY")).
		Set("bank_details", NewArray().Set("bank_code", "MAHB0001821").Set("branch_code", "000254").Set("bank_code_in_payments_system", "9393")).
		Set("signature", "ignored")
	for _, tc := range []struct {
		sortNested bool
		str, sig   string
	}{
		// Top-level ksort only, as the spec's PHP does; is_test false → "".
		{false, "11111111:1000:MAHB0001821:000254:9393:withdrawal:INR::55:paytm:56:MOBILE_MONEY:1234567", "d4d72d95681836388ccd726f33946c6a6c597d92"},
		// Every level ksorted (the brief's reading).
		{true, "11111111:1000:MAHB0001821:9393:000254:withdrawal:INR::55:paytm:MOBILE_MONEY:56:1234567", "a92455ed1ba59099c1762ef3b5a08f657575e753"},
	} {
		s, err := WithdrawalSigningString(a, tc.sortNested)
		if err != nil || s != tc.str {
			t.Fatalf("sortNested=%v: signing string %q %v\nwant %q", tc.sortNested, s, err, tc.str)
		}
		sig, err := WithdrawalSignature("yourprivatekey", a, tc.sortNested)
		if err != nil || sig != tc.sig {
			t.Fatalf("sortNested=%v: signature %s, want %s", tc.sortNested, sig, tc.sig)
		}
	}
	if v, _ := a.Get("signature"); v != "ignored" {
		t.Fatal("signing modified its input")
	}
}

func TestPostbackSignatureGolden(t *testing.T) {
	// Deposit: the "transactions" field as it arrives (escaped slash and
	// unicode, 300.00), re-encoded PHP-style to the literal
	// [{"amount":300,...,"from":"a/b",...,"custom_id":"Ωx"}].
	body := `{"transaction_id":"770425808190","transactions":[{"amount":300.00,"currency_code":"INR","wallet_type":"upi_l","transaction_id":"770425808190","transaction_type":0,"from":"a\/b","created_datetime":"2023-09-19 10:25:47","activated_datetime":"2023-09-19 10:25:48","custom_id":"\u03a9x"}]}`
	v, err := JSONDecode([]byte(body), false)
	if err != nil {
		t.Fatal(err)
	}
	tx, _ := v.(*Array).Get("transactions")
	sig, err := PostbackSignature("ak", "pak", tx)
	if err != nil || sig != "08ba66fb32693a92a816080c0e1fe1d81287c8d4" {
		t.Fatalf("deposit signature %s %v", sig, err)
	}
	// Withdrawal: the spec's withdrawal postback, whole body.
	wd := `{"withdrawal_id":"2298635","status":1,"comment":"test","payment_system":"paytm","amount":500,"currency_code":"INR","label":"55","account_number":"5422222225","account_name":"5645646","account_email":null,"payments_details":{"payments_provider":null},"bank_details":{"bank_code":null,"branch_code":null}}`
	w, _ := JSONDecode([]byte(wd), false)
	sig, err = PostbackSignature("ak", "pak", w)
	if err != nil || sig != "ff19438af119ab62cd2ba4b48a7b92151784e870" {
		t.Fatalf("withdrawal signature %s %v", sig, err)
	}
}

func TestMinorMajorConversions(t *testing.T) {
	for _, tc := range []struct {
		in    string
		exp   int
		want  string
		exact bool
	}{
		{"1000.00", 2, "100000", true}, {"187239.195", 2, "18723919", false}, {"-324324.00", 2, "-32432400", true},
		{"-0.005", 2, "-1", false}, {"1.0e+3", 0, "1000", true}, {"74.54470339", 8, "7454470339", true},
	} {
		v, exact, err := MajorToMinor(tc.in, tc.exp)
		if err != nil || v.String() != tc.want || exact != tc.exact {
			t.Errorf("MajorToMinor(%s,%d) = %v %v %v", tc.in, tc.exp, v, exact, err)
		}
	}
	if _, _, err := MajorToMinor("abc", 2); err == nil {
		t.Error("accepted abc")
	}
}

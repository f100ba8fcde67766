package main

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xssnick/tonutils-go/tvm/cell"
)

// takeover-bicycle checks its arguments before it needs any configuration.
func TestTakeoverBicycleArguments(t *testing.T) {
	none := func(string) string { return "" }
	for args, want := range map[string]string{
		"takeover-bicycle":                "--bicycle-db",
		"takeover-bicycle nope":           `unknown takeover-bicycle command "nope"`,
		"takeover-bicycle --bogus":        "flag provided but not defined",
		"takeover-bicycle move-hot extra": `unexpected argument "extra"`,
		"takeover-bicycle --bicycle-db x": "DATABASE_URL", // then the configuration is loaded
	} {
		err := run(context.Background(), strings.Fields(args), none, &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", args, err, want)
		}
	}
	var out strings.Builder
	if err := run(context.Background(), []string{"help"}, none, &out); err != nil || !strings.Contains(out.String(), "takeover-bicycle") {
		t.Fatalf("help does not list takeover-bicycle: %v", err)
	}
}

// --proxy-code takes bicycle's code as a binary or hex bag of cells.
func TestReadBOCFile(t *testing.T) {
	c := cell.BeginCell().MustStoreUInt(0xabcdef, 24).EndCell()
	dir := t.TempDir()
	bin, hexf := filepath.Join(dir, "proxy.boc"), filepath.Join(dir, "proxy.hex")
	boc := c.ToBOCWithFlags(false)
	if err := os.WriteFile(bin, boc, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hexf, []byte(strings.ToUpper(hex.EncodeToString(boc))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{bin, hexf} {
		got, err := readBOCFile(p)
		if err != nil || string(got.Hash()) != string(c.Hash()) {
			t.Fatalf("%s: %v", p, err)
		}
	}
	if _, err := readBOCFile(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing file was read")
	}
}

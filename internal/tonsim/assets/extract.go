package assets

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Paths inside the npm tarballs (npm always roots them at "package/").
const (
	pathWasmJS        = "package/dist/executor/emulator-emscripten.wasm.js"
	pathGlueJS        = "package/dist/executor/emulator-emscripten.js"
	pathDefaultConfig = "package/dist/config/defaultConfig.js"
	pathSlimConfig    = "package/dist/config/slimConfig.js"
	pathJettonMinter  = "package/dist/jetton/contracts/build/jetton-minter.js"
	pathJettonWallet  = "package/dist/jetton/contracts/build/jetton-wallet.js"
)

// CallCtorsSymbol is the name under which the static-constructor export is
// recorded in Exports. The glue calls it anonymously (wasmExports["Ea"]()), so
// the name is ours, chosen to match emscripten's symbol.
const CallCtorsSymbol = "__wasm_call_ctors"

// RequiredExports lists the emscripten symbols a host needs to drive the
// emulator; Fetch refuses a package whose glue does not map all of them.
func RequiredExports() []string {
	return []string{
		CallCtorsSymbol, "_malloc", "_free", "_version",
		"_create_emulator", "_destroy_emulator", "_emulate_with_emulator", "_run_get_method",
		"_setThrew", "__emscripten_tempret_set", "__emscripten_stack_restore", "__emscripten_stack_alloc",
		"_emscripten_stack_get_current", "___cxa_can_catch", "___cxa_get_exception_ptr",
		"___cxa_increment_exception_refcount", "___cxa_decrement_exception_refcount",
	}
}

var (
	// var wasmImports={u:___cxa_begin_catch,v:___cxa_end_catch,...}
	reWasmImports = regexp.MustCompile(`var\s+wasmImports\s*=\s*\{([^{}]*)\}`)
	// one "key:value" entry of that object; the key may be quoted.
	reImportEntry = regexp.MustCompile(`^\s*["']?([A-Za-z_$][\w$]*)["']?\s*:\s*([A-Za-z_$][\w$]*)\s*$`)
	// an assignment chain ending in wasmExports["Y"], e.g.
	// _create_emulator=Module["_create_emulator"]=wasmExports["Fa"]
	reExportChain = regexp.MustCompile(`((?:[A-Za-z_$][\w$]*(?:\[\s*"[^"]+"\s*\])?\s*=\s*)+)wasmExports\[\s*"([^"]+)"\s*\]`)
	// one link of such a chain: either NAME= or Module["NAME"]=
	reChainLink = regexp.MustCompile(`([A-Za-z_$][\w$]*)(?:\[\s*"([^"]+)"\s*\])?\s*=`)
	// the anonymous static-constructor call in initRuntime: wasmExports["Ea"]()
	reCtorsCall = regexp.MustCompile(`wasmExports\[\s*"([^"]+)"\s*\]\(\s*\)`)
	reIdent     = regexp.MustCompile(`^[A-Za-z_$][\w$]*$`)
)

// parseImports derives the minified-import -> emscripten-symbol map from the
// wasmImports object literal of the emscripten JS glue.
func parseImports(glue []byte) (map[string]string, error) {
	ms := reWasmImports.FindAllSubmatch(glue, -1)
	if len(ms) != 1 {
		return nil, fmt.Errorf("expected one `var wasmImports={...}` in the emscripten glue, found %d", len(ms))
	}
	out := map[string]string{}
	for _, ent := range strings.Split(string(ms[0][1]), ",") {
		if strings.TrimSpace(ent) == "" {
			continue
		}
		m := reImportEntry.FindStringSubmatch(ent)
		if m == nil {
			return nil, fmt.Errorf("unexpected wasmImports entry %q", ent)
		}
		if prev, dup := out[m[1]]; dup && prev != m[2] {
			return nil, fmt.Errorf("wasmImports maps %q twice (%s, %s)", m[1], prev, m[2])
		}
		out[m[1]] = m[2]
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("wasmImports is empty")
	}
	return out, nil
}

// parseExports derives the emscripten-symbol -> minified-export map from the
// `X=wasmExports["Y"]` assignments of the glue, plus the anonymous
// static-constructor call, recorded as CallCtorsSymbol.
func parseExports(glue []byte) (map[string]string, error) {
	out := map[string]string{}
	add := func(sym, min string) error {
		if prev, dup := out[sym]; dup && prev != min {
			return fmt.Errorf("glue maps %s to both %q and %q", sym, prev, min)
		}
		out[sym] = min
		return nil
	}
	for _, m := range reExportChain.FindAllSubmatch(glue, -1) {
		min := string(m[2])
		for _, link := range reChainLink.FindAllSubmatch(m[1], -1) {
			sym := string(link[1])
			if len(link[2]) > 0 { // Module["_name"]= : the quoted name is the symbol
				sym = string(link[2])
			}
			if !reIdent.MatchString(sym) || sym == "Module" {
				continue
			}
			if err := add(sym, min); err != nil {
				return nil, err
			}
		}
	}
	if _, ok := out[CallCtorsSymbol]; !ok {
		if min, ok := out["_"+CallCtorsSymbol]; ok { // some emscripten versions name it ___wasm_call_ctors
			out[CallCtorsSymbol] = min
		} else {
			calls := map[string]bool{}
			for _, m := range reCtorsCall.FindAllSubmatch(glue, -1) {
				calls[string(m[1])] = true
			}
			if len(calls) != 1 {
				return nil, fmt.Errorf("cannot identify the static-constructor export: %d anonymous wasmExports[...]() calls", len(calls))
			}
			for min := range calls {
				out[CallCtorsSymbol] = min
			}
		}
	}
	var missing []string
	for _, s := range RequiredExports() {
		if _, ok := out[s]; !ok {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("emscripten glue does not export %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// jsStringField returns the content of the first string literal (quoted with
// ', " or `) assigned to key, where key is the text just before the ':' or
// '=' (e.g. "EmulatorEmscriptenWasm" or "exports.defaultConfig"). The
// payloads are base64, so escapes never occur and are rejected.
func jsStringField(src []byte, key string) ([]byte, error) {
	re := regexp.MustCompile(`(?:^|[^\w$.])` + regexp.QuoteMeta(key) + `\s*[:=]\s*([` + "`" + `'"])`)
	loc := re.FindSubmatchIndex(src)
	if loc == nil {
		return nil, fmt.Errorf("%s not found", key)
	}
	quote := src[loc[2]]
	body := src[loc[3]:]
	end := bytes.IndexByte(body, quote)
	if end < 0 {
		return nil, fmt.Errorf("unterminated string for %s", key)
	}
	body = body[:end]
	if bytes.IndexByte(body, '\\') >= 0 || bytes.Contains(body, []byte("${")) {
		return nil, fmt.Errorf("unexpected escape in %s", key)
	}
	return body, nil
}

// decodeB64Field extracts and base64-decodes a string field (whitespace in
// the literal, e.g. line breaks in a template string, is ignored).
func decodeB64Field(src []byte, key string) ([]byte, error) {
	s, err := jsStringField(src, key)
	if err != nil {
		return nil, err
	}
	clean := strings.Join(strings.Fields(string(s)), "")
	b, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	return b, nil
}

// parseWasmJS decodes the emulator module from emulator-emscripten.wasm.js.
func parseWasmJS(src []byte) ([]byte, error) {
	b, err := decodeB64Field(src, "EmulatorEmscriptenWasm")
	if err != nil {
		return nil, err
	}
	if len(b) < 8 || !bytes.Equal(b[:4], []byte("\x00asm")) {
		return nil, fmt.Errorf("EmulatorEmscriptenWasm is not a wasm module")
	}
	return b, nil
}

// parseBOCField extracts a base64 BOC string field and checks it parses, so a
// broken package is caught at fetch time rather than at first use.
func parseBOCField(src []byte, key string) ([]byte, error) {
	b, err := decodeB64Field(src, key)
	if err != nil {
		return nil, err
	}
	if _, err := cell.FromBOC(b); err != nil {
		return nil, fmt.Errorf("%s is not a valid BOC: %w", key, err)
	}
	return b, nil
}

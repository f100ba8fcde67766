package config

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/ton-custody/processor/internal/money"
)

// gobicycle/bicycle's environment variables (names and formats as its
// configuration documents them), read so that a bicycle deployment's
// environment starts this processor: a bicycle name fills our variable
// when ours is unset, always with a warning naming ours; ours win when
// both are set. Values are converted, never guessed: one that does not
// convert is a problem reported under bicycle's name.

// BicycleVar is one of gobicycle/bicycle's variables and what this
// processor does with it.
type BicycleVar struct {
	// Name is bicycle's variable.
	Name string
	// Ours is the variable it stands in for ("" when it is not read).
	Ours string
	// Read says how the value is taken.
	Read string
}

// bicycleAlias is a bicycle variable read as one of ours.
type bicycleAlias struct {
	BicycleVar
	// convert turns bicycle's value into ours; nil takes it as is.
	convert func(string) (string, error)
}

var bicycleAliases = []bicycleAlias{
	{BicycleVar: BicycleVar{Name: "DB_URI", Ours: EnvDatabaseURL, Read: "as is"}},
	{BicycleVar: BicycleVar{Name: "API_PORT", Ours: EnvAPIListen,
		Read: "port N becomes `:N`: every interface, as bicycle listened (ours defaults to 127.0.0.1)"}, convert: bicyclePort},
	{BicycleVar: BicycleVar{Name: "IS_TESTNET", Ours: EnvTONNetwork,
		Read: "true → testnet, false → mainnet. Unlike bicycle's, ours also picks the default TON_CONFIG"}, convert: bicycleBool("testnet", "mainnet")},
	{BicycleVar: BicycleVar{Name: "DEPOSIT_SIDE_BALANCE", Ours: EnvIncomeCountingSide,
		Read: "true → deposit, false → hot_wallet"}, convert: bicycleBool(string(CountDeposit), string(CountHotWallet))},
	{BicycleVar: BicycleVar{Name: "NETWORK_CONFIG_URL", Ours: EnvTONConfig, Read: "as is (a global config URL)"}},
}

// bicycleTONCutoffs is bicycle's hot_min:hot_max:min_sweep[:residual].
const bicycleTONCutoffs = "TON_CUTOFFS"

// bicycleUnread are bicycle variables with no counterpart: set, they only
// earn a warning saying what to do instead.
var bicycleUnread = []BicycleVar{
	{Name: "LITESERVER", Read: "not read: put the liteserver in a global config file and set TON_CONFIG to it"},
	{Name: "LITESERVER_KEY", Read: "not read (see LITESERVER)"},
	{Name: "LITESERVER_RATE_LIMIT", Read: "not read: no counterpart"},
	{Name: "FORWARD_TON_AMOUNT", Read: "not read: no counterpart"},
	{Name: "PROOF_CHECK_ENABLED", Read: "not read: liteserver answers are always proof-checked"},
}

// BicycleVariables lists bicycle's variables this processor reads or
// warns about, in documentation order.
func BicycleVariables() []BicycleVar {
	var out []BicycleVar
	for _, a := range bicycleAliases {
		out = append(out, a.BicycleVar)
	}
	out = append(out,
		BicycleVar{Name: bicycleTONCutoffs, Ours: EnvTONSweepThreshold + ", " + EnvHotWalletMaxBalance + ", " + EnvHotWalletResidual,
			Read: "min_sweep → TON_SWEEP_THRESHOLD; with COLD_WALLET, hot_max → HOT_WALLET_MAX_BALANCE and residual (default hot_max × 0.95, truncated) → HOT_WALLET_RESIDUAL. hot_min is not read: bicycle only checked it at start, HOT_WALLET_MIN_BALANCE is a reserve kept while paying. Whole nanotons only"},
		BicycleVar{Name: EnvJettons, Ours: EnvJettons,
			Read: "bicycle's SYMBOL:MASTER:hot_max:min_sweep[:residual] is read as SYMBOL:MASTER:min_sweep; refused with COLD_WALLET set, as this processor sends no jettons to the cold wallet"},
		BicycleVar{Name: EnvAllowableLag, Ours: EnvAllowableLag,
			Read: "bicycle's whole seconds (N) are read as Ns, 0 as bicycle's 40s"},
	)
	out = append(out, bicycleNotifyVars...)
	return append(out, bicycleUnread...)
}

// BicycleDoc returns BicycleVariables as a Markdown table for the README.
func BicycleDoc() string {
	var b strings.Builder
	b.WriteString("| bicycle's variable | Read as | How |\n|---|---|---|\n")
	for _, v := range BicycleVariables() {
		ours := ""
		if v.Ours != "" {
			ours = "`" + strings.ReplaceAll(v.Ours, ", ", "`, `") + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", v.Name, ours, strings.ReplaceAll(v.Read, "|", "\\|"))
	}
	return b.String()
}

func (l *loader) warnf(format string, args ...any) {
	l.warnings = append(l.warnings, fmt.Sprintf(format, args...))
}

// bicycleNames reads bicycle's names into the variables the operator left
// unset (l.env holds the raw values, before defaults).
func (l *loader) bicycleNames(getenv func(string) string) {
	for _, a := range bicycleAliases {
		v := strings.TrimSpace(getenv(a.Name))
		if v == "" {
			continue
		}
		if l.env[a.Ours] != "" {
			l.warnf("%s (gobicycle/bicycle's name) is ignored: %s is set and wins; remove %s", a.Name, a.Ours, a.Name)
			continue
		}
		if a.convert != nil {
			c, err := a.convert(v)
			if err != nil {
				l.problemf(a.Name, "%v", err)
				continue
			}
			v = c
		}
		l.env[a.Ours] = v
		shown := ""
		if !l.secret[a.Ours] {
			shown = "=" + v
		}
		l.warnf("%s is gobicycle/bicycle's name: read as %s%s; rename it to %s", a.Name, a.Ours, shown, a.Ours)
	}
	l.bicycleCutoffs(strings.TrimSpace(getenv(bicycleTONCutoffs)))
	l.bicycleJettons()
	l.bicycleLag()
	for _, u := range bicycleUnread {
		if strings.TrimSpace(getenv(u.Name)) != "" {
			l.warnf("%s (gobicycle/bicycle) is %s", u.Name, u.Read)
		}
	}
}

func bicyclePort(v string) (string, error) {
	if _, err := strconv.ParseUint(v, 10, 16); err != nil {
		return "", fmt.Errorf("%q is not a port number 0-65535", v)
	}
	return ":" + v, nil
}

func bicycleBool(yes, no string) func(string) (string, error) {
	return func(v string) (string, error) {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return "", fmt.Errorf("%q is not true or false", v)
		}
		if b {
			return yes, nil
		}
		return no, nil
	}
}

// bicycleCutoffs reads TON_CUTOFFS (hot_min:hot_max:min_sweep[:residual]).
func (l *loader) bicycleCutoffs(v string) {
	if v == "" {
		return
	}
	parts := strings.Split(v, ":")
	if len(parts) != 3 && len(parts) != 4 {
		l.problemf(bicycleTONCutoffs, "%q must be hot_min:hot_max:min_sweep[:residual]", v)
		return
	}
	names := []string{"hot_min", "hot_max", "min_sweep", "residual"}
	vals := make([]*big.Int, 4)
	for i, p := range parts {
		n, err := money.ParseNonNegative(strings.TrimSpace(p))
		if err != nil {
			l.problemf(bicycleTONCutoffs, "%s: %v (whole nanotons)", names[i], err)
			return
		}
		vals[i] = n
	}
	if vals[3] == nil { // bicycle's default residual: 95% of hot_max, truncated
		vals[3] = new(big.Int).Div(new(big.Int).Mul(vals[1], big.NewInt(95)), big.NewInt(100))
	}
	set := func(ours, what string, n *big.Int) {
		if l.env[ours] != "" {
			l.warnf("%s: %s is ignored: %s is set and wins", bicycleTONCutoffs, what, ours)
			return
		}
		l.env[ours] = n.String()
		l.warnf("%s (gobicycle/bicycle): %s read as %s=%s; set %s instead", bicycleTONCutoffs, what, ours, n, ours)
	}
	set(EnvTONSweepThreshold, "min_sweep", vals[2])
	if l.env[EnvColdWallet] != "" {
		set(EnvHotWalletMaxBalance, "hot_max", vals[1])
		set(EnvHotWalletResidual, "residual", vals[3])
	} else {
		l.warnf("%s: hot_max and residual are not read without COLD_WALLET (bicycle did not use them either)", bicycleTONCutoffs)
	}
	l.warnf("%s: hot_min (%s) is not read: bicycle checked it only at start; %s is a reserve kept while paying withdrawals",
		bicycleTONCutoffs, vals[0], EnvHotWalletMinBalance)
}

// bicycleJettons rewrites bicycle's JETTONS entries
// (SYMBOL:MASTER:hot_max:min_sweep[:residual], MASTER user-friendly) as
// ours (SYMBOL:MASTER:SWEEP_THRESHOLD). Ours has three parts, or four with
// a raw master (workchain:hex), so a fourth part that is not a workchain
// number, or a fifth, is bicycle's.
func (l *loader) bicycleJettons() {
	v := l.env[EnvJettons]
	if v == "" {
		return
	}
	entries := strings.Split(v, ",")
	var out []string // entries as ours; a refused one is left out so it is reported once
	changed := false
	for i, e := range entries {
		parts := strings.Split(strings.TrimSpace(e), ":")
		bicycle := len(parts) == 5
		if len(parts) == 4 {
			_, err := strconv.ParseInt(strings.TrimSpace(parts[1]), 10, 32)
			bicycle = err != nil
		}
		if !bicycle {
			out = append(out, e)
			continue
		}
		sym := strings.TrimSpace(parts[0])
		if l.env[EnvColdWallet] != "" {
			l.problemf(EnvJettons, "entry %d (%s) is in gobicycle/bicycle's form SYMBOL:MASTER:hot_max:min_sweep[:residual]: "+
				"this processor sends only TON to COLD_WALLET, so %s above hot_max would stay on the hot wallet; "+
				"write %s:MASTER:min_sweep to accept that", i+1, sym, sym, sym)
			changed = true
			continue
		}
		ours := sym + ":" + strings.TrimSpace(parts[1]) + ":" + strings.TrimSpace(parts[3])
		out = append(out, ours)
		changed = true
		l.warnf("JETTONS entry %d (%s) is in gobicycle/bicycle's form: read as SYMBOL:MASTER:min_sweep (hot_max and residual are not used without COLD_WALLET); write it as %s",
			i+1, sym, ours)
	}
	if changed {
		l.env[EnvJettons] = strings.Join(out, ",")
	}
}

// bicycleLagDefault is what bicycle's ALLOWABLE_LAG=0 means.
const bicycleLagDefault = "40s"

// bicycleLag reads bicycle's ALLOWABLE_LAG, whole seconds, as a duration.
func (l *loader) bicycleLag() {
	v := l.env[EnvAllowableLag]
	if v == "" || strings.TrimLeft(v, "0123456789") != "" {
		return
	}
	n, err := strconv.ParseUint(v, 10, 31)
	if err != nil {
		return // the duration check reports it
	}
	d := v + "s"
	if n == 0 {
		d = bicycleLagDefault
	}
	l.env[EnvAllowableLag] = d
	l.warnf("ALLOWABLE_LAG=%s is gobicycle/bicycle's form (seconds): read as %s; write %s", v, d, d)
}

package bridge

import (
	"fmt"
	"strings"
	"time"
)

// coreVars documents the bridge's own variables (per-provider ones come
// from each registered Driver's Settings).
var coreVars = []struct{ name, def, desc string }{
	{EnvProviders, "", "Comma-separated providers to enable (registered: %s)."},
	{EnvConfigFile, "", `Optional JSON file {"providers":{"NAME":{"enabled":true,"base_url":"...","timeout":"15s","settings":{...}}}}; environment variables win over it.`},
	{EnvPublicURL, "", "Public base URL of this processor; provider callbacks go to it + /v1/bridge/callbacks/NAME."},
	{EnvReconcileInterval, DefaultReconcileInterval.String(), "How often payments in an open or unknown state are asked about at their provider."},
	{EnvUnknownGiveUp, DefaultUnknownGiveUp.String(), "Age after which an unknown payment (a create call whose outcome we never learned) is decided: failed if its provider definitely says it has no such payment; otherwise (no answer yet, e.g. Paykassma before its postback, or the status call failing) it stays unknown and is flagged needs_attention for a person (ERROR log, metric processor_bridge_payments_attention_total{reason=\"no_definite_answer\"}). Lack of news never fails a payment."},
	{EnvReversalWatch, DefaultReversalWatch.String(), "How long after its success a payment of a provider whose status call reports reversals (payfield: refunded) is still polled, at growing intervals up to " + DefaultReversalMaxBackoff.String() + ", so a refund or chargeback whose callback was lost is still learned (status reversed, webhook event, exactly as from a callback). 0 turns the watch off."},
	{EnvNemoSecret, "", "HMAC secret of Nemo.travel's counterparty-balance call; empty: the call is off. Secret: never logged."},
	{EnvNemoCompanies, "", "Nemo company ids and the provider balances each sees, e.g. 1001=payfield:RUB,1002=payfield:RUB+highhelp:RUB."},
	{EnvNemoAmountFormat, "major", "Amounts in Nemo answers: major (e.g. 12.50) or minor (1250)."},
}

// Doc returns the bridge's environment variables, the core ones and those
// of every registered driver, as a Markdown table like config.Doc.
func Doc() string {
	var b strings.Builder
	b.WriteString("| Variable | Default | Description |\n|---|---|---|\n")
	row := func(name, def, desc string) {
		if def != "" {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", name, def, strings.ReplaceAll(desc, "|", "\\|"))
	}
	names := DriverNames()
	for _, v := range coreVars {
		desc := v.desc
		if strings.Contains(desc, "%s") {
			desc = fmt.Sprintf(desc, strings.Join(names, ", "))
		}
		row(v.name, v.def, desc)
	}
	for _, n := range names {
		d, _ := LookupDriver(n)
		row(ProviderVar(n, "ENABLED"), "true", "Turns the provider off without removing its settings.")
		row(ProviderVar(n, "BASE_URL"), "", "Provider API base URL (required).")
		row(ProviderVar(n, "TIMEOUT"), DefaultTimeout.Round(time.Second).String(), "Timeout of one provider call.")
		for _, s := range d.Settings {
			desc := s.Description
			if s.Required {
				desc = "Required. " + desc
			}
			if s.Secret {
				desc += " Secret: never logged."
			}
			row(ProviderVar(n, s.Key), s.Default, desc)
		}
	}
	return b.String()
}

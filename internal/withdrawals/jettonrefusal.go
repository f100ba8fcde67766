package withdrawals

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// exitContractLocked is the exit code of a USDT-style jetton wallet that
// its jetton's admin locked (error::contract_locked).
const exitContractLocked = 45

// newHotRefusedCounter counts withdrawal transfers our hot jetton wallet
// refused. Any refusal means no withdrawal of that jetton can be paid
// until someone acts (the HotJettonWalletRefuses alert): a lock by the
// jetton's admin (exit code 45), or a balance the processor misjudged.
// It counts in the scanner's transaction, so a retried scanner batch may
// count twice.
func newHotRefusedCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "processor_hot_jetton_wallet_refused_total",
		Help: "Withdrawal jetton transfers the hot jetton wallet refused (exit code 45: the jetton's admin locked it), by currency."},
		[]string{"currency"})
}

// hotRefusalReason is a withdrawal's fail reason when the hot jetton wallet
// refused its transfer with exit code code (-1: not computed).
func hotRefusalReason(code int32) string {
	r := fmt.Sprintf("jetton transfer failed in the hot jetton wallet (exit code %d)", code)
	if code == exitContractLocked {
		r += ": the jetton's admin has locked the hot jetton wallet; nothing left it"
	}
	return r
}

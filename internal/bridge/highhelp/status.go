package highhelp

import (
	"strings"

	"github.com/ton-custody/processor/internal/bridge"
)

// RawStatus joins HighHelp's status and sub status as "status:sub_status"
// (just "status" when there is no sub status).
func RawStatus(status, sub string) string {
	if sub == "" {
		return status
	}
	return status + ":" + sub
}

// MapStatus maps HighHelp's status and sub status to the bridge model:
//
//	success                 → succeeded
//	decline                 → failed
//	processing:requisites   → action_required (payins: the payer pays to the shown requisites)
//	processing:awaiting_*   → action_required (payins: confirm, 3DS, redirect)
//	processing:<other>      → processing (and every processing sub status of a payout)
//	dispute:<any>           → under_review
//	error                   → rejected
//
// An unrecognized status maps to processing: never terminal, so
// reconciliation keeps asking.
func MapStatus(kind bridge.Kind, status, sub string) bridge.Status {
	switch status {
	case "success":
		return bridge.StatusSucceeded
	case "decline":
		return bridge.StatusFailed
	case "error":
		return bridge.StatusRejected
	case "dispute":
		return bridge.StatusUnderReview
	case "processing":
		if kind == bridge.Payin && (sub == "requisites" || strings.HasPrefix(sub, "awaiting_")) {
			return bridge.StatusActionRequired
		}
		return bridge.StatusProcessing
	}
	return bridge.StatusProcessing
}

package highhelp

import (
	"testing"

	"github.com/ton-custody/processor/internal/bridge"
)

func TestStatusMappingTable(t *testing.T) {
	for _, tc := range []struct {
		kind        bridge.Kind
		status, sub string
		want        bridge.Status
	}{
		{bridge.Payin, "success", "", bridge.StatusSucceeded},
		{bridge.Payout, "success", "", bridge.StatusSucceeded},
		{bridge.Payin, "decline", "", bridge.StatusFailed},
		{bridge.Payin, "error", "", bridge.StatusRejected},
		{bridge.Payin, "processing", "new", bridge.StatusProcessing},
		{bridge.Payin, "processing", "requisites", bridge.StatusActionRequired},
		{bridge.Payin, "processing", "awaiting_confirm", bridge.StatusActionRequired},
		{bridge.Payin, "processing", "awaiting_3ds_result", bridge.StatusActionRequired},
		{bridge.Payin, "processing", "awaiting_redirect_result", bridge.StatusActionRequired},
		{bridge.Payin, "processing", "sent_verification", bridge.StatusProcessing},
		{bridge.Payin, "processing", "invalid_verification", bridge.StatusProcessing},
		{bridge.Payin, "processing", "paid", bridge.StatusProcessing},
		{bridge.Payout, "processing", "payout_process", bridge.StatusProcessing},
		{bridge.Payout, "processing", "requisites", bridge.StatusProcessing},
		{bridge.Payout, "processing", "awaiting_confirm", bridge.StatusProcessing},
		{bridge.Payin, "dispute", "no_payment", bridge.StatusUnderReview},
		{bridge.Payin, "dispute", "different_amount", bridge.StatusUnderReview},
		{bridge.Payin, "dispute", "confirm_timeout", bridge.StatusUnderReview},
		{bridge.Payout, "dispute", "incorrect_requisites", bridge.StatusUnderReview},
		{bridge.Payout, "dispute", "payout_failed", bridge.StatusUnderReview},
		{bridge.Payin, "brand_new_status", "x", bridge.StatusProcessing},
	} {
		if got := MapStatus(tc.kind, tc.status, tc.sub); got != tc.want {
			t.Errorf("%s %s:%s = %s, want %s", tc.kind, tc.status, tc.sub, got, tc.want)
		}
	}
	if RawStatus("processing", "new") != "processing:new" || RawStatus("success", "") != "success" {
		t.Error("RawStatus")
	}
	for st, kind := range map[string]string{"success": KindSuccess, "decline": KindDecline, "processing": KindInformative, "dispute": KindInformative} {
		if CallbackKind(st) != kind {
			t.Errorf("CallbackKind(%s)", st)
		}
	}
}

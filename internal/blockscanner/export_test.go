package blockscanner

import dto "github.com/prometheus/client_model/go"

// SetCrashHook lets tests inject crashes at named points of a batch.
func SetCrashHook(s *Scanner, f func(point string) error) { s.crash = f }

// CursorSeqno is the last masterchain seqno the scanner committed (its
// processor_scanner_last_seqno gauge; 0 before the first batch), read
// cheaply enough to sample often.
func CursorSeqno(s *Scanner) uint32 {
	var m dto.Metric
	if err := s.m.lastSeqno.Write(&m); err != nil {
		return 0
	}
	return uint32(m.GetGauge().GetValue())
}

// HistorySQL are the deposit history queries by name, for plan checks:
// $1 user, $2 currency, $3 limit, then $4 offset (first pages) or $4, $5
// the key to start after.
var HistorySQL = map[string]string{
	"desc": historyDescSQL, "asc": historyAscSQL,
	"page desc": historyPageDescSQL, "page asc": historyPageAscSQL,
	"page desc after": historyPageDescAfterSQL, "page asc after": historyPageAscAfterSQL,
}

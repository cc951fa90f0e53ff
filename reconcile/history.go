package reconcile

import "slices"

// History is one secret's journal records for the questions a reconcile and a drift scan ask every time
// (Replay, LastApplied, LastRolledBack, LastRerollRolledBack, PendingRevocations, the last end), with the
// values its oldest, folded history revoked kept aside as a sorted set instead of as records: a year of
// rotations is thousands of them, and only "was this value revoked" reads them.
type History struct {
	Records []Record
	// FoldedRevoked are the fingerprints the folded history revoked, sorted; Records hold none of them
	// but the last, which keeps the answers above what they are over the whole history.
	FoldedRevoked []string
}

// Revoked says whether fp is a value a finished rotation revoked: one of the folded ones, or one that
// Revoked finds in Records.
func (h History) Revoked(fp string) bool {
	if fp == "" {
		return false
	}
	if _, ok := slices.BinarySearch(h.FoldedRevoked, fp); ok {
		return true
	}
	return Revoked(h.Records)[fp]
}

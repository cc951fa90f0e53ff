package postgres

import (
	"sort"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

//go:generate python3 saslprep_tables.py saslprep_tables.go

// runeRange is an inclusive range of code points.
type runeRange struct{ lo, hi rune }

func in(table []runeRange, r rune) bool {
	i := sort.Search(len(table), func(i int) bool { return table[i].hi >= r })
	return i < len(table) && table[i].lo <= r
}

// saslprep prepares a password the way PostgreSQL's pg_saslprep does, on the server and in libpq alike,
// before SCRAM hashes it: SASLprep (RFC 4013) when the password is valid UTF-8 and passes the profile's
// checks, the password unchanged otherwise. Matching PostgreSQL exactly matters more than matching the
// RFC: a verifier rekey computes must accept what libpq sends for the same password. So, like
// pg_saslprep:
//   - pure ASCII is returned as it is (control characters included);
//   - invalid UTF-8, a password mapped to nothing, a prohibited or unassigned (Unicode 3.2) character,
//     or a bidi violation all fall back to the raw bytes;
//   - the prohibited-character and bidi checks look at the string after the mapping step but before
//     NFKC normalisation, as pg_saslprep does.
func saslprep(password string) string {
	ascii := true
	for i := 0; i < len(password); i++ {
		if password[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii || !utf8.ValidString(password) {
		return password
	}
	// 1) Map: non-ASCII spaces to SPACE, "commonly mapped to nothing" removed.
	mapped := make([]rune, 0, len(password))
	for _, r := range password {
		switch {
		case in(nonASCIISpace, r):
			mapped = append(mapped, ' ')
		case in(mappedToNothing, r):
		default:
			mapped = append(mapped, r)
		}
	}
	if len(mapped) == 0 {
		return password
	}
	// 3) Prohibit, and 4) bidi, on the mapped string (see above).
	randAL := false
	for _, r := range mapped {
		if in(prohibitedOutput, r) || in(unassigned, r) {
			return password
		}
		if in(randALCat, r) {
			randAL = true
		}
	}
	if randAL {
		for _, r := range mapped {
			if in(lCat, r) {
				return password
			}
		}
		if !in(randALCat, mapped[0]) || !in(randALCat, mapped[len(mapped)-1]) {
			return password
		}
	}
	// 2) Normalise: NFKC.
	return norm.NFKC.String(string(mapped))
}

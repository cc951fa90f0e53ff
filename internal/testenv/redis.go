package testenv

import (
	"strconv"
	"strings"
)

// RedisAuthFailures counts the failed logins in the output of `ACL LOG` printed by redis-cli in raw
// mode (one field or value a line): the sum of the count of every entry with reason auth, except those
// of the user except ("" for none) — Redis groups repeated failures into one entry with a count.
func RedisAuthFailures(aclLog, except string) int {
	lines := strings.Split(aclLog, "\n")
	total, count := 0, 0
	reason := ""
	for i := 0; i+1 < len(lines); i++ {
		next := strings.TrimSpace(lines[i+1])
		switch strings.TrimSpace(lines[i]) {
		case "count": // the first field of an entry
			count, _ = strconv.Atoi(next)
			reason = ""
		case "reason":
			reason = next
		case "username":
			if reason == "auth" && (except == "" || next != except) {
				total += count
			}
		}
	}
	return total
}

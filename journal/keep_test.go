package journal

import "testing"

// TestOpenKeepsTheStoredRetention: a journal opened without WithRetention keeps the retention it was last
// pruned with (a `status` must not re-prune what the agent's --journal-retention keeps), and a new one
// gets the default.
func TestOpenKeepsTheStoredRetention(t *testing.T) {
	dir := t.TempDir()
	open := func(opts ...Option) int {
		t.Helper()
		j, err := Open(dir, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		return j.Retention()
	}
	if got := open(); got != DefaultRetention {
		t.Fatalf("new journal: retention %d, want %d", got, DefaultRetention)
	}
	if got := open(WithRetention(50)); got != 50 {
		t.Fatalf("WithRetention(50): %d", got)
	}
	if got := open(); got != 50 {
		t.Errorf("reopened without the option: retention %d, want the stored 50", got)
	}
	if got := open(WithRetention(0)); got != 0 {
		t.Fatalf("WithRetention(0): %d", got)
	}
	if got := open(); got != 0 {
		t.Errorf("reopened without the option: retention %d, want the stored 0 (keep everything)", got)
	}
}

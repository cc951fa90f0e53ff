package config

import (
	"strings"
	"testing"
	"time"
)

// TestServicesStrategy: services.<name>.strategy defaults to auto; start-first and stop-first are read with
// their drain; a bad entry is one precise error with its line.
func TestServicesStrategy(t *testing.T) {
	c, err := Parse("rekey.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.RollStrategy("app"); got != RollAuto {
		t.Errorf("default strategy = %q", got)
	}
	ok := good + "services:\n  app:\n    strategy: start-first\n    drain: {exec: [\"/demoapp\", \"drain\"], wait: 2s}\n  db:\n    strategy: stop-first\n"
	c, err = Parse("rekey.yaml", []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if c.RollStrategy("app") != RollStartFirst || c.RollStrategy("db") != RollStopFirst || c.RollStrategy("worker") != RollAuto {
		t.Errorf("strategies = %q %q %q", c.RollStrategy("app"), c.RollStrategy("db"), c.RollStrategy("worker"))
	}
	if d := c.DrainOf("app"); d == nil || d.Wait.Duration != 2*time.Second || strings.Join(d.Exec, " ") != "/demoapp drain" {
		t.Errorf("drain = %+v", d)
	}
	if c.DrainOf("db") != nil {
		t.Errorf("db has a drain")
	}
	for bad, want := range map[string]string{
		"services:\n  app:\n    strategy: blue-green\n":                        `rekey.yaml:26: service app: unknown strategy "blue-green" (want auto, start-first or stop-first)`,
		"services:\n  app:\n    strategy: stop-first\n    drain: {wait: 1s}\n": `rekey.yaml:27: service app: drain needs start-first or auto`,
		"services:\n  app:\n    drain: {exec: []}\n":                           `rekey.yaml:26: service app: drain.exec needs a command`,
		"services:\n  app:\n    drain: {wait: 1h}\n":                           `rekey.yaml:26: service app: drain.wait 1h0m0s is longer than 10m`,
		"services:\n  app:\n    stratgy: start-first\n":                        `rekey.yaml:26: field stratgy is not a known field of a service`,
		"services:\n  app:\n":                                                  `rekey.yaml:25: service app: empty entry`,
	} {
		_, err := Parse("rekey.yaml", []byte(good+bad))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", bad, err, want)
		}
	}
}

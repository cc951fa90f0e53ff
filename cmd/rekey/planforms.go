package main

import (
	"fmt"
	"io"

	"github.com/rekeyhq/rekey/reconcile"
)

// printForms lists a secret's derived locations with the fingerprint of the form written there (never
// the form) and whether it is the form of Git's value.
func printForms(w io.Writer, forms []reconcile.FormState) {
	for _, f := range forms {
		state := "differs from Git's value"
		switch {
		case f.FormFP == "":
			f.FormFP, state = "(missing)", "to be written"
		case f.InSync:
			state = "in-sync"
		}
		fmt.Fprintf(w, "  %s: form %s, %s\n", f.Location, f.FormFP, state)
	}
}

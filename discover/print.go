package discover

import (
	"fmt"
	"io"
	"strings"
)

// Print writes the text report.
func Print(w io.Writer, rep Report) {
	fmt.Fprintf(w, "compose project %s in %s\n", rep.Project, rep.ProjectDir)
	fmt.Fprintf(w, "wrote %s (%d secrets, values encrypted to %d recipient(s))\n", strings.Join(rep.Files, ", "), len(rep.Secrets), len(rep.Recipients))
	fmt.Fprintln(w, "\nsecrets:")
	for _, s := range rep.Secrets {
		where := s.Var
		if s.Previous != "" {
			where += " + " + s.Previous
		}
		if s.File != "" {
			where = s.File
		}
		kind := s.Kind
		if s.Bootstrap {
			kind += ", BOOTSTRAP-ONLY"
		}
		fmt.Fprintf(w, "  %s  type %s (%s; found by %s)\n", s.Name, s.Type, kind, s.Why)
		fmt.Fprintf(w, "    lives in: %s at %s\n", where, strings.Join(s.Sources, ", "))
		fmt.Fprintf(w, "    consumers: %s\n", orName(strings.Join(s.Consumers, "; "), "(none in compose)"))
		if len(s.BootstrapReaders) > 0 {
			fmt.Fprintf(w, "    read only at initialisation or install by: %s (not rolled)\n", strings.Join(s.BootstrapReaders, ", "))
		}
		fmt.Fprintf(w, "    rotation: %s (%s)\n", s.Rotation, s.RotationReason)
		printServer(w, s, rep.Servers)
		if len(s.Derived) > 0 {
			fmt.Fprintf(w, "    derived: %s (rendered from its value: template in rekey.yaml)\n", strings.Join(s.Derived, ", "))
		}
		for _, h := range s.HostFiles {
			fmt.Fprintf(w, "    host file: %s (key %s)\n", h, s.Var)
		}
	}
	if len(rep.Skipped) > 0 {
		fmt.Fprintln(w, "\nleft out:")
		for _, k := range rep.Skipped {
			fmt.Fprintf(w, "  - %s: %s\n", k.Name, k.Reason)
		}
	}
	if len(rep.Hidden) > 0 {
		fmt.Fprintln(w, "\nhidden dependencies:")
		for _, h := range rep.Hidden {
			if h.Secret != "" && !strings.Contains(h.Note, h.Secret) {
				fmt.Fprintf(w, "  - %s (%s): %s\n", h.Kind, h.Secret, h.Note)
				continue
			}
			fmt.Fprintf(w, "  - %s: %s\n", h.Kind, h.Note)
		}
	}
	for _, n := range rep.ScanNotes {
		fmt.Fprintf(w, "scan: %s\n", n)
	}
	if rep.AgeKeyFile != "" {
		fmt.Fprintf(w, "\nnew age identity: %s (public key %s)\n", rep.AgeKeyFile, rep.Recipients[len(rep.Recipients)-1])
		fmt.Fprintln(w, "  This key decrypts every value. Do NOT commit it: keep it outside the repository, back it up offline")
		fmt.Fprintln(w, "  (a password manager or printed copy), and give it to rekey with --age-key-file (or $SOPS_AGE_KEY_FILE)")
		fmt.Fprintln(w, "  on the host that runs rekey. Losing it means the values file cannot be decrypted.")
	}
	fmt.Fprintln(w, "\nnext steps:")
	for i, s := range rep.NextSteps {
		fmt.Fprintf(w, "  %d. %s\n", i+1, s)
	}
}

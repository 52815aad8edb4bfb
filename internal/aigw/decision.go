package aigw

import "strings"

// Decision is what the API server (or the CLI) should do with an object.
type Decision struct {
	Allowed  bool
	Warnings []string
	Denial   string
}

// Decide applies mode: in enforce mode a conflict denies the object; in warn mode the object is
// allowed unchanged and each conflict becomes a warning.
func Decide(conflicts, warnings []string, mode Mode) Decision {
	if len(conflicts) == 0 {
		return Decision{Allowed: true, Warnings: warnings}
	}
	if mode == ModeWarn {
		w := append([]string{}, warnings...)
		for _, c := range conflicts {
			w = append(w, c+" (allowed unchanged: mode warn)")
		}
		return Decision{Allowed: true, Warnings: w}
	}
	return Decision{Denial: strings.Join(conflicts, "; "), Warnings: warnings}
}

package webhook

// The chart's alerts take increase() of the error counters: a series that first appears at 1
// has no increase, so each error series exists at 0 from the start.
func init() {
	for _, outcome := range []string{"synced", "unowned", "error"} {
		caSyncOutcomes.WithLabelValues(outcome)
	}
	nicReloads.WithLabelValues("error")
	restarts.WithLabelValues("error")
}

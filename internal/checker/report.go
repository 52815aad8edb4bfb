package checker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// Report is the outcome of a check; as JSON (-o json):
//
//	{"checks": [{"section", "namespace", "object", "status": "ok|warning|error", "message", "fix", "rule": "RULE_ID or empty"}],
//	 "summary": {"ok", "warnings", "errors", "namespaces": [...]}}
type Report struct {
	Checks  []Check `json:"checks"`
	Summary Summary `json:"summary"`
}

// Summary counts the checks by status and names the namespaces checked.
type Summary struct {
	OK         int      `json:"ok"`
	Warnings   int      `json:"warnings"`
	Errors     int      `json:"errors"`
	Namespaces []string `json:"namespaces"`
}

func newReport(checks []Check, namespaces []string) *Report {
	r := &Report{Checks: checks, Summary: Summary{Namespaces: namespaces}}
	if r.Checks == nil {
		r.Checks = []Check{}
	}
	if r.Summary.Namespaces == nil {
		r.Summary.Namespaces = []string{}
	}
	for _, c := range checks {
		switch c.Status {
		case StatusOK:
			r.Summary.OK++
		case StatusWarning:
			r.Summary.Warnings++
		case StatusError:
			r.Summary.Errors++
		}
	}
	return r
}

// Failed reports whether anything is broken (warnings are not).
func (r *Report) Failed() bool { return r.Summary.Errors > 0 }

var marks = map[Status]string{StatusOK: "✓", StatusWarning: "⚠", StatusError: "✗"}

// WriteText prints the checks grouped by namespace (cluster-wide ones last) and section, one line
// per check with its fix underneath, then the summary.
func (r *Report) WriteText(w io.Writer) error {
	var groups []string
	byGroup := map[string][]Check{}
	for _, c := range r.Checks {
		if _, ok := byGroup[c.Namespace]; !ok && c.Namespace != "" {
			groups = append(groups, c.Namespace)
		}
		byGroup[c.Namespace] = append(byGroup[c.Namespace], c)
	}
	if len(byGroup[""]) > 0 {
		groups = append(groups, "")
	}
	// Written as it goes: a whole cluster's report is tens of MB as one string.
	b := bufio.NewWriter(w)
	for _, g := range groups {
		if g == "" {
			b.WriteString("cluster-wide\n")
		} else {
			fmt.Fprintf(b, "namespace %s\n", g)
		}
		section := ""
		for _, c := range byGroup[g] {
			if c.Section != section {
				section = c.Section
				fmt.Fprintf(b, "  %s\n", section)
			}
			fmt.Fprintf(b, "    %s %s: %s\n", marks[c.Status], c.Object, c.Message)
			if c.Fix != "" && c.Status != StatusOK {
				fmt.Fprintf(b, "        fix: %s\n", c.Fix)
			}
		}
	}
	verdict := "the NIC → aigw mTLS wiring is complete"
	if r.Failed() {
		verdict = "the NIC → aigw mTLS wiring is broken"
	}
	fmt.Fprintf(b, "\n%s %d ok, %s %d warning(s), %s %d error(s): %s\n",
		marks[StatusOK], r.Summary.OK, marks[StatusWarning], r.Summary.Warnings, marks[StatusError], r.Summary.Errors, verdict)
	return b.Flush()
}

// WriteJSON prints the report as one indented JSON document, one check at a time (as
// json.Encoder with SetIndent("", "  ") would print it whole).
func (r *Report) WriteJSON(w io.Writer) error {
	b := bufio.NewWriter(w)
	b.WriteString("{\n  \"checks\": [")
	for i := range r.Checks {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n    ")
		if err := writeIndented(b, r.Checks[i], "    "); err != nil {
			return err
		}
	}
	if len(r.Checks) > 0 {
		b.WriteString("\n  ")
	}
	b.WriteString("],\n  \"summary\": ")
	if err := writeIndented(b, r.Summary, "  "); err != nil {
		return err
	}
	b.WriteString("\n}\n")
	return b.Flush()
}

func writeIndented(b *bufio.Writer, v any, prefix string) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent(prefix, "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := b.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	return err
}

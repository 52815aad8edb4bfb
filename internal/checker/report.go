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
		r.Summary.count(c)
	}
	return r
}

func (s *Summary) count(c Check) {
	switch c.Status {
	case StatusOK:
		s.OK++
	case StatusWarning:
		s.Warnings++
	case StatusError:
		s.Errors++
	}
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
	b := bufio.NewWriter(w)
	for _, g := range groups {
		writeGroup(b, g, byGroup[g])
	}
	writeVerdict(b, r.Summary)
	return b.Flush()
}

// writeGroup prints the checks of one namespace ("": cluster-wide) under its name, each section
// named when it changes.
func writeGroup(b *bufio.Writer, namespace string, checks ...[]Check) {
	if namespace == "" {
		b.WriteString("cluster-wide\n")
	} else {
		fmt.Fprintf(b, "namespace %s\n", namespace)
	}
	section := ""
	for _, cs := range checks {
		for _, c := range cs {
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
}

func writeVerdict(b *bufio.Writer, s Summary) {
	verdict := "the NIC → aigw mTLS wiring is complete"
	if s.Errors > 0 {
		verdict = "the NIC → aigw mTLS wiring is broken"
	}
	fmt.Fprintf(b, "\n%s %d ok, %s %d warning(s), %s %d error(s): %s\n",
		marks[StatusOK], s.OK, marks[StatusWarning], s.Warnings, marks[StatusError], s.Errors, verdict)
}

// WriteJSON prints the report as one indented JSON document (as json.Encoder with
// SetIndent("", "  ") would print it).
func (r *Report) WriteJSON(w io.Writer) error {
	j := NewJSONWriter(w)
	if err := j.Begin(r.Checks, nil); err != nil {
		return err
	}
	return j.End(r.Summary.Namespaces)
}

// TextWriter is a Sink printing what WriteText prints of the same checks, each namespace as soon
// as it is checked: the later checks that concern a namespace join its group, the cluster-wide
// ones come last.
type TextWriter struct {
	b           *bufio.Writer
	summary     Summary
	cluster     []Check            // cluster-wide, printed last
	lateCluster []Check            // the later cluster-wide ones, after those
	late        map[string][]Check // the later ones of each namespace, printed with it
	order       []string           // namespaces of late, in order
	printed     map[string]bool
}

func NewTextWriter(w io.Writer) *TextWriter {
	return &TextWriter{b: bufio.NewWriter(w), late: map[string][]Check{}, printed: map[string]bool{}}
}

func (t *TextWriter) Begin(cluster, late []Check) error {
	for _, c := range late {
		t.summary.count(c)
		if c.Namespace == "" {
			t.lateCluster = append(t.lateCluster, c)
			continue
		}
		if _, ok := t.late[c.Namespace]; !ok {
			t.order = append(t.order, c.Namespace)
		}
		t.late[c.Namespace] = append(t.late[c.Namespace], c)
	}
	return t.Namespace(cluster)
}

// Namespace prints the checks of one namespace (each namespace among them, should there be
// several, under its own name); cluster-wide ones wait for End. A namespace given again later
// would be printed again under its name: Stream gives each once.
func (t *TextWriter) Namespace(checks []Check) error {
	var order []string
	own := map[string][]Check{}
	for _, c := range checks {
		t.summary.count(c)
		if c.Namespace == "" {
			t.cluster = append(t.cluster, c)
			continue
		}
		if _, ok := own[c.Namespace]; !ok {
			order = append(order, c.Namespace)
		}
		own[c.Namespace] = append(own[c.Namespace], c)
	}
	for _, ns := range order {
		writeGroup(t.b, ns, own[ns], t.late[ns])
		t.printed[ns] = true
	}
	_, err := t.b.Write(nil) // the first write error, if any, so that Stream stops at once
	return err
}

func (t *TextWriter) End([]string) error {
	for _, ns := range t.order {
		if !t.printed[ns] {
			writeGroup(t.b, ns, t.late[ns])
		}
	}
	if len(t.cluster)+len(t.lateCluster) > 0 {
		writeGroup(t.b, "", t.cluster, t.lateCluster)
	}
	writeVerdict(t.b, t.summary)
	return t.b.Flush()
}

// Failed reports whether an error was printed.
func (t *TextWriter) Failed() bool { return t.summary.Errors > 0 }

// JSONWriter is a Sink printing what WriteJSON prints of the same checks, a check at a time.
type JSONWriter struct {
	b       *bufio.Writer
	summary Summary
	late    []Check
	n       int
	err     error
}

func NewJSONWriter(w io.Writer) *JSONWriter {
	return &JSONWriter{b: bufio.NewWriter(w)}
}

func (j *JSONWriter) Begin(cluster, late []Check) error {
	j.b.WriteString("{\n  \"checks\": [")
	j.late = late
	return j.Namespace(cluster)
}

func (j *JSONWriter) Namespace(checks []Check) error {
	for i := range checks {
		if j.err != nil {
			return j.err
		}
		j.summary.count(checks[i])
		if j.n > 0 {
			j.b.WriteByte(',')
		}
		j.n++
		j.b.WriteString("\n    ")
		j.err = writeIndented(j.b, checks[i], "    ")
	}
	return j.err
}

func (j *JSONWriter) End(namespaces []string) error {
	if err := j.Namespace(j.late); err != nil {
		return err
	}
	if j.n > 0 {
		j.b.WriteString("\n  ")
	}
	j.b.WriteString("],\n  \"summary\": ")
	j.summary.Namespaces = namespaces
	if namespaces == nil {
		j.summary.Namespaces = []string{}
	}
	if err := writeIndented(j.b, j.summary, "  "); err != nil {
		return err
	}
	j.b.WriteString("\n}\n")
	return j.b.Flush()
}

// Failed reports whether an error was printed.
func (j *JSONWriter) Failed() bool { return j.summary.Errors > 0 }

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

package patches

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/lru"
)

// YAMLError is returned for a document that does not parse; Line is 1-based (0 if unknown).
type YAMLError struct {
	Line int
	Msg  string
}

func (e *YAMLError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("aigw.yaml line %d: %s", e.Line, e.Msg)
	}
	return "aigw.yaml: " + e.Msg
}

// errInternal marks a recovered panic in this file's own code (a bug, never a property of the input).
var errInternal = errors.New("aigw.yaml: internal error")

// errFallback means the text editor met a shape it does not handle.
var errFallback = errors.New("shape not handled by the text editor")

// SetAIGWTLS returns doc with server.tls.{enabled,serverCertPath,serverKeyPath} and
// server.mtls.{enabled,clientCertPath} set to p. changed is false (and out == doc) when every value
// is already as wanted. Everything else in doc is kept byte-for-byte.
//
// Edits are made on the text, at positions taken from the yaml.v3 node tree, so comments and
// formatting survive. Shapes the text editor does not handle (flow mappings, a scalar where a
// mapping is needed, block scalars, anchors, aliases and tags on the nodes it touches, tabs, odd
// line breaks) fall back to editing the node tree and re-encoding the whole document with yaml.v3,
// which keeps most comments but not the original formatting. Every result is re-parsed and checked
// (values set, all other values unchanged) before it is returned; a text edit that fails the check
// falls back as well.
func SetAIGWTLS(doc string, p aigw.TLSPaths) (out string, changed bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, changed, err = "", false, fmt.Errorf("%w: %v", errInternal, r)
		}
	}()
	ws, err := aigwWants(p)
	if err != nil {
		return "", false, err
	}
	in, err := parseDoc(doc, MaxAIGWConfigNodes)
	if err != nil {
		return "", false, err
	}
	if r := in.root; r != nil {
		if r.Kind != yaml.MappingNode {
			return "", false, &YAMLError{Line: r.Line, Msg: "document root is " + kindName(r) + ", expected a mapping"}
		}
		if treeEqual(r, ws) {
			return doc, false, nil
		}
	}
	if textSafe(doc) {
		if out, err := textEdit(doc, in, ws); err == nil && validate(in, out, ws) == nil {
			return out, true, nil
		}
	}
	out, err = treeEdit(in, ws, newline(doc))
	if err != nil {
		return "", false, err
	}
	if err := validate(in, out, ws); err != nil {
		return "", false, fmt.Errorf("aigw.yaml: cannot set TLS settings safely: %w", err)
	}
	return out, true, nil
}

// wantKey is one key to set: a leaf (node/text) or a mapping (children).
type wantKey struct {
	key      string
	node     *yaml.Node // leaf value, for the tree editor
	text     string     // leaf value as YAML text, for the text editor
	children []wantKey
}

func aigwWants(p aigw.TLSPaths) ([]wantKey, error) {
	enabled := wantKey{key: "enabled", text: "true", node: &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"}}
	str := func(key, v string) (wantKey, error) {
		text, err := stringText(v)
		if err != nil {
			return wantKey{}, fmt.Errorf("aigw.yaml: %s %q: %w", key, v, err)
		}
		return wantKey{key: key, text: text, node: &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}}, nil
	}
	cert, err := str("serverCertPath", p.ServerCertPath)
	if err != nil {
		return nil, err
	}
	key, err := str("serverKeyPath", p.ServerKeyPath)
	if err != nil {
		return nil, err
	}
	ca, err := str("clientCertPath", p.ClientCAPath)
	if err != nil {
		return nil, err
	}
	return []wantKey{{key: "server", children: []wantKey{
		{key: "tls", children: []wantKey{enabled, cert, key}},
		{key: "mtls", children: []wantKey{enabled, ca}},
	}}}, nil
}

// stringText renders v as a one-line YAML scalar (plain when that reads back as the same string).
func stringText(v string) (string, error) {
	if text, ok := stringTexts.Get(v); ok {
		return text, nil
	}
	text, err := scalarText(v)
	if err == nil {
		stringTexts.Put(v, text, 1)
	}
	return text, err
}

// stringTexts remembers stringText's answers: it is asked the same few paths (the settings') for
// every aigw ConfigMap, and each answer costs three YAML encoders and decoders. At most
// maxStringTexts entries, least recently used out.
var stringTexts = lru.New[string, string](maxStringTexts)

const maxStringTexts = 64

func scalarText(v string) (string, error) {
	if !utf8.ValidString(v) {
		return "", errors.New("not valid UTF-8")
	}
	b, err := yaml.Marshal(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v})
	text := strings.TrimSuffix(string(b), "\n")
	if err != nil || strings.Contains(text, "\n") {
		text = strconv.Quote(v)
	}
	for _, probe := range []string{"k: " + text + "\n", "k: " + text + " # c\n"} {
		var m map[string]string
		if err := yaml.Unmarshal([]byte(probe), &m); err != nil || m["k"] != v {
			return "", errors.New("cannot be written as a YAML scalar")
		}
	}
	return text, nil
}

// MaxAIGWConfigNodes bounds the YAML nodes of the aigw config, aliases expanded, before it is
// decoded into values: yaml.v3 compares every pair of keys of a mapping for duplicates and expands
// aliases, so a config within MaxAIGWConfigBytes of 37,000 keys, or of nested aliases, would cost
// seconds of CPU or ~100 MB. aigw's own config has a few hundred nodes.
const MaxAIGWConfigNodes = 4096

// ErrTooManyNodes is the error of a config past MaxAIGWConfigNodes.
var ErrTooManyNodes = fmt.Errorf("more than %d YAML nodes (aliases expanded)", MaxAIGWConfigNodes)

// nodesPast reports whether the tree under n holds more than limit nodes, following aliases; it
// stops counting there.
func nodesPast(n *yaml.Node, limit int) bool {
	count := 0
	var walk func(*yaml.Node) bool
	walk = func(n *yaml.Node) bool {
		if n == nil {
			return false
		}
		if count++; count > limit {
			return true
		}
		if n.Kind == yaml.AliasNode {
			return walk(n.Alias)
		}
		for _, c := range n.Content {
			if walk(c) {
				return true
			}
		}
		return false
	}
	return walk(n)
}

// parsed is a document decoded twice: as a node tree and as plain values.
type parsed struct {
	doc   *yaml.Node // nil when the text holds no document
	root  *yaml.Node // nil for an empty document
	value any
}

// parseDoc parses doc, refusing more than maxNodes YAML nodes (ErrTooManyNodes).
func parseDoc(doc string, maxNodes int) (*parsed, error) {
	dec := yaml.NewDecoder(strings.NewReader(doc))
	var n yaml.Node
	err := recoverYAML(func() error { return dec.Decode(&n) })
	if err == io.EOF {
		return &parsed{}, nil
	}
	if err != nil {
		return nil, yamlError(err)
	}
	var extra yaml.Node
	switch err := recoverYAML(func() error { return dec.Decode(&extra) }); {
	case err == nil:
		line := extra.Line
		if len(extra.Content) > 0 {
			line = extra.Content[0].Line
		}
		return nil, &YAMLError{Line: line, Msg: "more than one YAML document; expected one"}
	case err != io.EOF:
		return nil, yamlError(err)
	}
	if nodesPast(&n, maxNodes) {
		return nil, ErrTooManyNodes
	}
	p := &parsed{doc: &n}
	// Decoding into plain values also rejects duplicate keys, which the node tree accepts.
	if err := recoverYAML(func() error { return n.Decode(&p.value) }); err != nil {
		return nil, yamlError(err)
	}
	if len(n.Content) > 0 {
		r := n.Content[0]
		if !(r.Kind == yaml.ScalarNode && r.Style == 0 && r.Value == "" && r.ShortTag() == "!!null") {
			p.root = r
		}
	}
	return p, nil
}

// recoverYAML turns a panic inside yaml.v3 into an error.
func recoverYAML(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: %v", r)
		}
	}()
	return f()
}

var lineRE = regexp.MustCompile(`^line (\d+): `)

func yamlError(err error) *YAMLError {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
		if n := len(te.Errors) - 1; n > 0 {
			msg += fmt.Sprintf(" (and %d more errors)", n)
		}
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	e := &YAMLError{Msg: msg}
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = msg[len(m[0]):]
	}
	return e
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a scalar (" + strings.TrimPrefix(n.ShortTag(), "!!") + ")"
}

func resolve(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// lookup returns the key and value nodes of key in mapping m (merge keys are not followed).
func lookup(m *yaml.Node, key string) (k, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if c := m.Content[i]; c.Kind == yaml.ScalarNode && c.Value == key {
			return c, m.Content[i+1]
		}
	}
	return nil, nil
}

func leafEqual(n *yaml.Node, w wantKey) bool {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() != w.node.Tag {
		return false
	}
	if w.node.Tag == "!!bool" {
		var b bool
		return n.Decode(&b) == nil && b
	}
	return n.Value == w.node.Value
}

// treeEqual reports whether mapping m already holds every value of ws.
func treeEqual(m *yaml.Node, ws []wantKey) bool {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return false
	}
	for _, w := range ws {
		_, v := lookup(m, w.key)
		if v == nil {
			return false
		}
		if w.children == nil && !leafEqual(v, w) || w.children != nil && !treeEqual(v, w.children) {
			return false
		}
	}
	return true
}

// textSafe rules out inputs whose line or column numbering the text editor could get wrong.
func textSafe(doc string) bool {
	// Byte order marks (yaml.v3 also reads UTF-16) and the Unicode line breaks yaml.v3 counts.
	if strings.HasPrefix(doc, "\uFEFF") || strings.HasPrefix(doc, "\xff\xfe") || strings.HasPrefix(doc, "\xfe\xff") ||
		strings.ContainsAny(doc, "\u0085\u2028\u2029") ||
		strings.Count(doc, "\r") != strings.Count(doc, "\r\n") {
		return false
	}
	for _, l := range strings.Split(doc, "\n") {
		t := strings.TrimLeft(l, " \t")
		if strings.TrimSpace(t) != "" && strings.Contains(l[:len(l)-len(t)], "\t") {
			return false
		}
	}
	return true
}

func newline(doc string) string {
	if i := strings.IndexByte(doc, '\n'); i > 0 && doc[i-1] == '\r' {
		return "\r\n"
	}
	return "\n"
}

type insertion struct {
	at     int // index of the line the text goes before
	indent int
	lines  []string
}

type replacement struct {
	line, start, end int // byte range within the line
	text             string
}

type textEditor struct {
	lines []string // without line endings
	eols  []string // "\n", "\r\n" or "" (last line without a newline)
	nl    string
	unit  int
	ins   []insertion
	reps  []replacement
}

func textEdit(doc string, in *parsed, ws []wantKey) (string, error) {
	e := &textEditor{nl: newline(doc), unit: indentUnit(in.root)}
	if e.unit <= 0 {
		e.unit = 2
	}
	for _, l := range strings.SplitAfter(doc, "\n") {
		if l == "" {
			continue
		}
		body := strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r")
		e.lines = append(e.lines, body)
		e.eols = append(e.eols, l[len(body):])
	}
	if in.root == nil {
		var lines []string
		for _, w := range ws {
			lines = append(lines, e.render(w, 0)...)
		}
		e.insert(len(e.lines), 0, lines)
	} else if err := e.setMap(in.root, ws); err != nil {
		return "", err
	}
	return e.apply(), nil
}

// indentUnit is the column step from a block mapping to a block mapping nested in it, or 0.
func indentUnit(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	if n.Kind == yaml.MappingNode && n.Style&yaml.FlowStyle == 0 {
		for i := 1; i < len(n.Content); i += 2 {
			v := n.Content[i]
			if v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle == 0 && v.Column > n.Column {
				return v.Column - n.Column
			}
		}
	}
	for _, c := range n.Content {
		if u := indentUnit(c); u > 0 {
			return u
		}
	}
	return 0
}

func (e *textEditor) line(n int) (string, error) {
	if n < 1 || n > len(e.lines) {
		return "", errFallback
	}
	return e.lines[n-1], nil
}

func (e *textEditor) render(w wantKey, indent int) []string {
	pad := strings.Repeat(" ", indent)
	if w.children == nil {
		return []string{pad + w.key + ": " + w.text}
	}
	out := []string{pad + w.key + ":"}
	for _, c := range w.children {
		out = append(out, e.render(c, indent+e.unit)...)
	}
	return out
}

func (e *textEditor) insert(at, indent int, lines []string) {
	e.ins = append(e.ins, insertion{at: at, indent: indent, lines: lines})
}

// setMap records the edits that give block mapping m the values of ws.
func (e *textEditor) setMap(m *yaml.Node, ws []wantKey) error {
	// A mapping that starts elsewhere than its first key carries a tag or anchor before it.
	if m.Kind != yaml.MappingNode || m.Style != 0 || m.Anchor != "" || len(m.Content) < 2 ||
		m.Content[0].Line != m.Line || m.Content[0].Column != m.Column {
		return errFallback
	}
	first, err := e.line(m.Line)
	if err != nil {
		return err
	}
	indent := m.Column - 1
	if len(first) <= indent || strings.TrimLeft(first[:indent], " ") != "" {
		return errFallback
	}
	var missing []string
	for _, w := range ws {
		k, v := lookup(m, w.key)
		switch {
		case v == nil:
			missing = append(missing, e.render(w, indent)...)
		case w.children == nil:
			if !leafEqual(v, w) {
				err = e.setLeaf(k, v, w.text)
			}
		case treeEqual(v, w.children):
		case v.Kind == yaml.MappingNode:
			err = e.setMap(v, w.children)
		case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null":
			err = e.fillNull(k, v, indent, w.children)
		default:
			err = errFallback
		}
		if err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		at, err := e.contentEnd(m)
		if err != nil {
			return err
		}
		e.insert(at, indent, missing)
	}
	return nil
}

// contentEnd returns the index of the line after the last content line of block mapping m:
// lines after its last key belong to it while blank, indented deeper than its keys, or at the
// keys' column starting with "- " (a block sequence that is not indented). Trailing blank lines
// do not count, unless they are part of a block scalar with keep chomping ("|+").
func (e *textEditor) contentEnd(m *yaml.Node) (int, error) {
	col := m.Column - 1
	end := m.Content[len(m.Content)-2].Line - 1
	last := m
	for len(last.Content) > 0 {
		last = last.Content[len(last.Content)-1]
	}
	keep := last.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 && strings.HasSuffix(last.Value, "\n\n")
	for i := end + 1; i < len(e.lines); i++ {
		l := e.lines[i]
		t := strings.TrimLeft(l, " ")
		ind := len(l) - len(t)
		if strings.Trim(t, " \t") == "" {
			if keep {
				end = i
			}
			continue
		}
		if ind < col || ind == col && !(t == "-" || strings.HasPrefix(t, "- ") || strings.HasPrefix(t, "-\t")) {
			break
		}
		end = i
	}
	if end+1 < maxLine(m) {
		return 0, errFallback
	}
	return end + 1, nil
}

func maxLine(n *yaml.Node) int {
	last := n.Line
	for _, c := range n.Content {
		last = max(last, maxLine(c))
	}
	return last
}

// setLeaf replaces the text of scalar v (the value of key k) by text.
func (e *textEditor) setLeaf(k, v *yaml.Node, text string) error {
	if v.Kind != yaml.ScalarNode || v.Anchor != "" {
		return errFallback
	}
	if v.Style == 0 && v.Value == "" { // "key:" with no value
		line, colon, rest, err := e.keyColon(k)
		if err != nil || v.Line != k.Line || !isBlankOrComment(rest) {
			return errFallback
		}
		e.reps = append(e.reps, replacement{line: line, start: colon, end: colon, text: " " + text})
		return nil
	}
	line, start, end, err := e.scalarSpan(v)
	if err != nil {
		return err
	}
	e.reps = append(e.reps, replacement{line: line, start: start, end: end, text: text})
	return nil
}

// fillNull turns "key:" / "key: null" / "key: ~" into a mapping holding ws.
func (e *textEditor) fillNull(k, v *yaml.Node, indent int, ws []wantKey) error {
	if v.Style != 0 || v.Anchor != "" {
		return errFallback
	}
	line, colon, rest, err := e.keyColon(k)
	if err != nil {
		return err
	}
	if v.Value != "" {
		l, start, end, err := e.scalarSpan(v)
		if err != nil || l != line || start < colon || strings.Trim(e.lines[line][colon:start], " \t") != "" {
			return errFallback
		}
		text := e.lines[line][end:]
		if c := strings.TrimLeft(text, " \t"); c == "" {
			e.reps = append(e.reps, replacement{line: line, start: colon, end: len(e.lines[line]), text: ""})
		} else {
			e.reps = append(e.reps, replacement{line: line, start: colon, end: len(e.lines[line]) - len(c), text: " "})
		}
	} else if v.Line != k.Line || !isBlankOrComment(rest) {
		return errFallback
	}
	var lines []string
	for _, w := range ws {
		lines = append(lines, e.render(w, indent+e.unit)...)
	}
	e.insert(line+1, indent+e.unit, lines)
	return nil
}

// keyColon finds a plain key written as `key:` and returns its 0-based line, the byte offset
// just after the colon, and the rest of the line.
func (e *textEditor) keyColon(k *yaml.Node) (line, colon int, rest string, err error) {
	l, err := e.line(k.Line)
	if err != nil || k.Kind != yaml.ScalarNode || k.Style != 0 || k.Anchor != "" {
		return 0, 0, "", errFallback
	}
	b := k.Column - 1
	if b >= len(l) || strings.Trim(l[:b], " ") != "" || !strings.HasPrefix(l[b:], k.Value) {
		return 0, 0, "", errFallback
	}
	j := b + len(k.Value)
	for j < len(l) && l[j] == ' ' {
		j++
	}
	if j >= len(l) || l[j] != ':' {
		return 0, 0, "", errFallback
	}
	return k.Line - 1, j + 1, l[j+1:], nil
}

// isBlankOrComment reports whether s, the rest of a line after a token, holds nothing but a comment.
func isBlankOrComment(s string) bool {
	t := strings.TrimLeft(s, " \t")
	return t == "" || t[0] == '#' && len(t) < len(s)
}

// scalarSpan returns the 0-based line and byte range of a one-line plain or quoted scalar.
func (e *textEditor) scalarSpan(v *yaml.Node) (line, start, end int, err error) {
	l, err := e.line(v.Line)
	if err != nil {
		return 0, 0, 0, err
	}
	start = byteOffset(l, v.Column)
	if start < 0 || start >= len(l) {
		return 0, 0, 0, errFallback
	}
	end = -1
	switch v.Style {
	case 0:
		if strings.HasPrefix(l[start:], v.Value) {
			end = start + len(v.Value)
		}
	case yaml.SingleQuotedStyle:
		for j := start + 1; l[start] == '\'' && j < len(l); j++ {
			if l[j] == '\'' {
				if j+1 < len(l) && l[j+1] == '\'' {
					j++
					continue
				}
				end = j + 1
				break
			}
		}
	case yaml.DoubleQuotedStyle:
		for j := start + 1; l[start] == '"' && j < len(l); j++ {
			if l[j] == '\\' {
				j++
			} else if l[j] == '"' {
				end = j + 1
				break
			}
		}
	}
	if end < 0 || !isBlankOrComment(l[end:]) {
		return 0, 0, 0, errFallback
	}
	return v.Line - 1, start, end, nil
}

// byteOffset converts yaml.v3's 1-based column (counted in characters) into a byte offset.
func byteOffset(l string, col int) int {
	n := 1
	for i := range l {
		if n == col {
			return i
		}
		n++
	}
	if n == col {
		return len(l)
	}
	return -1
}

func (e *textEditor) apply() string {
	// At one position, text for a deeper mapping goes first: it ends where its parent's
	// content ends, and anything after it belongs to the parent.
	sort.SliceStable(e.ins, func(i, j int) bool {
		a, b := e.ins[i], e.ins[j]
		if a.at != b.at {
			return a.at < b.at
		}
		return a.indent > b.indent
	})
	sort.SliceStable(e.reps, func(i, j int) bool {
		a, b := e.reps[i], e.reps[j]
		if a.line != b.line {
			return a.line < b.line
		}
		return a.start > b.start
	})
	var b strings.Builder
	ins, reps := e.ins, e.reps
	for i := 0; i <= len(e.lines); i++ {
		var lines []string
		for len(ins) > 0 && ins[0].at == i {
			lines = append(lines, ins[0].lines...)
			ins = ins[1:]
		}
		if len(lines) > 0 {
			if i > 0 && e.eols[i-1] == "" {
				// The last line has no newline: start the new lines with one and keep the
				// missing newline at the end.
				b.WriteString(e.nl + strings.Join(lines, e.nl))
			} else {
				b.WriteString(strings.Join(lines, e.nl) + e.nl)
			}
		}
		if i == len(e.lines) {
			break
		}
		l := e.lines[i]
		for len(reps) > 0 && reps[0].line == i {
			r := reps[0]
			l = l[:r.start] + r.text + l[r.end:]
			reps = reps[1:]
		}
		b.WriteString(l + e.eols[i])
	}
	return b.String()
}

// treeEdit sets ws on the node tree and re-encodes the whole document.
func treeEdit(in *parsed, ws []wantKey, nl string) (string, error) {
	doc := in.doc
	if doc == nil {
		doc = &yaml.Node{Kind: yaml.DocumentNode}
	}
	if in.root == nil {
		doc.Content = []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}
	}
	aliased := map[*yaml.Node]bool{}
	markAliased(doc, aliased)
	t := &treeEditor{aliased: aliased}
	if err := t.setMap(doc.Content[0], ws, "", false); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	err := recoverYAML(func() error {
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(doc); err != nil {
			return err
		}
		return enc.Close()
	})
	if err != nil {
		return "", fmt.Errorf("aigw.yaml: re-encoding: %w", err)
	}
	out := buf.String()
	if nl != "\n" {
		out = strings.ReplaceAll(out, "\n", nl)
	}
	return out, nil
}

func markAliased(n *yaml.Node, aliased map[*yaml.Node]bool) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		aliased[n.Alias] = true
	}
	for _, c := range n.Content {
		markAliased(c, aliased)
	}
}

type treeEditor struct {
	aliased map[*yaml.Node]bool // nodes some alias refers to
}

// setMap sets ws in mapping m. shared means m is a copy of (part of) an anchored node, whose
// children must be copied before they are changed.
func (t *treeEditor) setMap(m *yaml.Node, ws []wantKey, path string, shared bool) error {
	m.Style &^= yaml.FlowStyle
	for _, w := range ws {
		i := -1
		for j := 0; j+1 < len(m.Content); j += 2 {
			if c := m.Content[j]; c.Kind == yaml.ScalarNode && c.Value == w.key {
				i = j
				break
			}
		}
		if i < 0 {
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: w.key}, build(w))
			continue
		}
		v := m.Content[i+1]
		name := strings.TrimPrefix(path+"."+w.key, ".")
		if w.children == nil && leafEqual(v, w) || w.children != nil && treeEqual(v, w.children) {
			continue
		}
		if t.aliased[v] {
			return &YAMLError{Line: v.Line, Msg: fmt.Sprintf("%s has anchor &%s that an alias refers to; cannot change it", name, v.Anchor)}
		}
		target, sh := v, shared
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			target, sh = v.Alias, true
		}
		if w.children != nil && target.Kind == yaml.SequenceNode {
			return &YAMLError{Line: v.Line, Msg: name + " is a sequence, expected a mapping"}
		}
		if w.children == nil || target.Kind != yaml.MappingNode {
			nv := build(w)
			nv.HeadComment, nv.LineComment, nv.FootComment = v.HeadComment, v.LineComment, v.FootComment
			m.Content[i+1] = nv
			continue
		}
		if sh {
			c := *target
			c.Anchor = ""
			c.Content = append([]*yaml.Node(nil), target.Content...)
			target = &c
		}
		m.Content[i+1] = target
		if err := t.setMap(target, w.children, name, sh); err != nil {
			return err
		}
	}
	return nil
}

func build(w wantKey) *yaml.Node {
	if w.children == nil {
		n := *w.node
		return &n
	}
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, c := range w.children {
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: c.key}, build(c))
	}
	return m
}

// aigwServerTLS is the part of aigw.yaml's server that SetAIGWTLS sets.
type aigwServerTLS struct {
	TLS struct {
		Enabled        bool   `yaml:"enabled"`
		ServerCertPath string `yaml:"serverCertPath"`
		ServerKeyPath  string `yaml:"serverKeyPath"`
	} `yaml:"tls"`
	MTLS struct {
		Enabled        bool   `yaml:"enabled"`
		ClientCertPath string `yaml:"clientCertPath"`
	} `yaml:"mtls"`
}

// validate checks that out parses, holds the values of ws, and that every other value is the
// same as in the input.
func validate(in *parsed, out string, ws []wantKey) error {
	o, err := parseDoc(out, MaxAIGWConfigNodes+64) // the wiring adds a few nodes
	if err != nil {
		return err
	}
	if o.root == nil || !treeEqual(o.root, ws) {
		return errors.New("values not set")
	}
	// Decoding only server keeps this cheap: yaml.v3 checks keys for duplicates in O(n²).
	var c aigwServerTLS
	_, srv := lookup(o.root, "server")
	if err := recoverYAML(func() error { return srv.Decode(&c) }); err != nil {
		return err
	}
	tls, mtls := ws[0].children[0].children, ws[0].children[1].children
	if !c.TLS.Enabled || c.TLS.ServerCertPath != tls[1].node.Value || c.TLS.ServerKeyPath != tls[2].node.Value ||
		!c.MTLS.Enabled || c.MTLS.ClientCertPath != mtls[1].node.Value {
		return errors.New("values do not decode as set")
	}
	a, err := canonical(in.value)
	if err != nil {
		return err
	}
	b, err := canonical(o.value)
	if err != nil {
		return err
	}
	if a != b {
		return errors.New("other values changed")
	}
	return nil
}

// canonical renders v without the values SetAIGWTLS sets, with map keys sorted. It mutates v.
func canonical(v any) (string, error) {
	if srv, ok := mapGet(v, "server"); ok {
		if isMap(srv) {
			for name, leaves := range map[string][]string{"tls": {"enabled", "serverCertPath", "serverKeyPath"}, "mtls": {"enabled", "clientCertPath"}} {
				sec, ok := mapGet(srv, name)
				if !ok {
					continue
				}
				for _, l := range leaves {
					mapDelete(sec, l)
				}
				if !isMap(sec) || mapLen(sec) == 0 {
					mapDelete(srv, name)
				}
			}
		}
		if !isMap(srv) || mapLen(srv) == 0 {
			mapDelete(v, "server")
		}
	}
	if isMap(v) && mapLen(v) == 0 {
		v = nil
	}
	var b []byte
	err := recoverYAML(func() (err error) {
		b, err = yaml.Marshal(v)
		return err
	})
	return string(b), err
}

func isMap(v any) bool {
	switch v.(type) {
	case map[string]any, map[any]any:
		return true
	}
	return false
}

func mapGet(m any, k string) (any, bool) {
	switch m := m.(type) {
	case map[string]any:
		v, ok := m[k]
		return v, ok
	case map[any]any:
		v, ok := m[k]
		return v, ok
	}
	return nil, false
}

func mapDelete(m any, k string) {
	switch m := m.(type) {
	case map[string]any:
		delete(m, k)
	case map[any]any:
		delete(m, k)
	}
}

func mapLen(m any) int {
	switch m := m.(type) {
	case map[string]any:
		return len(m)
	case map[any]any:
		return len(m)
	}
	return 0
}

package harness

import (
	"fmt"
	"slices"
	"strings"
)

// PromQLNames lists the metric names and the label names a PromQL expression refers to: the
// metrics of its vector selectors, and the labels of their matchers and of its by, without, on,
// ignoring, group_left and group_right lists. It reads the expression's tokens only; whether the
// expression parses is promtool's to say (`promtool check rules`). Functions whose string
// arguments name labels (label_replace, label_join, sort_by_label, count_values) are refused, as
// are quoted metric names: their names cannot be told from the tokens alone.
func PromQLNames(expr string) (metrics, labels []string, err error) {
	add := func(to *[]string, name string) {
		if !slices.Contains(*to, name) {
			*to = append(*to, name)
		}
	}
	toks, err := promqlTokens(expr)
	if err != nil {
		return nil, nil, err
	}
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		next := ""
		if i+1 < len(toks) {
			next = toks[i+1]
		}
		switch {
		case tok == "{":
			// A matcher list: name op "value", ...
			for i++; i < len(toks) && toks[i] != "}"; i++ {
				switch t := toks[i]; {
				case t == ",":
				case isIdent(t) && i+2 < len(toks) && isMatchOp(toks[i+1]) && isString(toks[i+2]):
					if t != "__name__" {
						add(&labels, t)
					}
					i += 2
				default:
					return nil, nil, fmt.Errorf("%q: unexpected %q in a label matcher list", expr, t)
				}
			}
		case isIdent(tok) && grouping[strings.ToLower(tok)] && next == "(":
			for i += 2; i < len(toks) && toks[i] != ")"; i++ {
				if t := toks[i]; isIdent(t) {
					add(&labels, t)
				} else if t != "," {
					return nil, nil, fmt.Errorf("%q: unexpected %q in a label list", expr, t)
				}
			}
		case isIdent(tok) && next == "(":
			if labelFunctions[tok] {
				return nil, nil, fmt.Errorf("%q: %s names labels in strings; not supported here", expr, tok)
			}
		case isIdent(tok) && !keywords[strings.ToLower(tok)]:
			add(&metrics, tok)
		case tok == "[":
			// A range or subquery: durations only.
			for i < len(toks) && toks[i] != "]" {
				i++
			}
		case isString(tok) && next == "{" || isString(tok) && i > 0 && toks[i-1] == "{":
			return nil, nil, fmt.Errorf("%q: quoted metric names are not supported here", expr)
		}
	}
	return metrics, labels, nil
}

var grouping = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// keywords are never metric names (compared in lower case, as PromQL's lexer does): operators,
// modifiers and the aggregations, which may come before their by or without list.
var keywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true, "atan2": true,
	"sum": true, "avg": true, "min": true, "max": true, "count": true, "group": true, "stddev": true, "stdvar": true,
	"topk": true, "bottomk": true, "quantile": true, "count_values": true, "limitk": true, "limit_ratio": true}

var labelFunctions = map[string]bool{"label_replace": true, "label_join": true, "sort_by_label": true, "sort_by_label_desc": true, "count_values": true}

func isIdent(t string) bool {
	return t != "" && (t[0] == '_' || t[0] == ':' || 'a' <= t[0] && t[0] <= 'z' || 'A' <= t[0] && t[0] <= 'Z')
}

func isString(t string) bool { return t != "" && (t[0] == '"' || t[0] == '\'' || t[0] == '`') }

func isMatchOp(t string) bool { return t == "=" || t == "!=" || t == "=~" || t == "!~" }

// promqlTokens splits expr into identifiers, strings (quotes kept), numbers and durations,
// operators and brackets; whitespace and comments are dropped.
func promqlTokens(expr string) ([]string, error) {
	var toks []string
	identChar := func(c byte) bool {
		return c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for ; j < len(expr) && expr[j] != c; j++ {
				if expr[j] == '\\' && c != '`' {
					j++
				}
			}
			if j >= len(expr) {
				return nil, fmt.Errorf("%q: unterminated string", expr)
			}
			toks = append(toks, expr[i:j+1])
			i = j + 1
		case '0' <= c && c <= '9' || c == '.':
			j := i
			for j < len(expr) && (identChar(expr[j]) || expr[j] == '.' ||
				(expr[j] == '+' || expr[j] == '-') && (expr[j-1] == 'e' || expr[j-1] == 'E')) {
				j++
			}
			toks = append(toks, expr[i:j])
			i = j
		case identChar(c):
			j := i
			for j < len(expr) && identChar(expr[j]) {
				j++
			}
			toks = append(toks, expr[i:j])
			i = j
		case strings.ContainsRune("=!<>", rune(c)) && i+1 < len(expr) && strings.ContainsRune("=~", rune(expr[i+1])):
			toks = append(toks, expr[i:i+2])
			i += 2
		case strings.ContainsRune("(){}[],+-*/%^=<>@!", rune(c)):
			toks = append(toks, expr[i:i+1])
			i++
		case c == '$':
			return nil, fmt.Errorf("%q: a Grafana variable is left; substitute it first", expr)
		default:
			return nil, fmt.Errorf("%q: unexpected %q", expr, c)
		}
	}
	return toks, nil
}

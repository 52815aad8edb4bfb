package rules

import (
	"fmt"
	"regexp"
	"strings"
)

// NIC does not validate egressMTLS ciphers or protocols (pkg/apis/configuration/validation/policy.go
// validateEgressMTLS reads neither) and renders them verbatim: internal/configs/policy.go
// addEgressMTLSConfig copies them into version2.EgressMTLS, and
// internal/configs/version2/nginx.virtualserver.tmpl writes `proxy_ssl_ciphers {{ .Ciphers }};` and
// `proxy_ssl_protocols {{ .Protocols }};`. A ';' in either ends the directive and lets the rest
// become directives of its own; an unknown value makes nginx refuse the whole configuration.

// cipherListChars are the characters of an OpenSSL cipher list that nginx takes as one argument.
var cipherListChars = regexp.MustCompile(`^[A-Za-z0-9!+\-:@=._,]*$`)

var secLevel = regexp.MustCompile(`^@SECLEVEL=[0-5]$`)

// checkCiphers: ciphers must be an OpenSSL cipher list nginx accepts as proxy_ssl_ciphers' one
// argument (SSL_CTX_set_cipher_list), made of names OpenSSL knows. Stricter than nginx by design:
// OpenSSL silently drops a name it does not know, so a misspelt cipher is refused here although
// nginx would start without it.
func checkCiphers(c *collector, field, ciphers string) {
	if ciphers == "" {
		return // NIC renders DEFAULT
	}
	expected := "an OpenSSL cipher list such as HIGH:!aNULL:!MD5 (names and aliases joined by ':', nothing else)"
	fix := "set ciphers to an OpenSSL cipher list (openssl ciphers -v 'LIST' shows what it selects), or remove it for OpenSSL's DEFAULT"
	if !cipherListChars.MatchString(ciphers) {
		rule := PolicyCiphersChars
		if strings.ContainsAny(ciphers, ";{}") {
			rule = PolicyCiphersInjected
		}
		c.add(rule, Finding{Field: field, Expected: expected, Found: fmt.Sprintf("%q, which holds characters no cipher list has", ciphers), Fix: fix})
		return
	}
	selects := false
	for _, tok := range strings.FieldsFunc(ciphers, func(r rune) bool { return r == ':' || r == ',' }) {
		switch {
		case tok == "@STRENGTH" || secLevel.MatchString(tok):
			continue
		case strings.HasPrefix(tok, "!") || strings.HasPrefix(tok, "-") || strings.HasPrefix(tok, "+"):
			// '+' moves the ciphers it names, already selected, to the end: it selects none.
			tok = tok[1:]
		default:
			selects = true
		}
		for _, part := range strings.Split(tok, "+") {
			if !opensslCipherNames[part] {
				c.add(PolicyCipherUnknown, Finding{Field: field, Expected: expected,
					Found: fmt.Sprintf("%q in %q, which OpenSSL does not know (names are case-sensitive)", part, ciphers),
					Fix:   fix})
				return
			}
		}
	}
	if !selects {
		c.add(PolicyCiphersSelectNone, Finding{Field: field, Expected: expected, Found: fmt.Sprintf("%q, which only removes ciphers", ciphers), Fix: fix})
	}
}

// checkProtocols: only TLSv1.2 and TLSv1.3. nginx reads proxy_ssl_protocols tokens
// case-insensitively (ngx_conf_set_bitmask_slot), so tlsv1.3 is accepted. TLS below 1.2 is
// refused by design (SPEC); unknown tokens make nginx refuse the configuration.
func checkProtocols(c *collector, field, protocols string) {
	fix := "set protocols: TLSv1.3 (or \"TLSv1.2 TLSv1.3\")"
	expected := "TLSv1.2 and/or TLSv1.3, separated by spaces"
	if strings.TrimSpace(protocols) == "" {
		c.add(PolicyProtocolsUnset, Finding{Field: field,
			Found: "unset: NIC renders proxy_ssl_protocols " + nicDefaultProtocols + " (internal/configs/policy.go addEgressMTLSConfig), which offers TLS 1.0 and 1.1 and omits TLSv1.3", Fix: fix})
		return
	}
	if strings.ContainsAny(protocols, ";{}\"'#$\\") {
		c.add(PolicyProtocolsInjected, Finding{Field: field, Expected: expected, Found: fmt.Sprintf("%q", protocols), Fix: fix})
		return
	}
	for _, tok := range strings.Fields(protocols) {
		switch strings.ToLower(tok) {
		case "tlsv1.2", "tlsv1.3":
		case "sslv2", "sslv3", "tlsv1", "tlsv1.1":
			c.add(PolicyProtocolsBelowTLS12, Finding{Field: field, Expected: expected, Found: fmt.Sprintf("%q in %q", tok, protocols), Fix: fix})
		default:
			c.add(PolicyProtocolsUnknown, Finding{Field: field, Expected: expected, Found: fmt.Sprintf("%q in %q, which nginx does not know", tok, protocols), Fix: fix})
		}
	}
}

package certs

import (
	"crypto/x509"
	"encoding/asn1"
	"strings"
)

// This file reproduces OpenSSL 3.0's X509_check_host(cert, name, len(name), 0, NULL), which is
// what nginx's proxy_ssl_verify runs on proxy_ssl_name (ngx_ssl_check_host). The functions
// mirror crypto/x509/v3_utl.c: do_x509_check, equal_wildcard, valid_star, wildcard_match,
// equal_nocase and skip_prefix. Go's VerifyHostname disagrees with OpenSSL on the CN
// fallback, partial wildcards, trailing dots and IP literals, so it must not be used here.
// test/openssl compares CheckHost with `openssl x509 -checkhost` on a few hundred pairs.

var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

// CheckHost reports whether name passes OpenSSL's X509_check_host(cert, name, 0, flags=0, NULL) —
// what nginx's proxy_ssl_verify does with proxy_ssl_name.
//
// Notable consequences of flags=0, all checked against the openssl CLI:
//   - an IP literal is compared as text with the DNS SANs (or CN); IP SANs are never consulted;
//   - a trailing dot is not ignored: "a.example.com." only matches a SAN written with the dot;
//   - "*gw.example.com" matches "gw.example.com" (a partial wildcard may match nothing);
//   - a name starting with "." matches every SAN ending with it (".example.com" matches
//     "api.example.com" and "*.example.com").
//
// nginx strips ":port" from proxy_ssl_name before the check; CheckHost does not.
func CheckHost(cert *x509.Certificate, name string) bool {
	if cert == nil {
		return false
	}
	// X509_check_host: a single trailing NUL is tolerated (callers may count the terminator),
	// any other NUL is an error (-2), which nginx treats as a mismatch.
	if len(name) > 1 && name[len(name)-1] == 0 {
		name = name[:len(name)-1]
	}
	if strings.IndexByte(name, 0) >= 0 {
		return false
	}
	for _, pattern := range HostNames(cert) {
		if hostMatch(pattern, name) {
			return true
		}
	}
	return false
}

// HostNames lists the names X509_check_host would consult for cert (the DNS SANs, or the subject
// CN(s) when the certificate has no DNS SAN), as written in the certificate, for error messages.
//
// Only a DNS SAN disables the CN: a certificate whose SANs are all IP addresses or e-mail
// addresses is still matched on its CN (do_x509_check sets san_present for GEN_DNS only).
func HostNames(cert *x509.Certificate) []string {
	if cert == nil {
		return nil
	}
	if len(cert.DNSNames) > 0 {
		return append([]string(nil), cert.DNSNames...)
	}
	var cns []string
	for _, atv := range cert.Subject.Names { // every CN, as X509_NAME_get_index_by_NID walks them
		if s, ok := atv.Value.(string); ok && atv.Type.Equal(oidCommonName) {
			cns = append(cns, s)
		}
	}
	if len(cns) == 0 && cert.Subject.CommonName != "" { // a template that was never parsed
		cns = []string{cert.Subject.CommonName}
	}
	return cns
}

// hostMatch is equal_wildcard(pattern, name) with the implicit _X509_CHECK_FLAG_DOT_SUBDOMAINS
// that do_x509_check sets when name starts with ".".
func hostMatch(pattern, name string) bool {
	// do_check_string skips empty strings; equal_nocase refuses a pattern containing NUL.
	if pattern == "" || strings.IndexByte(pattern, 0) >= 0 {
		return false
	}
	if len(name) > 1 && name[0] == '.' {
		// skip_prefix: ".example.com" is compared with the same-length tail of the pattern, so
		// it matches "api.example.com", "a.b.example.com" and "*.example.com" alike.
		return len(pattern) >= len(name) && hostEqualFold(pattern[len(pattern)-len(name):], name)
	}
	star := hostValidStar(pattern)
	if star < 0 {
		return hostEqualFold(pattern, name) // no usable wildcard: "*" is an ordinary character
	}
	return hostWildcardMatch(pattern[:star], pattern[star+1:], name)
}

// hostValidStar is valid_star with flags 0: it returns the index of the pattern's wildcard, or -1
// when the pattern must be compared literally. The wildcard must be the first or last character
// of the first label ("*.a.b", "ai*.a.b", "*gw.a.b"; not "a*w.a.b"), that label must not be
// an IDNA "xn--" label, the pattern must have at least two dots, and every label must be
// letters, digits and inner hyphens, the last one non-empty (so "*.example.com." is literal).
func hostValidStar(p string) int {
	star, dots := -1, 0
	labelStart, hyphen, idna := true, false, false
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '*':
			atEnd := i == len(p)-1 || p[i+1] == '.'
			if star >= 0 || idna || dots > 0 || (!labelStart && !atEnd) {
				return -1
			}
			star, labelStart = i, false
		case hostAlnum(c):
			if labelStart && hostHasPrefixFold(p[i:], "xn--") {
				idna = true
			}
			labelStart, hyphen = false, false
		case c == '.':
			if labelStart || hyphen {
				return -1
			}
			labelStart, hyphen, idna = true, false, false
			dots++
		case c == '-':
			if labelStart {
				return -1
			}
			hyphen = true
		default:
			return -1
		}
	}
	if labelStart || hyphen || dots < 2 {
		return -1
	}
	return star
}

// hostWildcardMatch is wildcard_match with flags 0.
func hostWildcardMatch(prefix, suffix, name string) bool {
	if len(name) < len(prefix)+len(suffix) ||
		!hostEqualFold(prefix, name[:len(prefix)]) ||
		!hostEqualFold(suffix, name[len(name)-len(suffix):]) {
		return false
	}
	wild := name[len(prefix) : len(name)-len(suffix)]
	fullLabel := prefix == "" && strings.HasPrefix(suffix, ".")
	if fullLabel && wild == "" { // "*.example.com" needs at least one character
		return false
	}
	// A partial wildcard never matches a name whose first label is IDNA ("xn--").
	if !fullLabel && hostHasPrefixFold(name, "xn--") {
		return false
	}
	if wild == "*" { // the wildcard may match a literal '*'
		return true
	}
	for i := 0; i < len(wild); i++ { // one label: letters, digits, hyphens
		if !hostAlnum(wild[i]) && wild[i] != '-' {
			return false
		}
	}
	return true
}

// hostEqualFold is equal_nocase: byte for byte, folding ASCII letters only (unlike
// strings.EqualFold, which folds Unicode, e.g. the Kelvin sign to "k").
func hostEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if hostLower(a[i]) != hostLower(b[i]) {
			return false
		}
	}
	return true
}

func hostHasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && hostEqualFold(s[:len(prefix)], prefix)
}

func hostLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func hostAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

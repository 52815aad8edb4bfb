// Package certs holds the certificate primitives the rules judge with: PEM parsing, key matching,
// chain counting as nginx's OpenSSL counts, OpenSSL's host check, expiry, and the CA bundle the CA
// sync writes.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"sync"
)

// Parse parses every PEM CERTIFICATE block of data (other blocks are skipped).
func Parse(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return out, nil
}

// FirstBlock returns the type of the first PEM block of data, "" when there is none.
func FirstBlock(data []byte) string {
	block, _ := pem.Decode(data)
	if block == nil {
		return ""
	}
	return block.Type
}

// KeyMatches reports whether key is the private key of the first certificate of crt, as
// crypto/tls.X509KeyPair decides it (what NIC's secrets.ValidateTLSSecret calls).
func KeyMatches(crt, key []byte) error {
	_, err := tls.X509KeyPair(crt, key)
	return err
}

// memo holds parsed certificates by a caller's key (object, data key and resourceVersion): data
// that does not change is parsed once, however many admissions consult it.
var memo = struct {
	sync.Mutex
	m map[string][]*x509.Certificate
}{m: map[string][]*x509.Certificate{}}

const memoMax = 4096

// ParseCached is Parse, remembered under key when key is not empty.
func ParseCached(key string, data []byte) ([]*x509.Certificate, error) {
	if key != "" {
		memo.Lock()
		c, hit := memo.m[key]
		memo.Unlock()
		if hit {
			return c, nil
		}
	}
	c, err := Parse(data)
	if err != nil || key == "" {
		return c, err
	}
	memo.Lock()
	if len(memo.m) >= memoMax {
		clear(memo.m)
	}
	memo.m[key] = c
	memo.Unlock()
	return c, nil
}

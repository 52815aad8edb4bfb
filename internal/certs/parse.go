// Package certs holds the certificate primitives the rules judge with: PEM parsing, key matching,
// chain counting as nginx's OpenSSL counts, OpenSSL's host check, expiry, and the CA bundle the CA
// sync writes.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// The bounds of what Parse reads from one key. A CA bundle for the NIC → aigw hop holds the aigw
// CA and, during a rotation, the old one; a tls.crt holds a leaf and its intermediates: a few
// certificates of 1-2 KiB each. 64 certificates and 256 KiB leave room for CAs with long chains
// and large keys, and bound what one key costs to parse (~10 ms of CPU, ~1 MiB of heap).
const (
	MaxBundleCerts = 64
	MaxBundleBytes = 256 << 10
)

// TooLargeError is data over MaxBundleBytes, or with more than MaxBundleCerts certificates: it
// is not parsed.
type TooLargeError struct {
	Bytes int
	// Certs is more than MaxBundleCerts when the data holds too many certificates, else 0.
	Certs int
}

func (e *TooLargeError) Error() string {
	if e.Certs > 0 {
		return fmt.Sprintf("more than %d PEM certificates, not parsed (bound: %d certificates and %d KiB per key)", MaxBundleCerts, MaxBundleCerts, MaxBundleBytes>>10)
	}
	return fmt.Sprintf("%d bytes, not parsed (bound: %d certificates and %d KiB per key)", e.Bytes, MaxBundleCerts, MaxBundleBytes>>10)
}

// Parse parses every PEM CERTIFICATE block of data (other blocks are skipped). Data over the
// bounds (MaxBundleBytes, MaxBundleCerts) is refused with a *TooLargeError before any certificate
// is parsed.
func Parse(data []byte) ([]*x509.Certificate, error) {
	if len(data) > MaxBundleBytes {
		return nil, &TooLargeError{Bytes: len(data)}
	}
	var blocks [][]byte
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if len(blocks) == MaxBundleCerts {
			return nil, &TooLargeError{Bytes: len(data), Certs: MaxBundleCerts + 1}
		}
		blocks = append(blocks, block.Bytes)
	}
	var out []*x509.Certificate
	for _, der := range blocks {
		c, err := x509.ParseCertificate(der)
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

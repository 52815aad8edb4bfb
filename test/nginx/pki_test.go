package nginx_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// cert is an issued certificate with its private key, as cert-manager (or openssl) would make it.
type cert struct {
	x509 *x509.Certificate
	der  []byte
	key  crypto.Signer
}

// certSpec says what to issue. Zero values mean cert-manager's defaults: valid from an hour ago
// for 90 days, an ECDSA P-256 key (rsa: RSA 2048, cert-manager's default algorithm).
type certSpec struct {
	cn        string
	dns       []string
	ips       []net.IP
	eku       []x509.ExtKeyUsage
	isCA      bool
	rsa       bool
	notBefore time.Time
	notAfter  time.Time
	key       crypto.Signer // the key to certify instead of a fresh one (a re-issued CA)
}

var serial int64 = 1000

func issue(t testing.TB, now time.Time, s certSpec, parent *cert) *cert {
	t.Helper()
	key := s.key
	var err error
	switch {
	case key != nil:
	case s.rsa:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	if s.notBefore.IsZero() {
		s.notBefore = now.Add(-time.Hour)
	}
	if s.notAfter.IsZero() {
		s.notAfter = now.Add(90 * 24 * time.Hour)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: s.cn, Organization: []string{"aigw-mtls test"}},
		DNSNames:     s.dns,
		IPAddresses:  s.ips,
		NotBefore:    s.notBefore,
		NotAfter:     s.notAfter,
		ExtKeyUsage:  s.eku,
	}
	pub := key.Public()
	skid := sha1.Sum(marshalPub(t, pub))
	tmpl.SubjectKeyId = skid[:]
	if s.isCA {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		if _, isRSA := key.(*rsa.PrivateKey); isRSA {
			tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
		}
	}
	signer, parentCert := key, tmpl
	if parent != nil {
		signer, parentCert = parent.key, parent.x509
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &cert{x509: c, der: der, key: key}
}

func marshalPub(t testing.TB, pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// pemChain is the PEM of certs in order (a tls.crt: leaf first, then intermediates).
func pemChain(certs ...*cert) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der})...)
	}
	return out
}

// pemKey is the PEM of c's key as cert-manager writes it by default (PKCS#1 for RSA, SEC 1 for EC).
func pemKey(t testing.TB, c *cert) []byte {
	switch k := c.key.(type) {
	case *rsa.PrivateKey:
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	}
	t.Fatalf("unexpected key type %T", c.key)
	return nil
}

// pemCRL is the PEM ("X509 CRL") of an empty certificate revocation list issued by issuer, as a
// CA bundle carries it when someone concatenates the CA's CRL with its certificate.
func pemCRL(t testing.TB, now time.Time, issuer *cert) []byte {
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:     big.NewInt(1),
		ThisUpdate: now.Add(-time.Hour),
		NextUpdate: now.Add(7 * 24 * time.Hour),
	}, issuer.x509, issuer.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

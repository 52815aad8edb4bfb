package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

type testCert struct {
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	pem    []byte
	keyPEM []byte
}

// issue makes a certificate valid from nb to na, signed by parent (self-signed when nil).
func issue(t testing.TB, cn string, isCA bool, parent *testCert, nb, na time.Time) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: nb, NotAfter: na, IsCA: isCA, BasicConstraintsValid: true,
	}
	if isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	kder, _ := x509.MarshalECPrivateKey(key)
	return &testCert{cert: c, key: key,
		pem:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})}
}

func testPKI(t testing.TB) map[string]*testCert {
	from, to := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2125, 1, 1, 0, 0, 0, 0, time.UTC)
	pki := map[string]*testCert{}
	pki["ca"] = issue(t, "Internal CA", true, nil, from, to)
	pki["expired-ca"] = issue(t, "Expired CA", true, nil, from, time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC))
	pki["intermediate"] = issue(t, "Intermediate CA", true, pki["ca"], from, to)
	pki["server"] = issue(t, "aigw", false, pki["ca"], from, to)
	pki["server-via-intermediate"] = issue(t, "aigw", false, pki["intermediate"], from, to)
	return pki
}

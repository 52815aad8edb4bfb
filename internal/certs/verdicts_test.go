package certs

import (
	"crypto/x509"
	"testing"
)

func TestSignatureVerdictsAreRememberedPerCertificate(t *testing.T) {
	pki := testPKI(t)
	ca, inter, viaInter := pki["ca"].cert, pki["intermediate"].cert, pki["server-via-intermediate"].cert
	var checks, verifies int
	origCheck, origVerify := checkSignatureFrom, verify
	t.Cleanup(func() { checkSignatureFrom, verify = origCheck, origVerify })
	checkSignatureFrom = func(c, parent *x509.Certificate) error { checks++; return origCheck(c, parent) }
	verify = func(c *x509.Certificate, o x509.VerifyOptions) ([][]*x509.Certificate, error) {
		verifies++
		return origVerify(c, o)
	}

	for range 3 {
		if !SelfSigned(ca) {
			t.Fatal("the root: want self-signed")
		}
		if n := Intermediates(viaInter, []*x509.Certificate{inter}, []*x509.Certificate{ca}); n != 1 {
			t.Fatalf("Intermediates = %d, want 1", n)
		}
	}
	if checks != 1 || verifies != 1 {
		t.Errorf("3 rounds: %d self-signature checks and %d chain verifications, want 1 and 1 (remembered)", checks, verifies)
	}

	// Another pool is another question.
	if n := Intermediates(viaInter, nil, []*x509.Certificate{ca}); n != -1 {
		t.Errorf("without the intermediate: Intermediates = %d, want -1", n)
	}
	// The root with one byte of its signature changed parses, and is judged on its own.
	raw := append([]byte{}, ca.Raw...)
	raw[len(raw)-1] ^= 0xff
	forged, err := x509.ParseCertificate(raw)
	if err != nil {
		t.Fatal(err)
	}
	if SelfSigned(forged) {
		t.Error("a root with a broken signature: want not self-signed (a verdict of the real root was reused)")
	}
	if checks != 2 || verifies != 2 {
		t.Errorf("after two new questions: %d checks and %d verifications, want 2 and 2", checks, verifies)
	}
}

// A certificate without its DER (built, not parsed) is judged each time, never from another's
// verdict: every such certificate would hash alike.
func TestCertificatesWithoutDERAreNotRemembered(t *testing.T) {
	pki := testPKI(t)
	built := *pki["ca"].cert
	built.Raw = nil
	checks := 0
	orig := checkSignatureFrom
	t.Cleanup(func() { checkSignatureFrom = orig })
	checkSignatureFrom = func(c, parent *x509.Certificate) error { checks++; return orig(c, parent) }
	for range 2 {
		SelfSigned(&built)
	}
	if checks != 2 {
		t.Errorf("%d signature checks for two questions about a certificate without DER, want 2", checks)
	}
}

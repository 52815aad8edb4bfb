package rules

import (
	"os/exec"
	"testing"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/tools"
)

// TestCipherNamesMatchOpenSSL: every name the ciphers rule accepts selects ciphers in the openssl
// CLI (the OpenSSL nginx links), and a misspelt one selects none.
func TestCipherNamesMatchOpenSSL(t *testing.T) {
	bin := tools.OpenSSL.Need(t)
	for name := range opensslCipherNames {
		if out, err := exec.Command(bin, "ciphers", name).CombinedOutput(); err != nil {
			t.Errorf("openssl ciphers %s: %v: %s", name, err, out)
		}
	}
	if err := exec.Command(bin, "ciphers", "NOPE-CIPHER").Run(); err == nil {
		t.Error("openssl ciphers NOPE-CIPHER: want no cipher match")
	}
}

// TestCipherListsJudgedAsOpenSSLDoes: lists that remove ciphers with '-' or '!' are refused by
// the ciphers rule exactly when the OpenSSL nginx links selects no cipher from them
// (SSL_CTX_set_cipher_list fails, as `openssl ciphers LIST` does), and accepted otherwise. A
// leading '+' only moves ciphers already selected. (Unknown names are refused whatever OpenSSL
// makes of them: TestCipherNamesMatchOpenSSL.)
func TestCipherListsJudgedAsOpenSSLDoes(t *testing.T) {
	bin := tools.OpenSSL.Need(t)
	for _, list := range []string{
		"HIGH:-aNULL", "HIGH:!aNULL", "HIGH:-aNULL:-MD5", "ECDHE+AESGCM:-SHA1", "-aNULL", "!aNULL:-MD5",
		"-HIGH:+HIGH", "+HIGH",
	} {
		c := &collector{obj: "Policy/ns/p"}
		checkCiphers(c, "spec.egressMTLS.ciphers", list)
		refused := len(c.out.Errors()) > 0
		opensslSelects := exec.Command(bin, "ciphers", list).Run() == nil
		if refused == opensslSelects {
			t.Errorf("ciphers %q: refused=%v, but openssl ciphers selects a cipher: %v (findings %v)", list, refused, opensslSelects, c.out)
		}
	}
}

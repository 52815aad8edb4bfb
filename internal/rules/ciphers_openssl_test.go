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

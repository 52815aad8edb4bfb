package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// The whole end-to-end suite runs with the webhook logging at the most verbose level the serve
// command offers (--zap-log-level=10, JSON as in production), into a buffer; TestMain reads it
// after every test has run, in whatever order (-shuffle): there is output, debug lines among it,
// and no key material.

var suiteLog = &lockedBuffer{}

func init() {
	fs := flag.NewFlagSet("zap", flag.PanicOnError)
	o := zap.Options{}
	o.BindFlags(fs)
	_ = fs.Parse([]string{"--zap-log-level=10", "--zap-devel=false", "--zap-stacktrace-level=panic"})
	o.DestWriter = suiteLog
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o)))
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// checkNoKeyMaterialInLogs sends a labelled Secret holding a private key, and a Policy that names
// it and is refused, through the webhook, after everything the suite did; then it reads the whole
// log. It returns what is wrong, one line each.
func checkNoKeyMaterialInLogs() []string {
	var problems []string
	ctx := context.Background()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return []string{err.Error()}
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "logs-client", Namespace: ns, Labels: map[string]string{"aigw": "mtls"}},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: []byte("not a certificate"), corev1.TLSPrivateKeyKey: keyPEM},
	}
	if err := env.Client.Create(ctx, sec); err != nil {
		return []string{"creating Secret logs-client: " + err.Error()}
	}
	defer func() { _ = env.Client.Delete(ctx, sec) }()
	policy := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.nginx.org/v1", "kind": "Policy",
		"metadata": map[string]any{"name": "logs", "namespace": ns, "labels": map[string]any{"aigw": "mtls"}},
		"spec": map[string]any{"egressMTLS": map[string]any{"tlsSecret": "logs-client", "trustedCertSecret": "internal-ca",
			"verifyServer": true, "protocols": "TLSv1.3"}},
	}}
	if err := env.Client.Create(ctx, policy); err == nil {
		problems = append(problems, "a Policy with verifyServer and no sslName was admitted")
		_ = env.Client.Delete(ctx, policy)
	}
	time.Sleep(time.Second) // let the controllers react to the Secret

	out := suiteLog.String()
	if len(out) == 0 {
		return append(problems, "no log output captured: the suite's logger was replaced or nothing logged")
	}
	for _, want := range []string{`"msg":"received request"`, `"msg":"refused"`} {
		if !strings.Contains(out, want) {
			problems = append(problems, "log lacks "+want+": not at debug verbosity, or the webhook logged elsewhere")
		}
	}
	needles := map[string]string{
		"PRIVATE KEY":                  "PRIVATE KEY",
		"this test's key (PEM body)":   base64.StdEncoding.EncodeToString(der)[:40],
		"this test's key (base64 PEM)": base64.StdEncoding.EncodeToString(keyPEM)[:40],
	}
	for i, s := range base64Forms("PRIVATE KEY") {
		needles["PRIVATE KEY in base64, offset "+string(rune('0'+i))] = s
	}
	for what, needle := range needles {
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, needle) {
				// Say where it came from without repeating it.
				var entry map[string]any
				_ = json.Unmarshal([]byte(line), &entry)
				delete(entry, "body")
				for k, v := range entry {
					if s, ok := v.(string); ok && len(s) > 120 {
						entry[k] = s[:40] + "…(elided)"
					}
				}
				problems = append(problems, fmt.Sprintf("key material in the logs (%s) in the entry %v", what, entry))
				break
			}
		}
	}
	if p := os.Getenv("AIGW_E2E_LOG"); p != "" {
		_ = os.WriteFile(p, []byte(out), 0o600)
	}
	if testing.Verbose() {
		fmt.Printf("logs: checked %d bytes, %d lines of debug-level log\n", len(out), strings.Count(out, "\n"))
	}
	return problems
}

// base64Forms returns how s reads inside base64 text at each of the three byte offsets: the
// characters that depend on s alone.
func base64Forms(s string) []string {
	var forms []string
	for k := 0; k < 3; k++ {
		enc := base64.StdEncoding.EncodeToString(append(bytes.Repeat([]byte{0}, k), s...))
		var pure strings.Builder
		for g := 0; 3*g+3 <= k+len(s); g++ {
			if 3*g >= k {
				pure.WriteString(enc[4*g : 4*g+4])
			}
		}
		forms = append(forms, pure.String())
	}
	return forms
}

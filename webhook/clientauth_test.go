package webhook

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

// clientTestCA signs client certificates.
type clientTestCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newClientTestCA(t *testing.T, name string) *clientTestCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &clientTestCA{cert: c, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a certificate for cn and dnsNames with eku (client auth when nil); with no CA, the
// certificate is self-signed.
func (ca *clientTestCA) issue(t *testing.T, cn string, dnsNames []string, eku ...x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if eku == nil {
		eku = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, DNSNames: dnsNames,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: eku, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// writeConfigMapFile writes name into dir as the kubelet projects a ConfigMap: the file is a
// symlink through ..data to a timestamped folder, and an update swaps ..data atomically.
func writeConfigMapFile(t *testing.T, dir, name string, content []byte) {
	t.Helper()
	ts := filepath.Join(dir, fmt.Sprintf("..%d", time.Now().UnixNano()))
	if err := os.Mkdir(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts, name), content, 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, name)); os.IsNotExist(err) {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// startClientAuthServer serves "ok" on /ok with client authentication against the CA written as
// client-ca.crt, the serving certificate signed by its own CA.
func startClientAuthServer(t *testing.T, clientCA []byte, allowed []string) (url string, roots *x509.CertPool, dir string) {
	t.Helper()
	dir = t.TempDir()
	servingCA := newClientTestCA(t, "serving CA")
	serving := servingCA.issue(t, "localhost", []string{"localhost"}, x509.ExtKeyUsageServerAuth)
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: serving.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(serving.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	writeConfigMapFile(t, dir, "client-ca.crt", clientCA)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	s := NewServer("127.0.0.1", port, dir, DefaultServingLimits(), TLSConfig)
	s.ClientCAName = "client-ca.crt"
	s.ClientAllowedSubjects = allowed
	s.ClientCAReload = 50 * time.Millisecond
	s.mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	roots = x509.NewCertPool()
	roots.AddCert(servingCA.cert)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		select {
		case err := <-done:
			t.Fatalf("server exited: %v", err)
		default:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server not listening after 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "https://" + addr + "/ok", roots, dir
}

// get makes one request on a new connection with cert (none when nil).
func get(url string, roots *x509.CertPool, cert *tls.Certificate) error {
	return getTLS(url, roots, cert, tls.VersionTLS13)
}

func getTLS(url string, roots *x509.CertPool, cert *tls.Certificate, maxVersion uint16) error {
	cfg := &tls.Config{RootCAs: roots, ServerName: "localhost", MaxVersion: maxVersion}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "ok" {
		return fmt.Errorf("answer %s %q", resp.Status, b)
	}
	return nil
}

// A certificate the client CA signed is accepted only when its common name or a DNS name is
// among the allowed subjects.
func TestClientAllowedSubjects(t *testing.T) {
	ca := newClientTestCA(t, "apiserver client CA")
	apiserver := ca.issue(t, "kube-apiserver", nil)
	bySAN := ca.issue(t, "webhook client", []string{"kube-apiserver"})
	other := ca.issue(t, "system:node:worker-1", []string{"worker-1"})
	foreign := newClientTestCA(t, "another CA").issue(t, "kube-apiserver", nil)

	url, roots, _ := startClientAuthServer(t, ca.pem, []string{"kube-apiserver"})
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for name, cert := range map[string]*tls.Certificate{"common name kube-apiserver": &apiserver, "DNS name kube-apiserver": &bySAN} {
			if err := getTLS(url, roots, cert, version); err != nil {
				t.Errorf("%s, %s, signed by the client CA: refused: %v", tls.VersionName(version), name, err)
			}
		}
		for name, cert := range map[string]*tls.Certificate{"no certificate": nil, "signed by the CA, not an allowed subject": &other, "allowed name, another CA": &foreign} {
			err := getTLS(url, roots, cert, version)
			if err == nil {
				t.Errorf("%s, %s: answered", tls.VersionName(version), name)
			} else if !strings.Contains(err.Error(), "tls") {
				t.Errorf("%s, %s: want a TLS refusal, got %v", tls.VersionName(version), name, err)
			}
		}
	}

	anyURL, anyRoots, _ := startClientAuthServer(t, ca.pem, []string{AnyClientSubject})
	if err := get(anyURL, anyRoots, &other); err != nil {
		t.Errorf("allowed subjects %q: a certificate the CA signed was refused: %v", AnyClientSubject, err)
	}
	if err := get(anyURL, anyRoots, &foreign); err == nil {
		t.Errorf("allowed subjects %q: a certificate of another CA was answered", AnyClientSubject)
	}
}

// No allowed subjects: the server does not start (accepting any signed certificate is explicit).
func TestClientAllowedSubjectsRequired(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "client-ca.crt"), newClientTestCA(t, "ca").pem, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := newClientAuth(&tls.Config{}, filepath.Join(dir, "client-ca.crt"), nil, 0, logr.Discard())
	if err == nil || !strings.Contains(err.Error(), "--client-allowed-subjects") {
		t.Fatalf("no allowed subjects: want an error naming --client-allowed-subjects, got %v", err)
	}
}

// Rotating the client CA file (a ConfigMap update: the kubelet swaps a symlink) takes effect
// without a restart: a certificate of the new CA is accepted, one of the old CA refused; a file
// that holds no certificate keeps the CA in use.
func TestClientCAReload(t *testing.T) {
	oldCA, newCA := newClientTestCA(t, "old client CA"), newClientTestCA(t, "new client CA")
	oldCert, newCert := oldCA.issue(t, "kube-apiserver", nil), newCA.issue(t, "kube-apiserver", nil)
	url, roots, dir := startClientAuthServer(t, oldCA.pem, []string{"kube-apiserver"})
	if err := get(url, roots, &oldCert); err != nil {
		t.Fatalf("certificate of the client CA refused: %v", err)
	}
	if err := get(url, roots, &newCert); err == nil {
		t.Fatal("certificate of a CA not yet trusted was answered")
	}

	writeConfigMapFile(t, dir, "client-ca.crt", newCA.pem)
	waitFor(t, "a certificate of the new CA accepted", func() bool { return get(url, roots, &newCert) == nil })
	if err := get(url, roots, &oldCert); err == nil {
		t.Error("after the rotation, a certificate of the old CA was answered")
	}

	writeConfigMapFile(t, dir, "client-ca.crt", []byte("not a certificate"))
	time.Sleep(300 * time.Millisecond) // several reload intervals
	if err := get(url, roots, &newCert); err != nil {
		t.Errorf("after a broken client CA file, the CA in use was dropped: %v", err)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
	}
}

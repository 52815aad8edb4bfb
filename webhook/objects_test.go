package webhook

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules/fixtures"
)

// TestKeepCertificates is the cache transform: only tls.crt, ca.crt and the CA key enter the
// cache, tls.key stays as an empty value so its presence can be checked, the verdict on tls.key
// against tls.crt is recorded, and the Secret's other metadata is kept.
func TestKeepCertificates(t *testing.T) {
	pki := fixtures.PKI(t)
	keyPEM := func(name string) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(pki[name].Key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	secret := func(key []byte) *corev1.Secret {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name: "aigw-nic-client-tls", Namespace: "ai-gateway",
				// A verdict brought along by the object itself is never trusted.
				Annotations:   map[string]string{aigw.AnnotationKeyCheck: aigw.KeyCheckMatches, "example.com/keep": "me"},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
			},
			Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{
				corev1.TLSCertKey:       pki["client"].PEM,
				corev1.TLSPrivateKeyKey: key,
				"ca.crt":                pki["ca"].PEM,
				"bundle.pem":            pki["other-ca"].PEM, // the CA key the CA sync is configured with
				"backup.pem":            keyPEM("server"),    // a private key under another name
				"password":              []byte("hunter2"),
			},
			StringData: map[string]string{corev1.TLSPrivateKeyKey: string(key), "note": "dropped"},
		}
	}

	for _, tc := range []struct {
		name, key string
		want      func(string) bool
	}{
		{"matching key", "client", func(v string) bool { return v == aigw.KeyCheckMatches }},
		{"key of another certificate", "client-other-ca", func(v string) bool { return v != "" && v != aigw.KeyCheckMatches }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := KeepCertificates("bundle.pem")(secret(keyPEM(tc.key)))
			if err != nil {
				t.Fatal(err)
			}
			s := out.(*corev1.Secret)
			if v, ok := s.Data[corev1.TLSPrivateKeyKey]; !ok || len(v) != 0 {
				t.Errorf("data[tls.key]: want present and empty, got present=%v, %d bytes", ok, len(v))
			}
			for _, k := range []string{"backup.pem", "password"} {
				if _, ok := s.Data[k]; ok {
					t.Errorf("data[%s] entered the cache", k)
				}
			}
			if s.StringData != nil {
				t.Errorf("stringData entered the cache: %d keys", len(s.StringData))
			}
			if !bytes.Equal(s.Data[corev1.TLSCertKey], pki["client"].PEM) || !bytes.Equal(s.Data["ca.crt"], pki["ca"].PEM) || !bytes.Equal(s.Data["bundle.pem"], pki["other-ca"].PEM) {
				t.Error("a certificate the rules read was changed or dropped")
			}
			if v := s.Annotations[aigw.AnnotationKeyCheck]; !tc.want(v) {
				t.Errorf("%s = %q: wrong verdict for %s", aigw.AnnotationKeyCheck, v, tc.name)
			}
			if s.Annotations["example.com/keep"] != "me" || s.ManagedFields != nil {
				t.Errorf("annotations %v, managedFields %v: want other annotations kept, managedFields dropped", s.Annotations, s.ManagedFields)
			}
		})
	}

	t.Run("no key: no verdict", func(t *testing.T) {
		s := secret(nil)
		delete(s.Data, corev1.TLSPrivateKeyKey)
		s.StringData = nil
		out, _ := KeepCertificates("bundle.pem")(s)
		if v, ok := out.(*corev1.Secret).Annotations[aigw.AnnotationKeyCheck]; ok {
			t.Errorf("a Secret without tls.key got the verdict %q (the one it brought along must go)", v)
		}
	})

	t.Run("not a Secret", func(t *testing.T) {
		cm := &corev1.ConfigMap{Data: map[string]string{"k": "-----BEGIN PRIVATE KEY-----"}}
		if out, err := KeepCertificates("bundle.pem")(cm); err != nil || out != cm || cm.Data["k"] == "" {
			t.Errorf("a ConfigMap was changed: %v %v", out, err)
		}
	})
}

// The restart on renewal reads Deployments from the manager's cache, which must hold those of its
// namespaces only: the chart grants it Roles there, no cluster-wide list or watch.
func TestCacheOptionsScopeDeploymentsToTheRestartNamespaces(t *testing.T) {
	o := DefaultOptions()
	o.RestartNamespaces = []string{"aigw-a", "aigw-b"}
	for obj, b := range cacheOptions(o).ByObject {
		if _, ok := obj.(*appsv1.Deployment); !ok {
			continue
		}
		if len(b.Namespaces) != len(o.RestartNamespaces) {
			t.Fatalf("Deployments cached in %v, want aigw-a and aigw-b only", b.Namespaces)
		}
		for _, ns := range o.RestartNamespaces {
			if _, ok := b.Namespaces[ns]; !ok {
				t.Fatalf("Deployments cached in %v, want aigw-a and aigw-b only", b.Namespaces)
			}
		}
		return
	}
	t.Fatal("the cache options hold no Deployment entry: the manager's cache would list and watch Deployments in every namespace")
}

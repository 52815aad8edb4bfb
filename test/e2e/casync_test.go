package e2e

import (
	"context"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/certs"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

func newNamespace(t *testing.T, name string) {
	t.Helper()
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
}

func caBundleIn(t *testing.T, namespace string) (*corev1.Secret, error) {
	var s corev1.Secret
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: "internal-ca"}, &s)
	return &s, err
}

func issueCA(t *testing.T, namespace string, validFor time.Duration) (*harness.Issued, *corev1.Secret) {
	t.Helper()
	caCrt, _, _ := harness.SeedCertificates(namespace)
	caCrt.Spec.Duration = &metav1.Duration{Duration: validFor}
	ca, err := harness.Issue(caCrt, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ca, ca.Secret(caCrt)
}

func TestCASyncFollowsRotation(t *testing.T) {
	ctx := context.Background()
	const space = "ca-rotation"
	newNamespace(t, space)
	// The first CA expires soon, so the test can watch the overlap end.
	oldCA, src := issueCA(t, space, 6*time.Second)
	if err := env.Client.Create(ctx, src); err != nil {
		t.Fatal(err)
	}
	eventually(t, "internal-ca created from aigw-ca", func() error {
		s, err := caBundleIn(t, space)
		if err != nil {
			return err
		}
		if s.Type != "nginx.org/ca" || string(s.Data["ca.crt"]) != string(oldCA.CertPEM) || s.Labels["aigw"] != "mtls" ||
			len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != src.UID {
			return fmt.Errorf("internal-ca: type %s labels %v owners %v", s.Type, s.Labels, s.OwnerReferences)
		}
		return nil
	})

	// cert-manager rotates the CA: the bundle holds the new CA and the old one...
	newCA, rotated := issueCA(t, space, 365*24*time.Hour)
	src.Data = rotated.Data
	if err := env.Client.Update(ctx, src); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bundle holds new and old CA", func() error {
		s, err := caBundleIn(t, space)
		if err != nil {
			return err
		}
		if want := string(newCA.CertPEM) + string(oldCA.CertPEM); string(s.Data["ca.crt"]) != want {
			return fmt.Errorf("ca.crt holds %d certificates", strings.Count(string(s.Data["ca.crt"]), "BEGIN"))
		}
		return nil
	})
	// ...until the old one expires; then only the new one.
	eventually(t, "old CA dropped after it expires", func() error {
		s, err := caBundleIn(t, space)
		if err != nil {
			return err
		}
		if string(s.Data["ca.crt"]) != string(newCA.CertPEM) {
			return fmt.Errorf("ca.crt still holds %d certificates", strings.Count(string(s.Data["ca.crt"]), "BEGIN"))
		}
		return nil
	})
}

func TestCASyncLeavesAHandMadeSecretAlone(t *testing.T) {
	ctx := context.Background()
	const space = "ca-handmade"
	newNamespace(t, space)
	handMade := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "internal-ca", Namespace: space},
		Type:       "nginx.org/ca",
		Data:       map[string][]byte{"ca.crt": []byte("the platform team's own bundle")},
	}
	if err := env.Client.Create(ctx, handMade); err != nil {
		t.Fatal(err)
	}
	_, src := issueCA(t, space, time.Hour)
	if err := env.Client.Create(ctx, src); err != nil {
		t.Fatal(err)
	}
	eventually(t, "CASecretNotOwned event", func() error {
		evs, err := kube.EventsV1().Events(space).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Reason == "CASecretNotOwned" {
				return nil
			}
		}
		return fmt.Errorf("no CASecretNotOwned event yet")
	})
	s, err := caBundleIn(t, space)
	if err != nil || string(s.Data["ca.crt"]) != "the platform team's own bundle" {
		t.Errorf("the hand-made internal-ca was changed: %v %q", err, s.Data["ca.crt"])
	}
}

// The webhook's cache holds labelled Secrets only, and of them only tls.crt, ca.crt and an empty
// tls.key: no private key in any encoding (DER, PKCS#12 keystores: cert-manager's
// additionalOutputFormats), no other value.
func TestCachedSecretsHaveNoKeyMaterial(t *testing.T) {
	issueSeedPKI(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := cache.New(env.Config, func() cache.Options {
		o := webhook.CacheOptions(aigw.DefaultSettings())
		return o
	}())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetInformer(ctx, &corev1.Secret{}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}
	unlabelled := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "unlabelled-tls", Namespace: ns}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": seedPKI.server.CertPEM, "tls.key": seedPKI.server.KeyPEM}}
	if err := env.Client.Create(ctx, unlabelled); err != nil {
		t.Fatal(err)
	}
	// Events arrive in order: once a labelled Secret created after it is cached, the unlabelled
	// one would be too, were it not filtered out.
	keyDER, _ := pem.Decode(seedPKI.server.KeyPEM)
	outputs := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "additional-output-formats", Namespace: ns, Labels: map[string]string{"aigw": "mtls"}},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": seedPKI.server.CertPEM, "tls.key": seedPKI.server.KeyPEM, "ca.crt": seedPKI.ca.CertPEM,
			"key.der": keyDER.Bytes, "keystore.p12": append([]byte{0x30, 0x82}, keyDER.Bytes...), "password": []byte("hunter2")}}
	if err := env.Client.Create(ctx, outputs); err != nil {
		t.Fatal(err)
	}
	marker := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cache-marker", Namespace: ns, Labels: map[string]string{"aigw": "mtls"}}}
	if err := env.Client.Create(ctx, marker); err != nil {
		t.Fatal(err)
	}
	eventually(t, "marker cached", func() error { return c.Get(ctx, client.ObjectKeyFromObject(marker), &corev1.Secret{}) })
	var server corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "aigw-server-tls"}, &server); err != nil {
		t.Fatal(err)
	}
	if len(server.Data["tls.crt"]) == 0 {
		t.Error("the certificate itself must stay in the cache")
	}
	if k, ok := server.Data["tls.key"]; !ok || len(k) != 0 {
		t.Errorf("tls.key must be present and empty in the cache, got %d bytes", len(k))
	}
	var list corev1.SecretList
	if err := c.List(ctx, &list); err != nil {
		t.Fatal(err)
	}
	for _, s := range list.Items {
		if s.Labels["aigw"] != "mtls" {
			t.Errorf("unlabelled Secret %s/%s is cached", s.Namespace, s.Name)
		}
		for k, v := range s.Data {
			if strings.Contains(string(v), "PRIVATE KEY") {
				t.Errorf("Secret %s/%s key %s holds key material in the cache", s.Namespace, s.Name, k)
			}
			if k != "tls.crt" && k != "ca.crt" && (k != "tls.key" || len(v) != 0) {
				t.Errorf("Secret %s/%s key %s (%d bytes) is cached: only tls.crt, ca.crt and an empty tls.key may be", s.Namespace, s.Name, k, len(v))
			}
		}
	}
	var cached corev1.Secret
	if err := c.Get(ctx, client.ObjectKeyFromObject(outputs), &cached); err != nil {
		t.Fatal(err)
	}
	if len(cached.Data["ca.crt"]) == 0 || len(cached.Data["tls.crt"]) == 0 || cached.Annotations["mtls.aigw.io/cached-key-check"] == "" {
		t.Errorf("the certificates and the key verdict must stay: %v %v", cached.Annotations, len(cached.Data["ca.crt"]))
	}
}

// eventReason waits for an Event with reason in namespace and returns its note.
func eventReason(t *testing.T, namespace, reason string) string {
	t.Helper()
	var note string
	eventually(t, "an Event "+reason, func() error {
		evs, err := kube.EventsV1().Events(namespace).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Reason == reason {
				note = e.Note
				return nil
			}
		}
		return fmt.Errorf("no %s Event yet", reason)
	})
	return note
}

// fingerprintsOf is the CA sync's record of pems: their SHA-256 fingerprints, comma separated.
func fingerprintsOf(t *testing.T, pems ...[]byte) string {
	t.Helper()
	var fps []string
	for _, p := range pems {
		cs, err := certs.Parse(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			fps = append(fps, certs.Fingerprint(c))
		}
	}
	return strings.Join(fps, ",")
}

// A CA someone else adds to the CA sync's Secret is removed at the next sync, even when its
// fingerprint was added to the record annotation too: the bundle holds only the source's CAs and
// the previous ones the sync wrote. After a rotation, the drop-previous annotation removes the
// previous CA at once, before it expires, and is removed with that write.
func TestCASyncKeepsOnlyTheCAsItWrote(t *testing.T) {
	ctx := context.Background()
	const space = "ca-provenance"
	newNamespace(t, space)
	firstCA, src := issueCA(t, space, 365*24*time.Hour)
	if err := env.Client.Create(ctx, src); err != nil {
		t.Fatal(err)
	}
	target := client.ObjectKey{Namespace: space, Name: "internal-ca"}
	waitBundle(t, target, firstCA.CertPEM)
	var s corev1.Secret
	if err := env.Client.Get(ctx, target, &s); err != nil {
		t.Fatal(err)
	}
	if got, want := s.Annotations[webhook.AnnotationCASyncFingerprints], fingerprintsOf(t, firstCA.CertPEM); got != want {
		t.Fatalf("the CA sync's record %q, want %q", got, want)
	}

	// Someone who may edit the Secret adds a CA of their own, valid for years, and its fingerprint.
	foreign, _ := issueCA(t, space, 10*365*24*time.Hour)
	s.Data["ca.crt"] = append(append([]byte{}, s.Data["ca.crt"]...), foreign.CertPEM...)
	s.Annotations[webhook.AnnotationCASyncFingerprints] = fingerprintsOf(t, firstCA.CertPEM, foreign.CertPEM)
	if err := env.Client.Update(ctx, &s); err != nil {
		t.Fatal(err)
	}
	waitBundle(t, target, firstCA.CertPEM)
	note := eventReason(t, space, "CAForeignRemoved")
	if fp := fingerprintsOf(t, foreign.CertPEM); !strings.Contains(note, fp) || !strings.Contains(note, "Secret ca-provenance/internal-ca") {
		t.Errorf("CAForeignRemoved %q: want the Secret and the foreign CA's fingerprint %s", note, fp)
	}

	// cert-manager rotates the CA: new and previous CA, both written by the sync.
	secondCA, rotated := issueCA(t, space, 365*24*time.Hour)
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(src), src); err != nil {
		t.Fatal(err)
	}
	src.Data = rotated.Data
	if err := env.Client.Update(ctx, src); err != nil {
		t.Fatal(err)
	}
	both := append(append([]byte{}, secondCA.CertPEM...), firstCA.CertPEM...)
	waitBundle(t, target, both)

	// The previous CA is compromised: drop it now.
	if err := env.Client.Get(ctx, target, &s); err != nil {
		t.Fatal(err)
	}
	s.Annotations[webhook.AnnotationCASyncDropPrevious] = "true"
	if err := env.Client.Update(ctx, &s); err != nil {
		t.Fatal(err)
	}
	waitBundle(t, target, secondCA.CertPEM)
	if err := env.Client.Get(ctx, target, &s); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Annotations[webhook.AnnotationCASyncDropPrevious]; ok {
		t.Errorf("the drop-previous annotation stays after the drop: a later rotation would drop its previous CA too")
	}
	if got, want := s.Annotations[webhook.AnnotationCASyncFingerprints], fingerprintsOf(t, secondCA.CertPEM); got != want {
		t.Errorf("record after the drop %q, want %q", got, want)
	}
	if note := eventReason(t, space, "CAPreviousDropped"); !strings.Contains(note, fingerprintsOf(t, firstCA.CertPEM)) {
		t.Errorf("CAPreviousDropped %q: want the dropped CA's fingerprint", note)
	}
}

package webhook

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/certs"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules/fixtures"
)

// Fast tests of the controllers' own logic, without an API server (a fake client; the envtest
// suites in test/ run the same controllers on a real one).

// eventLog records Events with the name of the object they are about.
type eventLog struct {
	mu     sync.Mutex
	events []string // "<name> <type> <reason> <message>"
}

func (l *eventLog) Eventf(regarding, _ runtime.Object, eventtype, reason, _, note string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	name := ""
	if o, ok := regarding.(metav1.Object); ok {
		name = o.GetName()
	}
	l.events = append(l.events, fmt.Sprintf("%s %s %s %s", name, eventtype, reason, fmt.Sprintf(note, args...)))
}

func (l *eventLog) AnnotatedEventf(regarding, related runtime.Object, _ map[string]string, eventtype, reason, action, note string, args ...any) {
	l.Eventf(regarding, related, eventtype, reason, action, note, args...)
}

func (l *eventLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.events
	l.events = nil
	return e
}

func testCA(t *testing.T, cn string, notAfter time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: notAfter.AddDate(-2, 0, 0), NotAfter: notAfter,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestCASyncKeepsThePreviousCAUntilItExpiresThenRequeues(t *testing.T) {
	ctx := context.Background()
	s := aigw.DefaultSettings()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	oldExpiry := now.Add(30 * 24 * time.Hour)
	oldCA, newCA := testCA(t, "Old CA", oldExpiry), testCA(t, "New CA", now.AddDate(1, 0, 0))
	src := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "aigw-ca", Namespace: "ai-gateway", UID: "src-uid", Labels: map[string]string{"aigw": "mtls"}},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: newCA, corev1.TLSPrivateKeyKey: []byte("key")},
	}
	// The bundle the CA sync wrote before the rotation, with its record.
	old, _ := certs.Parse(oldCA)
	target := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: s.CASecret, Namespace: "ai-gateway", Annotations: map[string]string{
			AnnotationCASyncSource: "aigw-ca", AnnotationCASyncFingerprints: certs.Fingerprint(old[0])}},
		Type: "nginx.org/ca",
		Data: map[string][]byte{s.CAKey: oldCA},
	}
	c := fake.NewClientBuilder().WithObjects(src, target).Build()
	events := &eventLog{}
	clock := now
	r := &CASync{Client: c, Cache: c, API: c, Source: "aigw-ca", Settings: s, Events: events, Now: func() time.Time { return clock }}
	req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ai-gateway", Name: "aigw-ca"}}
	bundle := func() (*corev1.Secret, []byte) {
		var got corev1.Secret
		if err := c.Get(ctx, client.ObjectKeyFromObject(target), &got); err != nil {
			t.Fatal(err)
		}
		return &got, got.Data[s.CAKey]
	}

	// The CA rotated: the new CA first, the old one kept, a requeue when the old one expires.
	res, err := r.Reconcile(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, got := bundle(); !bytes.Equal(got, append(append([]byte{}, newCA...), oldCA...)) {
		t.Errorf("after the rotation: want the new CA then the old one, got\n%s", got)
	}
	if want := oldExpiry.Sub(now) + time.Second; res.RequeueAfter != want {
		t.Errorf("RequeueAfter %s, want %s (the old CA's expiry, plus a second)", res.RequeueAfter, want)
	}
	if e := events.take(); len(e) != 1 || !strings.HasPrefix(e[0], "aigw-ca Normal CASynced ") {
		t.Errorf("events %q, want one CASynced on the source", e)
	}

	// Nothing changed: no write, the same requeue.
	before, _ := bundle()
	clock = now.Add(time.Hour)
	res, err = r.Reconcile(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := bundle(); after.ResourceVersion != before.ResourceVersion {
		t.Errorf("an unchanged bundle was written again (resourceVersion %s → %s)", before.ResourceVersion, after.ResourceVersion)
	}
	if want := oldExpiry.Sub(clock) + time.Second; res.RequeueAfter != want {
		t.Errorf("RequeueAfter %s, want %s", res.RequeueAfter, want)
	}

	// The requeue at the old CA's expiry drops it, and nothing is left to wait for.
	clock = oldExpiry.Add(time.Second)
	res, err = r.Reconcile(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, got := bundle(); !bytes.Equal(got, newCA) {
		t.Errorf("after the old CA expired: want the new CA alone, got\n%s", got)
	}
	if res.RequeueAfter != 0 {
		t.Errorf("RequeueAfter %s once no old CA is left, want none", res.RequeueAfter)
	}
}

func TestCASyncLeavesATargetItDoesNotOwn(t *testing.T) {
	ctx := context.Background()
	s := aigw.DefaultSettings()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	src := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "aigw-ca", Namespace: "ai-gateway"},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: testCA(t, "New CA", now.AddDate(1, 0, 0))},
	}
	mine := []byte("a bundle written by hand")
	target := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: s.CASecret, Namespace: "ai-gateway"}, Type: "nginx.org/ca", Data: map[string][]byte{s.CAKey: mine}}
	c := fake.NewClientBuilder().WithObjects(src, target).Build()
	events := &eventLog{}
	r := &CASync{Client: c, Cache: c, API: c, Source: "aigw-ca", Settings: s, Events: events, Now: func() time.Time { return now }}
	res, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ai-gateway", Name: "aigw-ca"}})
	if err != nil || res.RequeueAfter != 0 {
		t.Fatalf("Reconcile: %v, %+v", err, res)
	}
	var got corev1.Secret
	if err := c.Get(ctx, client.ObjectKeyFromObject(target), &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Data[s.CAKey], mine) {
		t.Errorf("a target the CA sync does not own was overwritten")
	}
	if e := events.take(); len(e) != 1 || !strings.HasPrefix(e[0], "aigw-ca Warning CASecretNotOwned ") || !strings.Contains(e[0], AnnotationCASyncSource) {
		t.Errorf("events %q, want one CASecretNotOwned naming the annotation that hands it over", e)
	}
}

// policyGauges returns the aigw_mtls_policy_problems series of a Policy, by rule.
func policyGauges(t *testing.T, namespace, policy string) map[string]float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1024)
	policyProblems.Collect(ch)
	close(ch)
	out := map[string]float64{}
	for pm := range ch {
		var m dto.Metric
		if err := pm.Write(&m); err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["namespace"] == namespace && labels["policy"] == policy {
			out[labels["rule"]] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestPolicyAuditReportsOnlyBrokenLivePolicies(t *testing.T) {
	pki := fixtures.PKI(t)
	cases := map[string]fixtures.Case{}
	for _, c := range fixtures.Cases(t, "../internal/rules/testdata/policy", pki) {
		cases[c.Name] = c
	}
	good, bad := cases["seed"], cases["wrong-sslname"]
	if good.Object == nil || bad.Object == nil {
		t.Fatal("fixtures seed and wrong-sslname not found")
	}
	var broken map[string]any
	if err := json.Unmarshal(bad.Object, &broken); err != nil {
		t.Fatal(err)
	}
	broken["metadata"].(map[string]any)["name"] = "broken"
	brokenRaw, _ := json.Marshal(broken)
	objs := objects.NewObjectSet("ai-gateway", append(append([][]byte{}, good.Objects...), good.Object, brokenRaw)...)
	// A Policy of another namespace is not this reconcile's business.
	broken["metadata"].(map[string]any)["namespace"] = "elsewhere"
	elsewhere, _ := json.Marshal(broken)
	objs.Add("elsewhere", elsewhere)

	events := &eventLog{}
	a := &PolicyAudit{Objects: objs, Settings: aigw.DefaultSettings(), Events: events, Now: func() time.Time { return fixtures.Now }}
	if _, err := a.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ai-gateway", Name: "policies"}}); err != nil {
		t.Fatal(err)
	}
	got := events.take()
	if len(got) == 0 {
		t.Fatal("no Event for Policy broken, whose sslName the server certificate does not cover")
	}
	for _, e := range got {
		if !strings.HasPrefix(e, "broken Warning EgressMTLSBroken ") || !strings.Contains(e, "[POLICY_SSLNAME_NOT_IN_SAN] spec.egressMTLS.sslName") {
			t.Errorf("event %q: want only EgressMTLSBroken Warnings on Policy broken, naming the rule and sslName", e)
		}
	}
	if g := policyGauges(t, "ai-gateway", "broken"); len(g) != 1 || g["POLICY_SSLNAME_NOT_IN_SAN"] != float64(len(got)) {
		t.Errorf("aigw_mtls_policy_problems{policy=broken} = %v, want {rule=POLICY_SSLNAME_NOT_IN_SAN: %d} (one per Event)", g, len(got))
	}
	if g := policyGauges(t, "ai-gateway", "aigw-mtls"); len(g) != 0 {
		t.Errorf("aigw_mtls_policy_problems{policy=aigw-mtls} (the seed's) = %v, want no series", g)
	}
	if g := policyGauges(t, "elsewhere", "broken"); len(g) != 0 {
		t.Errorf("a Policy of another namespace was audited: %v", g)
	}

	// Fixed, the Policy's series goes.
	var fixed map[string]any
	if err := json.Unmarshal(good.Object, &fixed); err != nil {
		t.Fatal(err)
	}
	fixed["metadata"].(map[string]any)["name"] = "broken"
	fixedRaw, _ := json.Marshal(fixed)
	a.Objects = objects.NewObjectSet("ai-gateway", append(append([][]byte{}, good.Objects...), good.Object, fixedRaw)...)
	if _, err := a.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ai-gateway", Name: "policies"}}); err != nil {
		t.Fatal(err)
	}
	if g := policyGauges(t, "ai-gateway", "broken"); len(g) != 0 {
		t.Errorf("fixed Policy: series %v remain", g)
	}
	// A rule's series goes with its problem; all of a Policy's go with the Policy.
	a.series.set("ai-gateway", map[string]map[rules.ID]int{"broken": {"POLICY_SSLNAME_NOT_IN_SAN": 1, "CA_EXPIRED": 2}})
	a.series.set("ai-gateway", map[string]map[rules.ID]int{"broken": {"CA_EXPIRED": 1}})
	if g := policyGauges(t, "ai-gateway", "broken"); len(g) != 1 || g["CA_EXPIRED"] != 1 {
		t.Errorf("after the sslName problem is gone: %v, want only {rule=CA_EXPIRED: 1}", g)
	}
	a.series.deleted("ai-gateway", "broken")
	if g := policyGauges(t, "ai-gateway", "broken"); len(g) != 0 {
		t.Errorf("deleted Policy: series %v remain", g)
	}
}

// While the CA sync runs, its record is its own: a CA added to its Secret is removed even when its
// fingerprint is added to the record annotation too. A new process reads the annotation once.
func TestCASyncRecordIsReadOnce(t *testing.T) {
	ctx := context.Background()
	s := aigw.DefaultSettings()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	ca, foreign := testCA(t, "Current CA", now.AddDate(1, 0, 0)), testCA(t, "Foreign CA", now.AddDate(10, 0, 0))
	src := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "aigw-ca", Namespace: "ai-gateway", UID: "src-uid"},
		Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: ca}}
	c := fake.NewClientBuilder().WithObjects(src).Build()
	sync := func() *CASync {
		return &CASync{Client: c, Cache: c, API: c, Source: "aigw-ca", Settings: s, Events: &eventLog{}, Now: func() time.Time { return now },
			Namespaces: []string{"ai-gateway"}}
	}
	r := sync()
	req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ai-gateway", Name: "aigw-ca"}}
	target := client.ObjectKey{Namespace: "ai-gateway", Name: s.CASecret}
	tamper := func() {
		var got corev1.Secret
		if err := c.Get(ctx, target, &got); err != nil {
			t.Fatal(err)
		}
		fs, _ := certs.Parse(foreign)
		got.Data[s.CAKey] = append(append([]byte{}, got.Data[s.CAKey]...), foreign...)
		got.Annotations[AnnotationCASyncFingerprints] += "," + certs.Fingerprint(fs[0])
		if err := c.Update(ctx, &got); err != nil {
			t.Fatal(err)
		}
	}
	held := func() []byte {
		if _, err := r.Reconcile(ctx, req); err != nil {
			t.Fatal(err)
		}
		var got corev1.Secret
		if err := c.Get(ctx, target, &got); err != nil {
			t.Fatal(err)
		}
		return got.Data[s.CAKey]
	}
	if got := held(); !bytes.Equal(got, ca) {
		t.Fatalf("first sync wrote\n%s", got)
	}
	tamper()
	if got := held(); !bytes.Equal(got, ca) {
		t.Errorf("a CA added with its fingerprint while the sync runs stayed:\n%s", got)
	}
	// A new process trusts the record it finds (the overlap must survive restarts)…
	tamper()
	r = sync()
	if got := held(); !bytes.Equal(got, append(append([]byte{}, ca...), foreign...)) {
		t.Errorf("a new process: want the recorded CAs kept, got\n%s", got)
	}
	// …and outside its namespaces the sync does nothing.
	other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "aigw-ca", Namespace: "tenant"}, Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: ca}}
	if err := c.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(other)}); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "tenant", Name: s.CASecret}, &corev1.Secret{}); err == nil {
		t.Error("the CA sync wrote a bundle outside its namespaces")
	}
}

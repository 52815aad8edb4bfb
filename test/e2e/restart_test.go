package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

func deployment(namespace, name string, optIn bool) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Annotations: map[string]string{}},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "aigw", Image: "aigw:v1"}}},
			},
		},
	}
	if optIn {
		d.Annotations[aigw.AnnotationRestartOnRenewal] = "true"
	}
	return d
}

func sha(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])[:16]
}

// A Deployment annotated mtls.aigw.io/restart-on-renewal rolls out (its pod template changes)
// exactly when the content of the server certificate or the CA bundle
// its pods mount changes; not when it is first seen, not for a write of the same certificate,
// never outside the configured namespaces, never without the annotation.
func TestRestartOnRenewal(t *testing.T) {
	t.Parallel() // waits on timers, in namespaces of its own (main_test.go, "Parallel tests")
	ctx := context.Background()
	const space, elsewhere = "restart-aigw", "restart-elsewhere"
	newNamespace(t, space)
	newNamespace(t, elsewhere)
	caCrt, serverCrt, _ := harness.SeedCertificates(space)
	ca, err := harness.Issue(caCrt, nil)
	if err != nil {
		t.Fatal(err)
	}
	server, err := harness.Issue(serverCrt, ca)
	if err != nil {
		t.Fatal(err)
	}
	serverSecret := server.Secret(serverCrt)
	// internal-ca written as the CA sync writes it (no aigw-ca here, so no CA sync runs).
	bundle := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "internal-ca", Namespace: space, Labels: map[string]string{"aigw": "mtls"}},
		Type:       "nginx.org/ca",
		Data:       map[string][]byte{"ca.crt": ca.CertPEM},
	}
	for _, obj := range []client.Object{serverSecret, bundle} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	aigwDep, plain, outside := deployment(space, "aigw", true), deployment(space, "other", false), deployment(elsewhere, "aigw", true)
	// Opted in, but its pod template names a server certificate Secret that does not exist.
	unmounted := deployment(space, "unmounted", true)
	unmounted.Spec.Template.Annotations = map[string]string{aigw.AnnotationServerTLSSecret: "no-such-tls"}
	for _, d := range []*appsv1.Deployment{aigwDep, plain, outside, unmounted} {
		if err := env.Client.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
	}

	o := webhook.DefaultOptions()
	o.CASyncSource = "" // the main test webhook runs the CA sync
	o.RestartNamespaces = []string{space}
	// Secrets cached in another namespace only, as the chart's access.secretNamespaces can set it:
	// the restart's own namespaces are cached all the same.
	o.SecretNamespaces = []string{"ai-gateway"}
	hook, err := harness.StartWebhook(env.Config, o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = hook.Stop() }()

	get := func(d *appsv1.Deployment) *appsv1.Deployment {
		t.Helper()
		var live appsv1.Deployment
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(d), &live); err != nil {
			t.Fatal(err)
		}
		return &live
	}
	want := func(serverPEM, caPEM []byte) string {
		return "server/aigw-server-tls=" + sha(serverPEM) + ",ca/internal-ca=" + sha(caPEM)
	}
	// The Deployment's pod template as created (defaulted); only the annotation may change it.
	created := get(aigwDep).Spec.Template
	// expect waits until the Deployment records fingerprints and its pod template carries
	// template (a changed pod template is what rolls a Deployment out).
	expect := func(what, fingerprints, template string) {
		t.Helper()
		eventually(t, what, func() error {
			d := get(aigwDep)
			if got := d.Annotations[aigw.AnnotationCertificates]; got != fingerprints {
				return fmt.Errorf("annotation %q, want %q", got, fingerprints)
			}
			if got := d.Spec.Template.Annotations[aigw.AnnotationCertificates]; got != template {
				return fmt.Errorf("pod template annotation %q, want %q", got, template)
			}
			rest := d.Spec.Template.DeepCopy()
			delete(rest.Annotations, aigw.AnnotationCertificates)
			if len(rest.Annotations) == 0 {
				rest.Annotations = nil
			}
			if !equality.Semantic.DeepEqual(*rest, created) {
				return fmt.Errorf("pod template changed beyond the annotation: %+v", rest)
			}
			return nil
		})
	}
	settle := func() { time.Sleep(3 * time.Second) }

	// First seen: recorded on the Deployment, no rollout (the pods mount these certificates).
	expect("fingerprints recorded", want(server.CertPEM, ca.CertPEM), "")
	settle()
	expect("still no rollout", want(server.CertPEM, ca.CertPEM), "")

	// cert-manager renews the server certificate: one rollout.
	renewed, err := harness.Issue(serverCrt, ca)
	if err != nil {
		t.Fatal(err)
	}
	serverSecret = liveSecret(t, client.ObjectKeyFromObject(serverSecret))
	serverSecret.Data = renewed.Secret(serverCrt).Data
	if err := env.Client.Update(ctx, serverSecret); err != nil {
		t.Fatal(err)
	}
	after := want(renewed.CertPEM, ca.CertPEM)
	expect("rollout after the renewal", after, after)

	// The same certificate written again (a label added): nothing.
	serverSecret = liveSecret(t, client.ObjectKeyFromObject(serverSecret))
	serverSecret.Labels["touched"] = "yes"
	if err := env.Client.Update(ctx, serverSecret); err != nil {
		t.Fatal(err)
	}
	settle()
	expect("no rollout for an unchanged certificate", after, after)

	// The CA bundle changes (a CA rotation): one more rollout.
	newCA, err := harness.Issue(caCrt, nil)
	if err != nil {
		t.Fatal(err)
	}
	bundle = liveSecret(t, client.ObjectKeyFromObject(bundle))
	bundle.Data["ca.crt"] = append(append([]byte{}, newCA.CertPEM...), ca.CertPEM...)
	if err := env.Client.Update(ctx, bundle); err != nil {
		t.Fatal(err)
	}
	rotated := want(renewed.CertPEM, bundle.Data["ca.crt"])
	expect("rollout after the CA rotation", rotated, rotated)
	settle()
	expect("no loop", rotated, rotated)

	for _, d := range []*appsv1.Deployment{plain, outside, unmounted} {
		live := get(d)
		if live.Annotations[aigw.AnnotationCertificates] != "" || live.Spec.Template.Annotations[aigw.AnnotationCertificates] != "" {
			t.Errorf("Deployment %s/%s was touched: annotations %v, pod template annotations %v", d.Namespace, d.Name, live.Annotations, live.Spec.Template.Annotations)
		}
	}
	evs, err := kube.EventsV1().Events(space).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n, notFound := 0, ""
	for _, e := range evs.Items {
		if e.Reason == "CertificatesRenewed" && e.Regarding.Name == "aigw" {
			n++
		}
		if e.Reason == "CertificatesNotFound" && e.Regarding.Name == "unmounted" {
			notFound = e.Note
		}
	}
	if n != 2 {
		t.Errorf("%d CertificatesRenewed events, want 2", n)
	}
	if want := "expected the Secret " + space + "/no-such-tls labelled aigw=mtls the webhook mounts into its pods, found none"; !strings.Contains(notFound, want) {
		t.Errorf("CertificatesNotFound event %q, want it to say %q", notFound, want)
	}
}

func liveSecret(t *testing.T, key client.ObjectKey) *corev1.Secret {
	t.Helper()
	var s corev1.Secret
	if err := env.Client.Get(context.Background(), key, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

package checker

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// WriteJSON prints, a check at a time, the very document json.Encoder prints of the whole report.
func TestWriteJSONIsTheEncodersDocument(t *testing.T) {
	for name, r := range map[string]*Report{
		"none": newReport(nil, nil),
		"some": newReport([]Check{
			{Section: SectionPolicies, Namespace: "a", Object: "Policy/a/p", Status: StatusError, Message: "<sslName> & \"quotes\"", Fix: "fix it", Rule: "POLICY_X"},
			{Section: SectionSecrets, Namespace: "a", Object: "Secret/a/s", Status: StatusOK, Message: "ok — ✓"},
			{Section: SectionCluster, Object: "namespaces", Status: StatusWarning, Message: "m", Fix: "f"},
		}, []string{"a"}),
	} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := r.WriteJSON(&got); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%s: WriteJSON printed\n%s\nwant\n%s", name, got.String(), want.String())
		}
	}
}

// The writers check prints with, fed as Stream feeds them, print what Report prints of the same
// checks in Run's order: later checks about a namespace join its group, one about a namespace
// without checks of its own gets a group after the others, the cluster-wide ones come last.
func TestStreamWritersPrintTheReport(t *testing.T) {
	c := func(section, ns, obj string, st Status) Check {
		return Check{Section: section, Namespace: ns, Object: obj, Status: st, Message: "m " + obj, Fix: "f " + obj}
	}
	cluster := []Check{c(SectionCluster, "", "namespaces", StatusWarning)}
	byNamespace := [][]Check{
		{c(SectionSecrets, "a", "Secret/a/x", StatusOK), c(SectionPods, "a", "Pod/a/p", StatusError)},
		{c(SectionSecrets, "b", "Secret/b/x", StatusWarning)},
		{},
	}
	late := []Check{
		c(SectionNIC, "", "Deployment/nic", StatusOK), c(SectionProbe, "b", "Policy/b/p", StatusError),
		c(SectionProbe, "z", "Policy/z/p", StatusOK), c(SectionWebhooks, "", "MutatingWebhookConfiguration/x", StatusOK),
	}
	namespaces := []string{"a", "b", "c"}
	all := append([]Check{}, cluster...)
	for _, cs := range byNamespace {
		all = append(all, cs...)
	}
	all = append(all, late...)
	r := newReport(all, namespaces)

	type failedSink interface {
		Sink
		Failed() bool
	}
	for _, w := range []struct {
		name  string
		out   *bytes.Buffer
		sink  func(*bytes.Buffer) failedSink
		print func(*bytes.Buffer) error
	}{
		{"text", &bytes.Buffer{}, func(b *bytes.Buffer) failedSink { return NewTextWriter(b) }, func(b *bytes.Buffer) error { return r.WriteText(b) }},
		{"json", &bytes.Buffer{}, func(b *bytes.Buffer) failedSink { return NewJSONWriter(b) }, func(b *bytes.Buffer) error { return r.WriteJSON(b) }},
	} {
		name, sink := w.name, w.sink(w.out)
		if err := sink.Begin(cluster, late); err != nil {
			t.Fatal(err)
		}
		for _, cs := range byNamespace {
			if err := sink.Namespace(cs); err != nil {
				t.Fatal(err)
			}
		}
		if err := sink.End(namespaces); err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		if err := w.print(&want); err != nil {
			t.Fatal(err)
		}
		if w.out.String() != want.String() {
			t.Errorf("%s: streamed\n%s\nwant\n%s", name, w.out.String(), want.String())
		}
		if !sink.Failed() {
			t.Errorf("%s: errors were printed, Failed() = false", name)
		}
	}
}

// On one cluster, what the command prints (Stream into a writer) is what Run's Report prints,
// text and JSON, byte for byte.
func TestStreamPrintsWhatRunReports(t *testing.T) {
	var objs []client.Object
	for _, ns := range []string{"t1", "t2", "t3"} {
		objs = append(objs,
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "aigw-server-tls", Namespace: ns, Labels: map[string]string{"aigw": "mtls"}},
				Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": []byte("not a certificate"), "tls.key": []byte("key")}},
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "aigw", Namespace: ns, Labels: map[string]string{"aigw": "mtls", "app": "aigw"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "aigw", Image: "aigw"}}}},
			&unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "k8s.nginx.org/v1", "kind": "Policy",
				"metadata": map[string]any{"name": "aigw-mtls", "namespace": ns, "labels": map[string]any{"aigw": "mtls"}},
				"spec":     map[string]any{"egressMTLS": map[string]any{"tlsSecret": "aigw-nic-client-tls", "trustedCertSecret": "internal-ca"}},
			}})
	}
	c := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithRESTMapper(restMapper()).WithObjects(objs...).Build()
	o := DefaultOptions()
	o.Now = time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	r, err := Run(context.Background(), c, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Summary.Namespaces) != 3 {
		t.Fatalf("namespaces checked %v, want t1, t2 and t3", r.Summary.Namespaces)
	}
	for _, f := range []struct {
		name   string
		report func(*bytes.Buffer) error
		sink   func(*bytes.Buffer) Sink
	}{
		{"text", func(b *bytes.Buffer) error { return r.WriteText(b) }, func(b *bytes.Buffer) Sink { return NewTextWriter(b) }},
		{"json", func(b *bytes.Buffer) error { return r.WriteJSON(b) }, func(b *bytes.Buffer) Sink { return NewJSONWriter(b) }},
	} {
		var want, got bytes.Buffer
		if err := f.report(&want); err != nil {
			t.Fatal(err)
		}
		if err := Stream(context.Background(), c, o, f.sink(&got)); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%s: Stream printed\n%s\nRun's Report prints\n%s", f.name, got.String(), want.String())
		}
	}
}

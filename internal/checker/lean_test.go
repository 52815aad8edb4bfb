package checker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// check keeps of what it lists only what the checks read: no managedFields or last-applied copy,
// no data of unrelated keys (a Helm release), no spec of an unlabelled pod, no EndpointSlice
// outside the webhook's namespace; and each namespace's objects are grouped so that checking one
// namespace reads only its own.
func TestCollectKeepsOnlyWhatTheChecksRead(t *testing.T) {
	applied := map[string]string{annotationLastApplied: `{"huge":"copy"}`, "keep": "me"}
	labelled := map[string]string{"aigw": "mtls", "app": "aigw"}
	var objs []client.Object
	for _, ns := range []string{"t1", "t2"} {
		objs = append(objs,
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "aigw-server-tls", Namespace: ns, Annotations: applied},
				Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": []byte("cert"), "tls.key": []byte("key"), "unrelated": []byte("x")}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sh.helm.release.v1.x.v1", Namespace: ns},
				Type: "helm.sh/release.v1", Data: map[string][]byte{"release": []byte("a release")}},
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "aigw", Namespace: ns, Labels: labelled},
				Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "aigw", Image: "aigw"}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady}}}},
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: ns, Labels: map[string]string{"app": "aigw"}, Annotations: applied},
				Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "other", Image: "other"}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning}},
			&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "aigw-x", Namespace: ns}, AddressType: discoveryv1.AddressTypeIPv4},
		)
		p := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "k8s.nginx.org/v1", "kind": "Policy",
			"metadata": map[string]any{"name": "aigw-mtls", "namespace": ns, "annotations": map[string]any{annotationLastApplied: "{}"}},
			"spec":     map[string]any{"egressMTLS": map[string]any{"tlsSecret": "aigw-client-tls"}},
			"status": map[string]any{"state": "Valid", "message": "a long message " + strings.Repeat("x", 4096),
				"externalEndpoints": []any{map[string]any{"ip": "10.0.0.1", "ports": "[80,443]"}}},
		}}
		objs = append(objs, p)
	}
	c := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithRESTMapper(restMapper()).WithObjects(objs...).Build()
	s, err := collect(context.Background(), c, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	sec := s.secret("t1", "aigw-server-tls")
	if sec == nil {
		t.Fatal("Secret t1/aigw-server-tls not collected")
	}
	if sec.Annotations[annotationLastApplied] != "" || sec.Annotations["keep"] != "me" {
		t.Errorf("Secret annotations %v; want only the annotation keep", sec.Annotations)
	}
	if _, ok := sec.Data["unrelated"]; ok || string(sec.Data["tls.crt"]) != "cert" || len(sec.Data["tls.key"]) == 0 {
		t.Errorf("Secret data keys %v: want tls.crt and tls.key only", keys(sec.Data))
	}
	if helm := s.secret("t1", "sh.helm.release.v1.x.v1"); helm == nil || len(helm.Data) != 0 {
		t.Errorf("Helm release Secret: want it known by name with no data, got %+v", helm)
	}
	for _, i := range s.in.pods["t1"] {
		p := s.pods[i]
		if p.Namespace != "t1" || len(p.Status.Conditions) != 0 || p.Status.Phase != corev1.PodRunning {
			t.Errorf("pod %s/%s: status %+v, want only its phase", p.Namespace, p.Name, p.Status)
		}
		if p.Name == "aigw" && len(p.Spec.Containers) != 1 {
			t.Errorf("labelled pod lost its spec: %+v", p.Spec)
		}
		if p.Name == "other" && (len(p.Spec.Containers) != 0 || p.Annotations != nil || p.Labels["app"] != "aigw") {
			t.Errorf("unlabelled pod: want only its name, labels and phase, got %+v", p)
		}
	}
	if len(s.in.pods["t1"]) != 2 || len(s.in.pods["t2"]) != 2 {
		t.Errorf("pods by namespace %v, want two in each of t1 and t2", s.in.pods)
	}
	if len(s.slices) != 0 {
		t.Errorf("kept %d EndpointSlices outside the webhook's namespace", len(s.slices))
	}
	for _, i := range s.in.policies["t2"] {
		p := s.policies[i].obj()
		if p.GetAnnotations()[annotationLastApplied] != "" || p.GetNamespace() != "t2" {
			t.Errorf("Policy %s/%s kept last-applied: %v", p.GetNamespace(), p.GetName(), p.Object)
		}
		// NIC's verdict is kept, its message bounded; the rest of the status is not read.
		st, _ := p.Object["status"].(map[string]any)
		msg, _ := st["message"].(string)
		if len(st) != 2 || st["state"] != "Valid" || !strings.HasPrefix(msg, "a long message xxx") || len(msg) > rules.MaxStatusMessage+len("… (clipped)") {
			t.Errorf("Policy %s/%s status %v: want state and a message clipped to %d bytes", p.GetNamespace(), p.GetName(), st, rules.MaxStatusMessage)
		}
	}
	if _, ok := s.objs.Get("Policy", "t2", "aigw-mtls"); !ok {
		t.Error("Policy t2/aigw-mtls missing from the rules' lookups")
	}
}

// The fake client drops managedFields on its own; this is what a real API server sends.
func TestTrimDropsManagedFields(t *testing.T) {
	managed := []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}
	s := &snapshot{o: DefaultOptions()}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{ManagedFields: managed}}
	s.trimSecret(sec)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{ManagedFields: managed, Labels: map[string]string{"aigw": "mtls"}}}
	s.trimPod(p)
	u := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "p"}}}
	u.SetManagedFields(managed)
	trimUnstructured(u)
	if sec.ManagedFields != nil || p.ManagedFields != nil || u.GetManagedFields() != nil {
		t.Errorf("managedFields kept: Secret %v, Pod %v, Policy %v", sec.ManagedFields, p.ManagedFields, u.GetManagedFields())
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// BenchmarkRunPerNamespace reports the cost of checking one tenant at two cluster sizes: with
// the lookups indexed by namespace it stays flat (it grew with the cluster when every namespace
// scanned every object).
func BenchmarkRunPerNamespace(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var objs []client.Object
			for i := range n {
				ns := fmt.Sprintf("tenant-%d", i)
				objs = append(objs,
					&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "aigw", Namespace: ns, Labels: map[string]string{"aigw": "mtls", "app": "aigw"}}},
					&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "aigw", Namespace: ns, Labels: map[string]string{"aigw": "mtls"}}, Data: map[string]string{"config.yaml": "{}"}},
					&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "unrelated", Namespace: ns}})
			}
			c := fake.NewClientBuilder().WithScheme(coreScheme(b)).WithRESTMapper(restMapper()).WithObjects(objs...).Build()
			s, err := collect(context.Background(), c, DefaultOptions())
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				for _, ns := range s.namespaces {
					for _, run := range namespaceChecks {
						run(s, ns)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/namespace")
		})
	}
}

// Namespaces are checked in parallel; the report still lists them in order, each with all its
// sections, the same on every run.
func TestParallelChecksKeepNamespaceOrder(t *testing.T) {
	var objs []client.Object
	for i := range 40 {
		ns := fmt.Sprintf("tenant-%02d", i)
		objs = append(objs,
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "aigw", Namespace: ns, Labels: map[string]string{"aigw": "mtls", "app": "aigw"}}},
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "aigw", Namespace: ns, Labels: map[string]string{"aigw": "mtls"}}, Data: map[string]string{"aigw.yaml": "{}"}})
	}
	c := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithRESTMapper(restMapper()).WithObjects(objs...).Build()
	var first []Check
	for run := range 3 {
		r, err := Run(context.Background(), c, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		var namespaces []string
		for _, ch := range r.Checks {
			if ch.Namespace != "" && (len(namespaces) == 0 || namespaces[len(namespaces)-1] != ch.Namespace) {
				namespaces = append(namespaces, ch.Namespace)
			}
		}
		if len(namespaces) != 40 || !slices.IsSorted(namespaces) {
			t.Fatalf("run %d: namespaces in report order %v, want tenant-00…tenant-39 once each, in order", run, namespaces)
		}
		if run == 0 {
			first = r.Checks
		} else if !slices.Equal(first, r.Checks) {
			t.Errorf("run %d differs from the first", run)
		}
	}
}

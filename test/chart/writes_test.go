package chart_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/tools"
)

// The policies that narrow the opt-in write rights (restartOnRenewal, nicReload) to what the
// webhook writes: rendered with their feature, bound with Deny, matched on the ServiceAccount.
func checkWritePolicies(t *testing.T, r rendering) {
	t.Helper()
	for _, p := range []struct {
		name, resource string
		on             bool
	}{
		{r.fullname() + "-restart-writes", "deployments", r.value("restartOnRenewal.namespaces", "") != ""},
		{r.fullname() + "-nic-reload-writes", "configmaps", r.value("nicReload.configMap", "") != ""},
	} {
		vap := r.named("ValidatingAdmissionPolicy", "", p.name)
		bind := r.named("ValidatingAdmissionPolicyBinding", "", p.name)
		if (vap != nil) != p.on || (bind != nil) != p.on {
			t.Errorf("ValidatingAdmissionPolicy (and binding) %s rendered: %v, %v; want both exactly when its feature is on (%v)", p.name, vap != nil, bind != nil, p.on)
			continue
		}
		if !p.on {
			continue
		}
		if str(vap, "spec", "failurePolicy") != "Fail" || str(bind, "spec", "policyName") != p.name || fmt.Sprint(slice(bind.Object, "spec", "validationActions")) != "[Deny]" {
			t.Errorf("%s: failurePolicy %s, binding to %s with %v; want Fail, bound with [Deny]", p.name, str(vap, "spec", "failurePolicy"),
				str(bind, "spec", "policyName"), slice(bind.Object, "spec", "validationActions"))
		}
		if cond := fmt.Sprint(slice(vap.Object, "spec", "matchConditions")); !strings.Contains(cond, `"system:serviceaccount:`+r.v.namespace+":"+r.fullname()+`"`) {
			t.Errorf("%s matchConditions %s: want the ServiceAccount", p.name, cond)
		}
		if rules := fmt.Sprint(slice(vap.Object, "spec", "matchConstraints", "resourceRules")); !strings.Contains(rules, p.resource) {
			t.Errorf("%s resourceRules %s: want %s", p.name, rules, p.resource)
		}
	}
	// caSync.precreateSecret: the chart creates the CA sync's Secret in each of its namespaces.
	var secrets []string
	for _, s := range r.all("Secret") {
		secrets = append(secrets, s.GetNamespace())
		if s.GetName() != r.wiring("caSecret") || str(s, "type") != "nginx.org/ca" || s.Object["data"] != nil ||
			s.GetAnnotations()["mtls.aigw.io/ca-sync-source"] != r.caSyncSource() {
			t.Errorf("Secret %s/%s type %s annotations %v: want the CA sync's empty nginx.org/ca Secret %s owned by source %s",
				s.GetNamespace(), s.GetName(), str(s, "type"), s.GetAnnotations(), r.wiring("caSecret"), r.caSyncSource())
		}
	}
	var want []string
	if r.precreate() {
		for _, role := range r.all("Role") {
			if strings.HasSuffix(role.GetName(), "-ca-sync") {
				want = append(want, role.GetNamespace())
			}
		}
	}
	if fmt.Sprint(secrets) != fmt.Sprint(want) {
		t.Errorf("Secrets rendered in %v, want %v (the CA sync's namespaces, only with caSync.precreateSecret)", secrets, want)
	}
}

func (r rendering) precreate() bool { return r.value("caSync.precreateSecret", "false") == "true" }

// policyExpressions is the text of every CEL expression of a rendered policy.
func policyExpressions(t *testing.T, r rendering, name string) string {
	t.Helper()
	vap := r.named("ValidatingAdmissionPolicy", "", name)
	if vap == nil {
		t.Fatalf("no ValidatingAdmissionPolicy %s", name)
	}
	var b strings.Builder
	for _, part := range []string{"variables", "validations"} {
		for _, x := range slice(vap.Object, "spec", part) {
			b.WriteString(fmt.Sprint(x.(map[string]any)["expression"]) + "\n")
		}
	}
	return b.String()
}

// jsonFields are the JSON names of a struct's fields (embedded ones flattened).
func jsonFields(typ reflect.Type) []string {
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// TestWritePoliciesCoverEveryField: "everything else unchanged" is a list of fields in CEL; a
// field Kubernetes adds to a Deployment, its pod template metadata or a ConfigMap must be added
// to it, or this fails.
func TestWritePoliciesCoverEveryField(t *testing.T) {
	_, objs := render(t, valueSetNamed("rollouts-and-alerts"))
	r := rendering{v: valueSetNamed("rollouts-and-alerts"), objs: objs}
	compared := func(expr, path string) bool {
		return strings.Contains(expr, "has(object."+path+") == has(oldObject."+path+")") && strings.Contains(expr, "object."+path+" == oldObject."+path)
	}
	restart := policyExpressions(t, r, r.fullname()+"-restart-writes")
	for _, f := range jsonFields(reflect.TypeFor[appsv1.DeploymentSpec]()) {
		if f != "template" && !compared(restart, "spec."+f) {
			t.Errorf("restart-writes policy: Deployment field spec.%s is not compared with oldObject", f)
		}
	}
	if !compared(restart, "spec.template.spec") {
		t.Error("restart-writes policy: the pod template's spec is not compared with oldObject")
	}
	for _, f := range jsonFields(reflect.TypeFor[metav1.ObjectMeta]()) {
		if f != "annotations" && !compared(restart, "spec.template.metadata."+f) {
			t.Errorf("restart-writes policy: pod template field metadata.%s is not compared with oldObject", f)
		}
	}
	for _, f := range []string{"labels", "finalizers", "ownerReferences"} {
		if !compared(restart, "metadata."+f) {
			t.Errorf("restart-writes policy: Deployment metadata.%s is not compared with oldObject", f)
		}
	}
	nic := policyExpressions(t, r, r.fullname()+"-nic-reload-writes")
	for _, f := range append(jsonFields(reflect.TypeFor[corev1.ConfigMap]()), "metadata.labels", "metadata.finalizers", "metadata.ownerReferences") {
		if f == "metadata" || f == "kind" || f == "apiVersion" {
			continue
		}
		if !compared(nic, f) {
			t.Errorf("nic-reload-writes policy: ConfigMap field %s is not compared with oldObject", f)
		}
	}
}

// webhookBinary builds the webhook into the test's temporary folder.
func webhookBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "aigw-mtls-webhook")
	build := exec.Command("go", "build", "-o", bin, "./cmd/aigw-mtls-webhook")
	build.Dir = harness.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func startEnv(t *testing.T, namespaces ...string) *harness.Env {
	t.Helper()
	env, err := harness.Start()
	if harness.SkipWithout(err) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	for _, ns := range namespaces {
		if err := env.Client.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	return env
}

func serviceAccountUser() string {
	return "system:serviceaccount:" + defaultNamespace + ":" + defaultRelease
}

func asServiceAccount(t *testing.T, env *harness.Env) client.Client {
	return impersonate(t, env.Config, serviceAccountUser(), "system:serviceaccounts", "system:serviceaccounts:"+defaultNamespace, "system:authenticated")
}

// refusedBy asserts err is the policy's refusal and names what it must.
func refusedBy(t *testing.T, what string, err error, policy string, names ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: admitted, want refused by %s", what, policy)
		return
	}
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "ValidatingAdmissionPolicy '"+policy+"'") {
		t.Errorf("%s: want refused by ValidatingAdmissionPolicy %s, got %v", what, policy, err)
		return
	}
	for _, n := range names {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("%s: the refusal does not name %q: %v", what, n, err)
		}
	}
}

// TestOptInWritesOnAPIServer applies the chart's RBAC and admission policies with
// restartOnRenewal and nicReload on, and writes as the webhook's ServiceAccount (impersonated):
// RBAC lets it patch every Deployment of the namespace and all of NIC's ConfigMap, the policies
// only the annotations the restart and the reload write. Then the webhook binary, started with
// the chart's arguments as that ServiceAccount, does its real writes under them: none refused.
func TestOptInWritesOnAPIServer(t *testing.T) {
	t.Parallel() // an API server of its own; these tests mostly wait on it, so they run together
	helmBinary(t)
	const nicNS = "gateway"
	env := startEnv(t, defaultNamespace, aigwNS, nicNS)
	ctx := t.Context()
	admin := env.Client
	v := valueSet{name: "opt-in-writes", release: defaultRelease, namespace: defaultNamespace,
		set: []string{"nicReload.configMap=" + nicNS + "/nginx-ingress", "nicReload.delay=1s", "restartOnRenewal.namespaces={" + aigwNS + "}"}}
	_, objs := render(t, v)
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
			if err := apply(ctx, admin, o); err != nil {
				t.Fatalf("%s: %v", objectKey(o), err)
			}
		}
	}
	restartPolicy, nicPolicy := defaultRelease+"-restart-writes", defaultRelease+"-nic-reload-writes"

	newDeployment := func(name string, optIn bool) *appsv1.Deployment {
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: aigwNS, Labels: map[string]string{"app": name},
				Annotations: map[string]string{"team": "edge"}},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}, Annotations: map[string]string{"example.com/keep": "yes"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "aigw", Image: "aigw:v1"}}},
				},
			},
		}
		if optIn {
			d.Annotations[aigw.AnnotationRestartOnRenewal] = "true"
		}
		if err := admin.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	optedIn, plain := newDeployment("aigw", true), newDeployment("other", false)
	nicCM := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx-ingress", Namespace: nicNS, Labels: map[string]string{"app": "nginx-ingress"},
			Annotations: map[string]string{"team": "edge"}},
		Data: map[string]string{"ssl-protocols": "TLSv1.3"},
	}
	if err := admin.Create(ctx, nicCM); err != nil {
		t.Fatal(err)
	}

	sa := asServiceAccount(t, env)
	patchDeployment := func(d *appsv1.Deployment, change func(*appsv1.Deployment), opts ...client.PatchOption) error {
		var live appsv1.Deployment
		if err := sa.Get(ctx, client.ObjectKeyFromObject(d), &live); err != nil {
			t.Fatal(err)
		}
		before := live.DeepCopy()
		change(&live)
		return sa.Patch(ctx, &live, client.MergeFrom(before), opts...)
	}
	patchConfigMap := func(change func(*corev1.ConfigMap), opts ...client.PatchOption) error {
		var live corev1.ConfigMap
		if err := sa.Get(ctx, client.ObjectKeyFromObject(nicCM), &live); err != nil {
			t.Fatal(err)
		}
		before := live.DeepCopy()
		change(&live)
		return sa.Patch(ctx, &live, client.MergeFrom(before), opts...)
	}
	newImage := func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "attacker/aigw:latest" }
	addSnippet := func(cm *corev1.ConfigMap) { cm.Data["http-snippets"] = "server { listen 8081; }" }
	// The API server's policy informer lags the write: wait until both policies refuse (dry run).
	waitFor(t, nil, 30*time.Second, "the ValidatingAdmissionPolicies refusing an image change and a ConfigMap data change", func() error {
		if err := patchDeployment(optedIn, newImage, client.DryRunAll); err == nil || !strings.Contains(err.Error(), restartPolicy) {
			return fmt.Errorf("image change: %v", err)
		}
		if err := patchConfigMap(addSnippet, client.DryRunAll); err == nil || !strings.Contains(err.Error(), nicPolicy) {
			return fmt.Errorf("ConfigMap data change: %v", err)
		}
		return nil
	})

	fingerprints := "server/aigw-server-tls=sha256:0123456789abcdef,ca/internal-ca=sha256:fedcba9876543210"
	t.Run("Deployments: only the fingerprints annotation of an opted-in Deployment", func(t *testing.T) {
		for _, c := range []struct {
			what   string
			d      *appsv1.Deployment
			change func(*appsv1.Deployment)
			names  []string
		}{
			{"an image change", optedIn, newImage, []string{"Deployment ai-gateway/aigw", "field spec.template.spec", "[" + restartPolicy + ": fields]"}},
			{"another ServiceAccount", optedIn, func(d *appsv1.Deployment) { d.Spec.Template.Spec.ServiceAccountName = "admin" }, []string{"field spec.template.spec"}},
			{"more replicas", optedIn, func(d *appsv1.Deployment) { d.Spec.Replicas = new(int32(9)) }, []string{"field spec.replicas"}},
			{"another pod template label", optedIn, func(d *appsv1.Deployment) { d.Spec.Template.Labels["extra"] = "x" }, []string{"field spec.template.metadata.labels"}},
			{"a Deployment label", optedIn, func(d *appsv1.Deployment) { d.Labels["extra"] = "x" }, []string{"field metadata.labels"}},
			{"another mtls.aigw.io annotation on the pod template (the pod mutation reads it)", optedIn, func(d *appsv1.Deployment) {
				d.Spec.Template.Annotations[aigw.AnnotationServerTLSSecret] = "someone-elses-tls"
			}, []string{"field spec.template.metadata.annotations[" + aigw.AnnotationServerTLSSecret + "]", "[" + restartPolicy + ": annotations]"}},
			{"a pod template annotation removed", optedIn, func(d *appsv1.Deployment) { delete(d.Spec.Template.Annotations, "example.com/keep") },
				[]string{"field spec.template.metadata.annotations[example.com/keep]"}},
			{"the opt-in removed", optedIn, func(d *appsv1.Deployment) { delete(d.Annotations, aigw.AnnotationRestartOnRenewal) },
				[]string{"field metadata.annotations[" + aigw.AnnotationRestartOnRenewal + "]"}},
			{"a fingerprints annotation that is no fingerprint", optedIn, func(d *appsv1.Deployment) {
				d.Spec.Template.Annotations[aigw.AnnotationCertificates] = "anything"
			}, []string{"[" + restartPolicy + ": fingerprints]"}},
			{"the fingerprints annotation on a Deployment not opted in", plain, func(d *appsv1.Deployment) {
				d.Annotations[aigw.AnnotationCertificates] = fingerprints
				d.Spec.Template.Annotations[aigw.AnnotationCertificates] = fingerprints
			}, []string{"Deployment ai-gateway/other", `expected "true"`, "found none", "[" + restartPolicy + ": opted-in]"}},
		} {
			refusedBy(t, c.what, patchDeployment(c.d, c.change), restartPolicy, c.names...)
		}
		// What the restart writes (webhook/restart.go): the fingerprints on the Deployment, then on
		// its pod template.
		if err := patchDeployment(optedIn, func(d *appsv1.Deployment) { d.Annotations[aigw.AnnotationCertificates] = fingerprints }); err != nil {
			t.Errorf("recording the fingerprints on the Deployment: %v", err)
		}
		if err := patchDeployment(optedIn, func(d *appsv1.Deployment) {
			d.Annotations[aigw.AnnotationCertificates] = strings.ReplaceAll(fingerprints, "0123", "4567")
			d.Spec.Template.Annotations[aigw.AnnotationCertificates] = strings.ReplaceAll(fingerprints, "0123", "4567")
		}); err != nil {
			t.Errorf("the rollout (fingerprints on the pod template): %v", err)
		}
		var live appsv1.Deployment
		if err := admin.Get(ctx, client.ObjectKeyFromObject(optedIn), &live); err != nil {
			t.Fatal(err)
		}
		if live.Spec.Template.Spec.Containers[0].Image != "aigw:v1" || live.Spec.Template.Annotations[aigw.AnnotationCertificates] == "" {
			t.Errorf("after the writes: image %s, pod template annotations %v", live.Spec.Template.Spec.Containers[0].Image, live.Spec.Template.Annotations)
		}
	})

	t.Run("NIC's ConfigMap: only the ca-bundle annotation", func(t *testing.T) {
		for _, c := range []struct {
			what   string
			change func(*corev1.ConfigMap)
			names  []string
		}{
			{"an http-snippets key", addSnippet, []string{"ConfigMap gateway/nginx-ingress", "field data", "[" + nicPolicy + ": fields]"}},
			{"a changed key", func(cm *corev1.ConfigMap) { cm.Data["ssl-protocols"] = "TLSv1" }, []string{"field data"}},
			{"binaryData", func(cm *corev1.ConfigMap) { cm.BinaryData = map[string][]byte{"x": []byte("y")} }, []string{"field binaryData"}},
			{"a label", func(cm *corev1.ConfigMap) { cm.Labels["extra"] = "x" }, []string{"field metadata.labels"}},
			{"another annotation", func(cm *corev1.ConfigMap) { cm.Annotations["team"] = "attacker" },
				[]string{"field metadata.annotations[team]", "[" + nicPolicy + ": annotations]"}},
			{"a ca-bundle annotation that is no digest", func(cm *corev1.ConfigMap) { cm.Annotations[aigw.AnnotationCABundle] = "x" }, []string{"[" + nicPolicy + ": digest]"}},
		} {
			refusedBy(t, c.what, patchConfigMap(c.change), nicPolicy, c.names...)
		}
		if err := patchConfigMap(func(cm *corev1.ConfigMap) {
			cm.Annotations[aigw.AnnotationCABundle] = "sha256:" + strings.Repeat("ab", 16)
		}); err != nil {
			t.Errorf("the ca-bundle annotation the NIC reload writes: %v", err)
		}
	})

	t.Run("the webhook's restart and NIC reload write under the policies", func(t *testing.T) {
		testRealWritesUnderPolicies(t, ctx, env, objs, nicCM)
	})
}

// testRealWritesUnderPolicies runs the binary with the chart's arguments as the ServiceAccount:
// the CA sync writes internal-ca from cert-manager's CA, the NIC reload annotates NIC's ConfigMap,
// the restart records a new Deployment's fingerprints and rolls it out when its server
// certificate is renewed. No write of it is refused.
func testRealWritesUnderPolicies(t *testing.T, ctx context.Context, env *harness.Env, objs []*unstructured.Unstructured, nicCM *corev1.ConfigMap) {
	admin := env.Client
	r := rendering{objs: objs}
	deploy := r.one(t, "Deployment")
	var args []string
	for _, a := range slice(container(t, deploy), "args") {
		args = append(args, a.(string))
	}
	kubeconfig := writeImpersonatingKubeconfig(t, env, filepath.Join(t.TempDir(), "kubeconfig"), serviceAccountUser(), defaultNamespace)
	var before corev1.ConfigMap
	if err := admin.Get(ctx, client.ObjectKeyFromObject(nicCM), &before); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "aigw-real"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "aigw-real", Namespace: aigwNS, Annotations: map[string]string{aigw.AnnotationRestartOnRenewal: "true"}},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "aigw", Image: "aigw:v1"}}}},
		},
	}
	if err := admin.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	// cert-manager's part: the CA (labelled by the chart's CA Certificate) and aigw's server certificate.
	f := flags(t, deploy)
	caCert := findCertificate(t, objs, aigwNS, f["ca-sync-source-secret"])
	caPEM, caKey := selfSignedCA(t, str(caCert, "spec", "commonName"))
	caLabels := map[string]string{}
	for k, v := range mapAt(caCert.Object, "spec", "secretTemplate", "labels") {
		caLabels[k] = v.(string)
	}
	serverPEM, serverKey := selfSignedCA(t, "aigw.ai-gateway.svc")
	server := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: f["server-tls-secret"], Namespace: aigwNS, Labels: map[string]string{"aigw": "mtls"}},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{"tls.crt": serverPEM, "tls.key": serverKey},
	}
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: f["ca-sync-source-secret"], Namespace: aigwNS, Labels: caLabels}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": caPEM, "tls.key": caKey, "ca.crt": caPEM}},
		server,
	} {
		if err := admin.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	rep := startReplica(t, webhookBinary(t), args, kubeconfig)
	rep.waitReady(t, 60*time.Second, "")

	var digest string
	waitFor(t, rep.exited, 60*time.Second, "the NIC reload annotating "+nicCM.Namespace+"/"+nicCM.Name, func() error {
		var cm corev1.ConfigMap
		if err := admin.Get(ctx, client.ObjectKeyFromObject(nicCM), &cm); err != nil {
			return err
		}
		if got := cm.Annotations[aigw.AnnotationCABundle]; got == before.Annotations[aigw.AnnotationCABundle] {
			return fmt.Errorf("annotation %s still %q", aigw.AnnotationCABundle, got)
		}
		digest = cm.Annotations[aigw.AnnotationCABundle]
		return nil
	})
	t.Logf("NIC's ConfigMap annotated %s=%s", aigw.AnnotationCABundle, digest)
	recorded := ""
	waitFor(t, rep.exited, 60*time.Second, "the restart recording the fingerprints of Deployment "+aigwNS+"/aigw-real", func() error {
		var live appsv1.Deployment
		if err := admin.Get(ctx, client.ObjectKeyFromObject(d), &live); err != nil {
			return err
		}
		if recorded = live.Annotations[aigw.AnnotationCertificates]; recorded == "" {
			return fmt.Errorf("no %s yet", aigw.AnnotationCertificates)
		}
		return nil
	})
	renewed, renewedKey := selfSignedCA(t, "aigw.ai-gateway.svc")
	if err := admin.Get(ctx, client.ObjectKeyFromObject(server), server); err != nil {
		t.Fatal(err)
	}
	server.Data = map[string][]byte{"tls.crt": renewed, "tls.key": renewedKey}
	if err := admin.Update(ctx, server); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rep.exited, 60*time.Second, "the restart rolling Deployment "+aigwNS+"/aigw-real out after the renewal", func() error {
		var live appsv1.Deployment
		if err := admin.Get(ctx, client.ObjectKeyFromObject(d), &live); err != nil {
			return err
		}
		if got := live.Spec.Template.Annotations[aigw.AnnotationCertificates]; got == "" || got == recorded {
			return fmt.Errorf("pod template annotation %q (recorded before: %q)", got, recorded)
		}
		return nil
	})
	time.Sleep(time.Second)
	rep.checkNotForbidden(t)
}

// TestConfigDefaultWithoutAdmissionPolicies: kubectl apply -k applies each object on its own, so
// on an API server without admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy (before
// 1.30) it applies everything of config/default but the policies. Even so the ServiceAccount may
// create no Secret and delete none: config/default creates the CA sync's Secret itself, and the
// CA sync, run as the ServiceAccount, fills it.
func TestConfigDefaultWithoutAdmissionPolicies(t *testing.T) {
	t.Parallel() // an API server of its own; these tests mostly wait on it, so they run together
	cmd := exec.Command(tools.Kustomize.Need(t), "build", configDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kustomize build config/default: %v\n%s", err, stderr.String())
	}
	objs, err := decode(string(out))
	if err != nil {
		t.Fatal(err)
	}
	env := startEnv(t, aigwNS, "elsewhere")
	ctx := t.Context()
	admin := env.Client
	for _, o := range objs {
		if strings.HasPrefix(o.GetKind(), "ValidatingAdmissionPolicy") {
			continue // no such kind before Kubernetes 1.30: kubectl reports it and applies the rest
		}
		if err := apply(ctx, admin, o); err != nil {
			t.Fatalf("%s: %v", objectKey(o), err)
		}
	}
	sa := asServiceAccount(t, env)
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "minted-token", Namespace: aigwNS, Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}},
			Type: corev1.SecretTypeServiceAccountToken},
		{ObjectMeta: metav1.ObjectMeta{Name: "planted", Namespace: aigwNS}, Type: corev1.SecretTypeOpaque},
		{ObjectMeta: metav1.ObjectMeta{Name: "internal-ca", Namespace: "elsewhere"}, Type: "nginx.org/ca"},
	} {
		if err := sa.Create(ctx, s.DeepCopy(), client.DryRunAll); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `cannot create resource "secrets"`) {
			t.Errorf("create Secret %s/%s (type %s) as the ServiceAccount without the policies: want RBAC's Forbidden, got %v", s.Namespace, s.Name, s.Type, err)
		}
	}
	var target corev1.Secret
	if err := admin.Get(ctx, client.ObjectKey{Namespace: aigwNS, Name: "internal-ca"}, &target); err != nil {
		t.Fatalf("config/default does not create the CA sync's Secret: %v", err)
	}
	if err := sa.Delete(ctx, &target, client.DryRunAll); !apierrors.IsForbidden(err) {
		t.Errorf("delete Secret %s/internal-ca as the ServiceAccount: want Forbidden, got %v", aigwNS, err)
	}

	// The CA sync fills the Secret config/default created.
	r := rendering{objs: objs}
	deploy := r.one(t, "Deployment")
	var args []string
	for _, a := range slice(container(t, deploy), "args") {
		args = append(args, a.(string))
	}
	f := flags(t, deploy)
	caCert := findCertificate(t, objs, aigwNS, f["ca-sync-source-secret"])
	caPEM, caKey := selfSignedCA(t, str(caCert, "spec", "commonName"))
	caLabels := map[string]string{}
	for k, v := range mapAt(caCert.Object, "spec", "secretTemplate", "labels") {
		caLabels[k] = v.(string)
	}
	if err := admin.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: f["ca-sync-source-secret"], Namespace: aigwNS, Labels: caLabels},
		Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": caPEM, "tls.key": caKey, "ca.crt": caPEM}}); err != nil {
		t.Fatal(err)
	}
	kubeconfig := writeImpersonatingKubeconfig(t, env, filepath.Join(t.TempDir(), "kubeconfig"), serviceAccountUser(), defaultNamespace)
	rep := startReplica(t, webhookBinary(t), args, kubeconfig)
	waitFor(t, rep.exited, 60*time.Second, "the CA sync filling Secret "+aigwNS+"/internal-ca", func() error {
		var s corev1.Secret
		if err := admin.Get(ctx, client.ObjectKey{Namespace: aigwNS, Name: "internal-ca"}, &s); err != nil {
			return err
		}
		if !bytes.Contains(s.Data["ca.crt"], bytes.TrimSpace(caPEM)) {
			return fmt.Errorf("ca.crt %d bytes", len(s.Data["ca.crt"]))
		}
		return nil
	})
	time.Sleep(time.Second)
	rep.checkNotForbidden(t)
}

// TestPrecreateNeedsNamespaces: the chart cannot create the CA sync's Secret in "every namespace".
func TestPrecreateNeedsNamespaces(t *testing.T) {
	out, err := runHelm(t, "template", defaultRelease, chartDir(), "--namespace", defaultNamespace,
		"--set", "caSync.precreateSecret=true", "--set", "caSync.namespaces={*}",
		"--set", "networkPolicy.webhookFrom[0].ipBlock.cidr="+placeholderControlPlane)
	if err == nil || !strings.Contains(out, `caSync.precreateSecret: the chart creates wiring.caSecret in each of caSync.namespaces; ["*"] names none`) {
		t.Errorf("caSync.precreateSecret with caSync.namespaces={*}: want the chart to refuse naming both, got %v\n%s", err, out)
	}
}

package podengine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

const (
	release = "aigw-mtls-webhook"
	system  = "aigw-mtls-system"
	// servesPolicies is what the chart needs to render podInjection.engine=policy; envtest's
	// kube-apiserver serves it (TestAPIServerServesMutatingAdmissionPolicy).
	servesPolicies = "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy"
)

var podGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// A fixture of patches/testdata/pod and the settings it is mutated with.
type fixture struct {
	name     string
	obj      *unstructured.Unstructured
	settings aigw.Settings
}

func fixtures(t *testing.T) map[string][]fixture {
	t.Helper()
	dir := filepath.Join(harness.RepoRoot(), "patches", "testdata", "pod")
	inputs, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(inputs) == 0 {
		t.Fatalf("no fixtures in %s", dir)
	}
	bySettings := map[string][]fixture{}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		b, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(b, &obj.Object); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		s := aigw.DefaultSettings()
		key := "default"
		if b, err := os.ReadFile(strings.TrimSuffix(in, ".yaml") + ".settings.json"); err == nil {
			if err := json.Unmarshal(b, &s); err != nil {
				t.Fatalf("%s settings: %v", name, err)
			}
			key = name
		}
		bySettings[key] = append(bySettings[key], fixture{name: name, obj: obj, settings: s})
	}
	return bySettings
}

// chartValues are the chart values that give the webhook settings s.
func chartValues(s aigw.Settings) []string {
	args := []string{"--set-string", "selector.key=" + s.SelectorKey, "--set-string", "selector.value=" + s.SelectorValue, "--set", "mode=" + string(s.Mode)}
	var m map[string]any
	b, _ := json.Marshal(s)
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"container", "caSecret", "caKey", "caVolume", "caMountPath", "serverTLSSecret", "serverTLSVolume", "serverTLSMountPath", "serverCertFile", "serverKeyFile"} {
		args = append(args, "--set-string", fmt.Sprintf("wiring.%s=%v", k, m[k]))
	}
	return args
}

// outcome is what the API server made of one pod create: the stored pod (without what differs
// between any two creates), or the refusal; and the warnings.
type outcome struct {
	Stored   map[string]any
	Refusal  string
	Warnings []string
}

// The wrappers the API server puts around a webhook's and a policy's messages.
var (
	refusalWrapper = regexp.MustCompile(`^(admission webhook "[^"]+" denied the request|pods "[^"]*" is forbidden: ValidatingAdmissionPolicy '[^']+' with binding '[^']+' denied request): `)
	warningWrapper = regexp.MustCompile(`^Validation failed for ValidatingAdmissionPolicy '[^']+' with binding '[^']+': `)
)

func create(ctx context.Context, t *testing.T, f fixture) outcome {
	t.Helper()
	warnings.take()
	obj := f.obj.DeepCopy()
	obj.SetNamespace(ns)
	stored, err := dyn.Resource(podGVR).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{})
	if err == nil {
		zero := int64(0)
		if err := dyn.Resource(podGVR).Namespace(ns).Delete(ctx, stored.GetName(), metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Errorf("%s: deleting pod %s: %v", f.name, stored.GetName(), err)
		}
	}
	return result(stored, err, false)
}

// result is the outcome of a write that returned stored or err, with the warnings logged since
// the last take; masked, the generated name in the warnings is shown as generateName and "*".
func result(stored *unstructured.Unstructured, err error, masked bool) outcome {
	var o outcome
	for _, w := range warnings.take() {
		o.Warnings = append(o.Warnings, warningWrapper.ReplaceAllString(w, ""))
	}
	if err != nil {
		o.Refusal = refusalWrapper.ReplaceAllString(err.Error(), "")
		return o
	}
	stored = stored.DeepCopy()
	if stored.GetGenerateName() != "" {
		// A generated name differs between any two creates.
		for i, w := range o.Warnings {
			if masked { // else a policy must name the pod as the webhook did, before the name existed
				o.Warnings[i] = strings.ReplaceAll(w, stored.GetName(), stored.GetGenerateName()+"*")
			}
		}
		stored.SetName(stored.GetGenerateName() + "*")
	}
	for _, k := range []string{"uid", "resourceVersion", "creationTimestamp", "managedFields"} {
		unstructured.RemoveNestedField(stored.Object, "metadata", k)
	}
	o.Stored = stored.Object
	return o
}

// relabel creates the fixture without the selector label (so nothing wires it), then adds the
// label by an UPDATE: the outcome of that update. Unlabelled fixtures give none.
func relabel(ctx context.Context, t *testing.T, f fixture, s aigw.Settings) (outcome, bool) {
	t.Helper()
	labels := f.obj.GetLabels()
	if _, ok := labels[s.SelectorKey]; !ok {
		return outcome{}, false
	}
	obj := f.obj.DeepCopy()
	obj.SetNamespace(ns)
	unstructured.RemoveNestedField(obj.Object, "metadata", "labels", s.SelectorKey)
	created, err := dyn.Resource(podGVR).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		return outcome{Refusal: "create without the label: " + err.Error()}, true
	}
	zero := int64(0)
	defer func() {
		if err := dyn.Resource(podGVR).Namespace(ns).Delete(ctx, created.GetName(), metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Errorf("%s: deleting pod %s: %v", f.name, created.GetName(), err)
		}
	}()
	created.SetLabels(labels)
	warnings.take()
	updated, err := dyn.Resource(podGVR).Namespace(ns).Update(ctx, created, metav1.UpdateOptions{})
	// Both engines name the pod by its generated name on an update.
	return result(updated, err, true), true
}

// probePods are a labelled pod the engine wires and one whose volume takes the CA volume's name,
// which it refuses or warns about.
func probePods(s aigw.Settings) (wired, conflicting *corev1.Pod) {
	pod := func(vols ...corev1.Volume) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns, Labels: map[string]string{s.SelectorKey: s.SelectorValue}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: s.Container, Image: "aigw"}}, Volumes: vols}}
	}
	return pod(), pod(corev1.Volume{Name: s.CAVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
}

// probe reports whether an engine wires the labelled pod, and how many times the conflicting one
// is refused or warned about and labelling an unwired pod is warned about (server-side dry runs;
// 2 when both paths are in place).
func probe(ctx context.Context, s aigw.Settings) (wired bool, judged int, err error) {
	w, c := probePods(s)
	dryRun := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	warnings.take()
	stored, err := dyn.Resource(podGVR).Namespace(ns).Create(ctx, unstructuredPod(w), dryRun)
	if err != nil {
		return false, 0, err
	}
	warnings.take()
	_, errConflict := dyn.Resource(podGVR).Namespace(ns).Create(ctx, unstructuredPod(c), dryRun)
	judged = strings.Count(fmt.Sprint(errConflict)+strings.Join(warnings.take(), "\n"), "[POD_VOLUME_CONFLICT]")
	// The update path is configured apart (the webhook's pod-updates hook, the policy engine's
	// pod-updates ValidatingAdmissionPolicy): labelling an unwired pod is warned about once.
	u, _ := probePods(s)
	u.Name = "probe-update"
	delete(u.Labels, s.SelectorKey)
	zero := int64(0)
	created, err := dyn.Resource(podGVR).Namespace(ns).Create(ctx, unstructuredPod(u), metav1.CreateOptions{})
	if err != nil {
		return false, 0, err
	}
	defer func() {
		_ = dyn.Resource(podGVR).Namespace(ns).Delete(ctx, created.GetName(), metav1.DeleteOptions{GracePeriodSeconds: &zero})
	}()
	labels := created.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[s.SelectorKey] = s.SelectorValue
	created.SetLabels(labels)
	warnings.take()
	if _, err := dyn.Resource(podGVR).Namespace(ns).Update(ctx, created, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		return false, 0, err
	}
	judged += strings.Count(strings.Join(warnings.take(), "\n"), "has no mTLS mounts")
	return stored.GetAnnotations()[aigw.AnnotationInjected] != "", judged, nil
}

func unstructuredPod(p *corev1.Pod) *unstructured.Unstructured {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
	if err != nil {
		panic(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// waitInPath waits until the API server applies the admission configuration just written: one
// engine wires and judges pods, on create and on update.
func waitInPath(ctx context.Context, t *testing.T, s aigw.Settings) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		wired, judged, err := probe(ctx, s)
		if err == nil && wired && judged == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pod engine is not in the admission path after 30s: wired %v, conflict judged %d times, error %v", wired, judged, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitOutOfPath waits until no engine wires or judges pods any more.
func waitOutOfPath(ctx context.Context, s aigw.Settings) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		wired, judged, err := probe(ctx, s)
		if err == nil && !wired && judged == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pods still wired (%v) or judged (%d) 30s after the configurations were deleted (%v)", wired, judged, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// throughWebhook creates every fixture through the webhook, its configurations rendered by the
// chart with engine webhook, and removes them afterwards.
func throughWebhook(ctx context.Context, t *testing.T, s aigw.Settings, fs []fixture) map[string]outcome {
	t.Helper()
	o := webhook.DefaultOptions()
	o.Settings = s
	hook, err := harness.StartWebhook(env.Config, o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := hook.Stop(); err != nil {
			t.Error(err)
		}
	}()
	objs, err := harness.RenderChart(release, system, chartValues(s)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := harness.PointWebhooksAt(ctx, env.Client, objs, hook.URL, hook.CABundle); err != nil {
		t.Fatal(err)
	}
	defer removeAll(ctx, t, objs, s)
	waitInPath(ctx, t, s)
	return createAll(ctx, t, s, fs)
}

// throughPolicies creates every fixture with the chart rendered with engine policy: its policies
// applied, its (remaining) webhook configurations pointing at an address where nothing listens,
// as when every replica is down.
func throughPolicies(ctx context.Context, t *testing.T, s aigw.Settings, fs []fixture) map[string]outcome {
	t.Helper()
	objs := renderPolicyEngine(t, chartValues(s)...)
	if err := pointAtNothing(ctx, objs); err != nil {
		t.Fatal(err)
	}
	applyPodPolicies(ctx, t, objs)
	defer removeAll(ctx, t, objs, s)
	waitInPath(ctx, t, s)
	return createAll(ctx, t, s, fs)
}

// createAll creates each fixture, then again without the selector label and adds it by an update
// (outcome "<name>/update").
func createAll(ctx context.Context, t *testing.T, s aigw.Settings, fs []fixture) map[string]outcome {
	t.Helper()
	out := map[string]outcome{}
	for _, f := range fs {
		out[f.name] = create(ctx, t, f)
		if o, ok := relabel(ctx, t, f, s); ok {
			out[f.name+"/update"] = o
		}
	}
	return out
}

// pointAtNothing registers the webhook configurations among objs calling an address where nothing
// listens: every replica down.
func pointAtNothing(ctx context.Context, objs []*unstructured.Unstructured) error {
	return harness.PointWebhooksAt(ctx, env.Client, objs, "https://127.0.0.1:1", nil)
}

// applyPodPolicies creates the pod policies and bindings among objs.
func applyPodPolicies(ctx context.Context, t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	applied := 0
	for _, o := range objs {
		if podPolicy(o) {
			if err := env.Client.Create(ctx, o.DeepCopy()); err != nil {
				t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
			}
			applied++
		}
	}
	if applied == 0 {
		t.Fatal("the chart rendered no pod policy with podInjection.engine=policy")
	}
}

func renderPolicyEngine(t *testing.T, values ...string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := harness.RenderChart(release, system, append([]string{"--set", "podInjection.engine=policy", "--api-versions", servesPolicies}, values...)...)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// podPolicy: o is one of the chart's pod policies or their bindings.
func podPolicy(o *unstructured.Unstructured) bool {
	return strings.Contains(o.GetKind(), "AdmissionPolicy") && o.GetLabels()["app.kubernetes.io/component"] == "pod-policy"
}

// removeAll deletes the webhook configurations and pod policies among objs.
func removeAll(ctx context.Context, t *testing.T, objs []*unstructured.Unstructured, s aigw.Settings) {
	t.Helper()
	for _, o := range objs {
		switch o.GetKind() {
		case "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
		case "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
			if !podPolicy(o) {
				continue
			}
		default:
			continue
		}
		if err := env.Client.Delete(ctx, o.DeepCopy()); client.IgnoreNotFound(err) != nil {
			t.Errorf("deleting %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	// The API server may still send pods through them for a moment.
	if err := waitOutOfPath(ctx, s); err != nil {
		t.Fatal(err)
	}
}

// notExpressible are the fixtures the policies cannot give the webhook's exact answer, and why;
// for them the test asks only that both engines refuse the pod.
var notExpressible = map[string]string{
	// A mutating policy cannot refuse, and the validating policy runs after the API server's own
	// validation, which refuses a pod without containers first, in its own words.
	"no-containers": "refused by the API server's pod validation (spec.containers: Required value) before the validating policy runs",
}

// Every pod fixture of patches/testdata created once through the webhook and once through the
// policies, in both modes: the stored pods, the refusals and the warnings are the same.
func TestPodEnginesAgree(t *testing.T) {
	ctx := context.Background()
	groups := fixtures(t)
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	compared := 0
	for _, mode := range []aigw.Mode{aigw.ModeEnforce, aigw.ModeWarn} {
		for _, k := range keys {
			fs := groups[k]
			s := fs[0].settings
			s.Mode = mode
			t.Run(string(mode)+"/"+k, func(t *testing.T) {
				hook := throughWebhook(ctx, t, s, fs)
				pol := throughPolicies(ctx, t, s, fs)
				if len(hook) != len(pol) {
					t.Errorf("%d outcomes through the webhook, %d through the policies", len(hook), len(pol))
				}
				for name := range hook {
					w, p := hook[name], pol[name]
					f := fixture{name: name}
					compared++
					if why, ok := notExpressible[f.name]; ok {
						if w.Refusal == "" || p.Refusal == "" {
							t.Errorf("%s (%s): want both refused; webhook %q, policy %q", f.name, why, w.Refusal, p.Refusal)
						}
						t.Logf("%s: only both refusals compared: %s", f.name, why)
						continue
					}
					if w.Refusal != p.Refusal {
						t.Errorf("%s: refusal\nwebhook: %s\npolicy:  %s", f.name, w.Refusal, p.Refusal)
					}
					if !reflect.DeepEqual(w.Warnings, p.Warnings) {
						t.Errorf("%s: warnings\nwebhook: %q\npolicy:  %q", f.name, w.Warnings, p.Warnings)
					}
					if !reflect.DeepEqual(w.Stored, p.Stored) {
						wj, _ := json.MarshalIndent(w.Stored, "", " ")
						pj, _ := json.MarshalIndent(p.Stored, "", " ")
						t.Errorf("%s: stored pods differ\nwebhook: %s\npolicy:  %s", f.name, wj, pj)
					}
				}
			})
		}
	}
	if compared < 2*40 {
		t.Errorf("%d fixture creates and updates compared, want every pod fixture in both modes", compared)
	}
}

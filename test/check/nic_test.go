package check

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
)

// NGINX Ingress Controller as its Helm chart (v5.5.4) deploys it: the version in the image tag,
// -nginx-configmaps with $(POD_NAMESPACE), -ssl-dynamic-reload from controller.enableSSLDynamicReload.
func nicDeployment(ns, image string, args ...string) *appsv1.Deployment {
	labels := map[string]string{"app.kubernetes.io/name": "nginx-ingress"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx-ingress-controller", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "nginx-ingress",
					Image: image,
					Args:  append([]string{"-nginx-plus=false", "-nginx-configmaps=$(POD_NAMESPACE)/nginx-ingress"}, args...),
					Env: []corev1.EnvVar{{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{
						FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}},
				}}},
			},
		},
	}
}

func TestNGINXIngressControllerVersion(t *testing.T) {
	ctx := context.Background()
	ns := freshNamespace("nginx-ingress")
	must(t, kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	nicCM := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "nginx-ingress", Namespace: ns}}
	must(t, kube.Create(ctx, nicCM))
	// Not NGINX Ingress Controller (no -nginx-configmaps): never reported.
	other := nicDeployment(ns, "nginx/nginx-ingress:5.5.4")
	other.Name, other.Spec.Template.Spec.Containers[0].Args = "sidecar", []string{"-ssl-dynamic-reload=true"}
	must(t, kube.Create(ctx, other))
	defer func() { must(t, kube.Delete(ctx, other)) }()
	obj := "Deployment/" + ns + "/nginx-ingress-controller"
	for _, tc := range []struct {
		name   string
		image  string
		args   []string
		nudged bool
		// daemonSet: NIC runs as a DaemonSet (its chart's controller.kind: daemonset)
		daemonSet bool
		status    string
		message   string // a part of the message
		fix       string // a part of the fix
	}{
		{name: "5.5.4 with the chart's default", image: "nginx/nginx-ingress:5.5.4", args: []string{"-ssl-dynamic-reload=true"},
			status: "warning", message: "NGINX Ingress Controller 5.5.4 in container nginx-ingress is affected: with -ssl-dynamic-reload (its default), an update of the nginx.org/ca Secret rewrites the file without reloading nginx",
			fix: "Helm value nicReload.configMap=" + ns + "/nginx-ingress"},
		{name: "LTS r3, flag absent", image: "nginx/nginx-ingress:2026-lts-r3-ubi",
			status: "warning", message: "NGINX Ingress Controller 2026-lts-r3 in container nginx-ingress is affected", fix: "controller.enableSSLDynamicReload=false"},
		{name: "dynamic reload off", image: "nginx/nginx-ingress:5.5.4", args: []string{"-ssl-dynamic-reload=false"},
			status: "ok", message: "runs with -ssl-dynamic-reload=false: every update of the CA Secret reloads nginx"},
		{name: "a fixed release", image: "nginx/nginx-ingress:5.6.0",
			status: "ok", message: "NGINX Ingress Controller 5.6.0 in container nginx-ingress: an update of the CA Secret reaches nginx"},
		{name: "affected, reloaded by the webhook", image: "nginx/nginx-ingress:5.5.4", nudged: true,
			status: "ok", message: "the webhook reloads it after each CA change through ConfigMap " + ns + "/nginx-ingress"},
		{name: "as a DaemonSet", image: "nginx/nginx-ingress:5.5.4", daemonSet: true,
			status: "warning", message: "NGINX Ingress Controller 5.5.4 in container nginx-ingress is affected"},
		{name: "untagged", image: "nginx/nginx-ingress@sha256:0000000000000000000000000000000000000000000000000000000000000000",
			status: "warning", message: "the version cannot be read from the image tag", fix: "use an image tagged with its version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := nicDeployment(ns, tc.image, tc.args...)
			var workload client.Object = d
			want := obj
			if tc.daemonSet {
				workload = &appsv1.DaemonSet{ObjectMeta: d.ObjectMeta, Spec: appsv1.DaemonSetSpec{Selector: d.Spec.Selector, Template: d.Spec.Template}}
				want = "DaemonSet/" + ns + "/nginx-ingress-controller"
			}
			must(t, kube.Create(ctx, workload))
			defer func() { must(t, kube.Delete(ctx, workload)) }()
			annotations := map[string]string{}
			if tc.nudged {
				annotations[aigw.AnnotationCABundle] = "sha256:0123"
			}
			must(t, kube.Get(ctx, client.ObjectKeyFromObject(nicCM), nicCM))
			nicCM.Annotations = annotations
			must(t, kube.Update(ctx, nicCM))

			out, code := runCheck(t, "-n", "default", "-o", "json")
			r := parseReport(t, out)
			var lines []string
			for _, c := range r.Checks {
				if c.Section != "NGINX Ingress Controller" {
					continue
				}
				lines = append(lines, c.Status+" "+c.Object+": "+c.Message+" / fix: "+c.Fix)
				if c.Object != want || c.Namespace != ns || c.Status != tc.status || !strings.Contains(c.Message, tc.message) || !strings.Contains(c.Fix, tc.fix) {
					t.Errorf("got %s %s (namespace %s): %s / fix: %s\nwant %s %s: …%s… / fix: …%s…", c.Status, c.Object, c.Namespace, c.Message, c.Fix, tc.status, want, tc.message, tc.fix)
				}
			}
			if len(lines) != 1 {
				t.Errorf("want one NGINX Ingress Controller line, got %q", lines)
			}
			if code == 2 {
				t.Errorf("exit code 2")
			}
		})
	}
}

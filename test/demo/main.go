// Command demo runs the main job end to end on a local control plane it starts and stops itself:
// cert-manager-style certificates, the webhook serving over TLS and registered with the API
// server, and the walkthrough's scenario from config/samples admitted through it.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/checker"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

const (
	ns               = "ai-gateway"
	release          = "aigw-mtls-webhook"
	releaseNamespace = "aigw-mtls-system"
)

func main() {
	// The demo prints what it shows; the webhook's and client-go's logs stay out of it.
	ctrllog.SetLogger(logr.Discard())
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func heading(s string) { fmt.Printf("\n== %s\n", s) }

// warnings prints the warnings the API server returns, as kubectl does.
type warnings struct{}

func (warnings) HandleWarningHeader(_ int, _ string, text string) { fmt.Println("Warning:", text) }

func run() error {
	start := time.Now()
	heading("Starting a local control plane: kube-apiserver " + harness.K8sVersion + " + etcd, with the cert-manager, NGINX Ingress Controller and Gateway API CRDs")
	env, err := harness.Start()
	if err != nil {
		return err
	}
	defer func() {
		_ = env.Stop()
		heading(fmt.Sprintf("Stopped everything this demo started (%.1fs in all)", time.Since(start).Seconds()))
	}()
	cfg := rest.CopyConfig(env.Config)
	cfg.WarningHandler = warnings{}
	c, err := client.New(cfg, client.Options{Scheme: harness.Scheme()})
	if err != nil {
		return err
	}
	ctx := context.Background()

	var namespace corev1.Namespace
	if err := load("namespace.yaml", &namespace); err != nil {
		return err
	}
	if err := c.Create(ctx, &namespace); err != nil {
		return err
	}

	heading("Installing what the Helm chart installs (helm template charts/aigw-mtls-webhook " + strings.Join(harness.LocalControlPlane, " ") + " --set gatewayAPI.enabled=true)")
	objs, err := harness.RenderChart(release, releaseNamespace, "--set", "gatewayAPI.enabled=true")
	if err != nil {
		return err
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: releaseNamespace}}); err != nil {
		return err
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			return fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
		}
		fmt.Printf("  %-32s %s\n", o.GetKind(), nsName(o))
	}

	heading("Issuing the chart's Certificates as cert-manager would (the aigw PKI and the webhook's serving certificate)")
	issued, secrets, err := harness.IssueCertificates(objs)
	if err != nil {
		return err
	}
	for _, s := range secrets {
		if err := c.Create(ctx, s); err != nil {
			return err
		}
		fmt.Printf("  Secret %-50s (kubernetes.io/tls)\n", nsName(s))
	}

	heading("Running the webhook (the chart's serve flags) and pointing the chart's webhook configurations at it")
	opts := webhook.DefaultOptions()
	opts.GatewayAPI = true // the chart's --gateway-api
	hook, err := harness.StartWebhook(env.Config, opts)
	if err != nil {
		return err
	}
	defer hook.Stop()
	if err := harness.PointWebhooksAt(ctx, c, objs, hook.URL, hook.CABundle); err != nil {
		return err
	}
	if err := harness.WaitForPodMutation(ctx, c, ns); err != nil {
		return err
	}
	fmt.Println("serving at", hook.URL)
	if err := waitCASync(ctx, c); err != nil {
		return err
	}

	var svc corev1.Service
	if err := load("aigw-service.yaml", &svc); err != nil {
		return err
	}
	if err := c.Create(ctx, &svc); err != nil {
		return err
	}

	var pod corev1.Pod
	if err := load("aigw-pod.yaml", &pod); err != nil {
		return err
	}
	if err := admit(ctx, c, &pod, "aigw-pod.yaml"); err != nil {
		return err
	}
	heading("Pod ai-gateway/aigw after admission: CA and server certificate mounted")
	printYAML(map[string]any{
		"annotations":  pod.Annotations,
		"volumes":      pod.Spec.Volumes,
		"volumeMounts": pod.Spec.Containers[0].VolumeMounts,
	})

	var cm corev1.ConfigMap
	if err := load("aigw-config.yaml", &cm); err != nil {
		return err
	}
	before := cm.Data["aigw.yaml"]
	if err := admit(ctx, c, &cm, "aigw-config.yaml"); err != nil {
		return err
	}
	heading("ConfigMap ai-gateway/aigw-config after admission: lines marked + were added, every other line kept")
	printAdded(before, cm.Data["aigw.yaml"])

	policy := &unstructured.Unstructured{}
	if err := load("aigw-policy.yaml", &policy.Object); err != nil {
		return err
	}
	if err := admit(ctx, c, policy, "aigw-policy.yaml"); err != nil {
		return err
	}
	heading("Policy ai-gateway/aigw-mtls admitted: its sslName passes nginx's host check against the issued server certificate")

	vs := &unstructured.Unstructured{}
	if err := load("aigw-virtualserver.yaml", &vs.Object); err != nil {
		return err
	}
	if err := admit(ctx, c, vs, "aigw-virtualserver.yaml"); err != nil {
		return err
	}
	heading("VirtualServer ai-gateway/aigw-mtls after admission: upstream tls and the Policy on the route")
	printYAML(map[string]any{"metadata": map[string]any{"annotations": vs.GetAnnotations()}, "spec": vs.Object["spec"]})

	ing := &unstructured.Unstructured{}
	if err := load("aigw-ingress.yaml", &ing.Object); err != nil {
		return err
	}
	// The webhook reads which backends are aigw from the Policy's sslName: wait until its cache
	// holds the Policy (a dry run comes back wired).
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		dry := ing.DeepCopy()
		if err := c.Create(ctx, dry, client.DryRunAll); err != nil {
			return err
		}
		if dry.GetAnnotations()["nginx.org/ssl-services"] != "" || time.Now().After(deadline) {
			break
		}
	}
	if err := admit(ctx, c, ing, "aigw-ingress.yaml"); err != nil {
		return err
	}
	heading("Ingress ai-gateway/aigw-ingress after admission: aigw in nginx.org/ssl-services, the Policy in nginx.org/policies")
	printYAML(map[string]any{"metadata": map[string]any{"annotations": ing.GetAnnotations()}})
	if ing.GetAnnotations()["nginx.org/ssl-services"] != "aigw" || ing.GetAnnotations()["nginx.org/policies"] != "aigw-mtls" {
		return fmt.Errorf("the Ingress was not wired: %v", ing.GetAnnotations())
	}

	heading("A Policy whose sslName the server certificate does not cover is refused")
	bad := policy.DeepCopy()
	bad.SetName("aigw-mtls-typo")
	bad.SetResourceVersion("")
	_ = unstructured.SetNestedField(bad.Object, "aigw.ai-gateway.svc.cluster", "spec", "egressMTLS", "sslName")
	err = c.Create(ctx, bad)
	if err == nil {
		return fmt.Errorf("the Policy with a wrong sslName was admitted")
	}
	fmt.Println(err)

	if err := runNGF(ctx, c); err != nil {
		return err
	}

	heading("aigw-mtls-webhook check -n ai-gateway")
	o := checker.DefaultOptions()
	o.Namespace = ns
	report, err := checker.Run(ctx, c, o)
	if err != nil {
		return err
	}
	if err := report.WriteText(os.Stdout); err != nil {
		return err
	}
	if report.Failed() {
		return fmt.Errorf("check found the wiring broken")
	}
	return runProbe(ctx, c, objs, issued)
}

// waitCASync waits for the CA sync to write internal-ca (type nginx.org/ca, the only type NIC
// accepts as trustedCertSecret) from cert-manager's CA, then lists the aigw Secrets.
func waitCASync(ctx context.Context, c client.Client) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var s corev1.Secret
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "internal-ca"}, &s)
		if err == nil && s.Type == "nginx.org/ca" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the CA sync did not write internal-ca: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	heading("The aigw Secrets: cert-manager's, and internal-ca written by the webhook's CA sync")
	var list corev1.SecretList
	if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{"aigw": "mtls"}); err != nil {
		return err
	}
	fmt.Printf("  %-22s %-20s %s\n", "NAME", "TYPE", "DATA")
	for _, s := range list.Items {
		fmt.Printf("  %-22s %-20s %d\n", s.Name, s.Type, len(s.Data))
	}
	return nil
}

func nsName(o client.Object) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}

// admit shows the object as written, creates it through the API server, and reads it back.
func admit(ctx context.Context, c client.Client, obj client.Object, file string) error {
	heading(fmt.Sprintf("%s before admission (config/samples/%s)", obj.GetName(), file))
	b, _ := os.ReadFile(filepath.Join(harness.RepoRoot(), "config", "samples", file))
	fmt.Print(string(b))
	if err := c.Create(ctx, obj); err != nil {
		return err
	}
	return c.Get(ctx, client.ObjectKeyFromObject(obj), obj)
}

func load(file string, obj any) error {
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "config", "samples", file))
	if err != nil {
		return err
	}
	return yaml.Unmarshal(b, obj)
}

func printYAML(v any) {
	b, _ := yaml.Marshal(v)
	fmt.Print(string(b))
}

// printAdded prints after's lines, marking with + those not in before.
func printAdded(before, after string) {
	old := map[string]int{}
	for _, l := range strings.Split(before, "\n") {
		old[l]++
	}
	for _, l := range strings.Split(strings.TrimRight(after, "\n"), "\n") {
		if old[l] > 0 {
			old[l]--
			fmt.Println("  " + l)
		} else {
			fmt.Println("+ " + l)
		}
	}
}

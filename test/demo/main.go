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

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

const ns = "ai-gateway"

func main() {
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
	heading("Starting a local control plane: kube-apiserver " + harness.K8sVersion + " + etcd, with the cert-manager and NGINX Ingress Controller CRDs")
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

	heading("Starting aigw-mtls-webhook over TLS and registering it (objectSelector aigw=mtls)")
	hook, err := harness.StartWebhook(env.Config, webhook.DefaultOptions())
	if err != nil {
		return err
	}
	defer hook.Stop()
	if err := c.Create(ctx, harness.MutatingConfiguration("aigw-mtls-webhook", hook.URL, hook.CABundle)); err != nil {
		return err
	}
	if err := c.Create(ctx, harness.ValidatingConfiguration("aigw-mtls-webhook", hook.URL, hook.CABundle)); err != nil {
		return err
	}
	if err := harness.WaitForPodMutation(ctx, c, ns); err != nil {
		return err
	}
	fmt.Println("serving at", hook.URL)

	heading("Issuing the walkthrough's certificates as cert-manager would (CA, aigw server, NIC client)")
	if err := issuePKI(ctx, c); err != nil {
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
	return nil
}

// issuePKI issues the seed certificates (harness.SeedCertificates) and writes the Secrets
// cert-manager would; the webhook's CA sync then writes internal-ca (type nginx.org/ca).
func issuePKI(ctx context.Context, c client.Client) error {
	caCrt, serverCrt, clientCrt := harness.SeedCertificates(ns)
	ca, err := harness.Issue(caCrt, nil)
	if err != nil {
		return err
	}
	server, err := harness.Issue(serverCrt, ca)
	if err != nil {
		return err
	}
	clientCert, err := harness.Issue(clientCrt, ca)
	if err != nil {
		return err
	}
	for _, o := range []client.Object{caCrt, serverCrt, clientCrt, ca.Secret(caCrt), server.Secret(serverCrt), clientCert.Secret(clientCrt)} {
		if err := c.Create(ctx, o); err != nil {
			return err
		}
	}
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
	var list corev1.SecretList
	if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{"aigw": "mtls"}); err != nil {
		return err
	}
	fmt.Printf("%-22s %-20s %s\n", "NAME", "TYPE", "DATA")
	for _, s := range list.Items {
		fmt.Printf("%-22s %-20s %d\n", s.Name, s.Type, len(s.Data))
	}
	fmt.Printf("(internal-ca written by the webhook's CA sync from aigw-ca: NIC only accepts type nginx.org/ca)\n")
	return nil
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

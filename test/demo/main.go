// Command demo runs the main job end to end on a local control plane it starts and stops itself:
// the webhook serving over TLS, registered with the API server, admitting the walkthrough's aigw
// pod and ConfigMap from config/samples.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func heading(s string) { fmt.Printf("\n== %s\n", s) }

func run() error {
	start := time.Now()
	heading("Starting a local control plane (kube-apiserver " + harness.K8sVersion + " + etcd, cert-manager and NGINX Ingress Controller CRDs)")
	env, err := harness.Start()
	if err != nil {
		return err
	}
	defer func() {
		_ = env.Stop()
		heading(fmt.Sprintf("Stopped everything (%.1fs in all)", time.Since(start).Seconds()))
	}()

	heading("Starting aigw-mtls-webhook over TLS and registering it (objectSelector aigw=mtls)")
	hook, err := harness.StartWebhook(env.Config, webhook.DefaultOptions())
	if err != nil {
		return err
	}
	defer hook.Stop()
	ctx := context.Background()
	var ns corev1.Namespace
	if err := load("namespace.yaml", &ns); err != nil {
		return err
	}
	if err := env.Client.Create(ctx, &ns); err != nil {
		return err
	}

	if err := env.Client.Create(ctx, harness.MutatingConfiguration("aigw-mtls-webhook", hook.URL, hook.CABundle)); err != nil {
		return err
	}
	if err := harness.WaitForPodMutation(ctx, env.Client, ns.Name); err != nil {
		return err
	}
	fmt.Println("serving at", hook.URL)

	var pod corev1.Pod
	if err := load("aigw-pod.yaml", &pod); err != nil {
		return err
	}
	if err := admit(ctx, env, &pod, "aigw-pod.yaml"); err != nil {
		return err
	}
	heading("Pod ai-gateway/aigw after admission (volumes and mounts)")
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
	if err := admit(ctx, env, &cm, "aigw-config.yaml"); err != nil {
		return err
	}
	heading("ConfigMap ai-gateway/aigw-config: aigw.yaml lines added by admission (every other line kept)")
	printAdded(before, cm.Data["aigw.yaml"])
	return nil
}

// admit shows the object as written, creates it through the API server, and reads it back.
func admit(ctx context.Context, env *harness.Env, obj client.Object, file string) error {
	heading(fmt.Sprintf("%s before admission (config/samples/%s)", obj.GetName(), file))
	b, _ := os.ReadFile(filepath.Join(harness.RepoRoot(), "config", "samples", file))
	fmt.Print(string(b))
	if err := env.Client.Create(ctx, obj); err != nil {
		return err
	}
	return env.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj)
}

func load(file string, obj any) error {
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "config", "samples", file))
	if err != nil {
		return err
	}
	return yaml.UnmarshalStrict(b, obj)
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

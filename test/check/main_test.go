// Package check runs `aigw-mtls-webhook check` end to end: the real binary, against a real
// kube-apiserver and etcd (envtest), with the webhook serving in this process. Each scenario is
// built in its own namespace the way a cluster gets it: the wiring applied through the webhook,
// then cert-manager-style certificates, then the CA sync writing internal-ca.
package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
)

// configName names the webhook configurations, as the chart's release would.
const configName = "aigw-mtls-webhook"

var (
	env        *harness.Env
	hook       *harness.Webhook
	kube       client.Client // env's client, without printing the API server's warnings
	dyn        dynamic.Interface
	binary     string // the aigw-mtls-webhook binary built for these tests
	kubeconfig string // context "envtest" reaches the API server; the current context does not
)

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, "check end-to-end tests", setup))
}

func setup(e *harness.Env) (func() error, error) {
	env = e
	quiet := rest.CopyConfig(env.Config)
	quiet.WarningHandler = rest.NoWarnings{}
	dyn = dynamic.NewForConfigOrDie(quiet)
	var err error
	if kube, err = client.New(quiet, client.Options{Scheme: harness.Scheme()}); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "aigw-check-")
	if err != nil {
		return nil, err
	}
	cleanup := func() error {
		if hook != nil {
			_ = hook.Stop()
		}
		return os.RemoveAll(dir)
	}
	if err := build(dir); err != nil {
		_ = cleanup()
		return nil, err
	}
	return cleanup, nil
}

func build(dir string) error {
	binary = filepath.Join(dir, "aigw-mtls-webhook")
	build := exec.Command("go", "build", "-o", binary, "./cmd/aigw-mtls-webhook")
	build.Dir = harness.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(env.Config, kubeconfig); err != nil {
		return err
	}
	if err := startWebhook(); err != nil {
		return err
	}
	return harness.WaitForPodMutation(context.Background(), kube, "default")
}

// writeKubeconfig writes a kubeconfig for cfg as context "envtest", and makes the current context
// one whose API server does not answer (the tests pass --context).
func writeKubeconfig(cfg *rest.Config, path string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.Clusters["nowhere"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1", InsecureSkipTLSVerify: true}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.Contexts["nowhere"] = &clientcmdapi.Context{Cluster: "nowhere", AuthInfo: "admin"}
	kc.CurrentContext = "nowhere"
	return clientcmd.WriteToFile(*kc, path)
}

// startWebhook starts a webhook server and registers it by URL, the way the e2e tests do.
func startWebhook() error {
	var err error
	hook, err = harness.StartRegisteredWebhook(env, configName)
	return err
}

// registerWebhook points both configurations at the running webhook, trusting caBundle.
func registerWebhook(caBundle []byte) error {
	return harness.RegisterChartWebhooks(context.Background(), kube, configName, hook.URL, caBundle)
}

// withoutMutation runs create while the mutating webhook is out of the admission path (objects
// created before the webhook was installed), then puts it back.
func withoutMutation(t *testing.T, create func() error) {
	t.Helper()
	ctx := context.Background()
	if err := kube.Delete(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: configName}}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := registerWebhook(hook.CABundle); err != nil {
			t.Fatal(err)
		}
		if err := harness.WaitForPodMutation(ctx, kube, "default"); err != nil {
			t.Fatal(err)
		}
	}()
	// The API server's view of the configurations lags the delete by a moment.
	eventually(t, "the mutating webhook out of the admission path", func() error {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "unmutated-probe", Namespace: "default", Labels: map[string]string{"aigw": "mtls"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "aigw", Image: "aigw"}}},
		}
		if err := kube.Create(ctx, p, client.DryRunAll); err != nil {
			return err
		}
		if len(p.Spec.Volumes) > 0 {
			return errors.New("still mutated")
		}
		return nil
	})
	if err := create(); err != nil {
		t.Fatal(err)
	}
}

// runCheck runs the binary's check command against the envtest API server.
func runCheck(t *testing.T, args ...string) (stdout string, code int) {
	t.Helper()
	args = append([]string{"check", "--kubeconfig", kubeconfig, "--context", "envtest"}, args...)
	stdout, stderr, code := runBinary(t, args...)
	if stderr != "" {
		t.Logf("stderr of check %v:\n%s", args, stderr)
	}
	return stdout, code
}

func runBinary(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// eventually retries f every 100ms for up to 20s until it returns nil, then fails with its error.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// webhookNames are the names, in order, of the mutating (or validating) webhooks the chart
// registers (internal/kinds, Gateway API included: harness.ChartWebhookValues), as check lists them.
func webhookNames(mutating bool) string {
	var names []string
	for _, k := range kinds.All {
		hooks := k.ValidateHooks
		if mutating {
			hooks = k.MutateHooks
		}
		for _, h := range hooks {
			names = append(names, h.Name)
		}
	}
	return strings.Join(names, ", ")
}

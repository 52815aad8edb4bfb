// Package e2e runs the webhook over TLS against a real kube-apiserver and etcd (envtest).
package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
)

const (
	ns         = "ai-gateway"
	configName = "aigw-mtls-webhook"
)

var (
	env      *harness.Env
	hook     *harness.Webhook
	warnings = &warningLog{}
	// kube and dyn are clients whose warnings land in the warnings log, as kubectl would print them.
	kube kubernetes.Interface
	dyn  dynamic.Interface
)

// Parallel tests: most tests here share one namespace, the registered webhook and the warnings
// log, and run one after the other. Those that spend most of their time waiting call t.Parallel:
// go test runs them together once the others have finished, so they overlap only with each other.
// They wait on the webhook's timers (the NIC reload's delay and minimum interval, the restart
// controller's settling), with namespaces, a webhook instance and CA sync Secret names of their
// own, or on an API server of their own (late CRDs, BackendTLSPolicy ports); none reads the shared
// warnings log. A test joining them must keep to the same.
func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, "end-to-end tests", setup))
}

func setup(e *harness.Env) (func() error, error) {
	env = e
	cfg := rest.CopyConfig(env.Config)
	cfg.WarningHandler = warnings
	kube = kubernetes.NewForConfigOrDie(cfg)
	dyn = dynamic.NewForConfigOrDie(cfg)
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return nil, err
	}
	if err := startWebhook(); err != nil {
		return nil, err
	}
	cleanup := func() error {
		// After every test, in whatever order they ran.
		problems := checkNoKeyMaterialInLogs()
		_ = hook.Stop()
		if len(problems) > 0 {
			return errors.New("no key material in the logs:\n  " + strings.Join(problems, "\n  "))
		}
		return nil
	}
	if err := harness.WaitForPodMutation(ctx, env.Client, ns); err != nil {
		_ = hook.Stop()
		return nil, err
	}
	return cleanup, nil
}

// startWebhook starts a webhook server and points the registration at it.
func startWebhook() error {
	var err error
	hook, err = harness.StartRegisteredWebhook(env, configName)
	return err
}

func pod(name string, labelled bool) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "aigw", Image: "aigw:v1"}}},
	}
	if labelled {
		p.Labels["aigw"] = "mtls"
	}
	return p
}

// eventually retries f every 100ms for up to 20s until it returns nil, then fails with its error.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	if err := pollErr(f); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func pollErr(f func() error) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// unstructuredSample reads a manifest of config/samples (or a path) as an unstructured object.
func unstructuredSample(t *testing.T, path string) *unstructured.Unstructured {
	if !strings.Contains(path, "/") {
		path = filepath.Join(harness.RepoRoot(), "config", "samples", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(b, &u.Object); err != nil {
		panic(fmt.Sprintf("%s: %v", path, err))
	}
	return u
}

// sample reads a manifest of config/samples into obj.
func sample(t *testing.T, file string, obj any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "config", "samples", file))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, obj); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// warningLog collects the warnings the API server returns.
type warningLog struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningLog) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

// mark returns how many warnings are logged so far: since(mark) returns those logged after it.
func (w *warningLog) mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.msgs)
}

// since returns the warnings logged after mark, one a line.
func (w *warningLog) since(mark int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.msgs[mark:], "\n")
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// Package podengine holds the two engines that wire labelled pods, the webhook's pod hooks and the
// chart's admission policies (podInjection.engine), to the same results on a real kube-apiserver.
package podengine

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
)

const ns = "ai-gateway"

var (
	env      *harness.Env
	warnings = &warningLog{}
	// dyn writes pods as kubectl would, its warnings landing in warnings.
	dyn dynamic.Interface
)

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, "pod engine tests", func(e *harness.Env) (func() error, error) {
		env = e
		cfg := rest.CopyConfig(env.Config)
		cfg.WarningHandler = warnings
		dyn = dynamic.NewForConfigOrDie(cfg)
		err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		return func() error { return nil }, err
	}))
}

// warningLog records the admission warnings the API server returns.
type warningLog struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningLog) HandleWarningHeader(_ int, _, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

// take returns the warnings logged since the last take.
func (w *warningLog) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}

func (w *warningLog) String() string { return strings.Join(w.take(), "\n") }

package harness

import (
	"context"
	"fmt"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// Main is the TestMain of a test package whose tests share one control plane: it starts it (or
// skips the package, printing why, when the envtest binaries are missing and that is allowed),
// calls setup, runs the tests, then calls the cleanup setup returned and stops the control plane.
// A cleanup error fails the run. what names the tests in the skip line. It returns the exit code.
func Main(m *testing.M, what string, setup func(*Env) (cleanup func() error, err error)) int {
	env, err := Start()
	if SkipWithout(err) {
		fmt.Printf("skipping %s: %v\n", what, err)
		return 0
	}
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer env.Stop()
	cleanup, err := setup(env)
	if err != nil {
		fmt.Println("setup:", err)
		return 1
	}
	code := m.Run()
	if err := cleanup(); err != nil {
		fmt.Println("FAIL:", err)
		code = 1
	}
	return code
}

// StartRegisteredWebhook serves the webhook with the default options and registers it under
// name the way the chart does (RegisterChartWebhooks).
func StartRegisteredWebhook(env *Env, name string) (*Webhook, error) {
	hook, err := StartWebhook(env.Config, webhook.DefaultOptions())
	if err != nil {
		return nil, err
	}
	if err := RegisterChartWebhooks(context.Background(), env.Client, name, hook.URL, hook.CABundle); err != nil {
		_ = hook.Stop()
		return nil, err
	}
	return hook, nil
}

// RegisterChartWebhooks creates, or updates, the chart's webhook configurations named name
// (ChartWebhooks) to call url, trusting caBundle.
func RegisterChartWebhooks(ctx context.Context, c client.Client, name, url string, caBundle []byte) error {
	mutating, validating, err := ChartWebhooks(name, url, caBundle)
	if err != nil {
		return err
	}
	if err := upsert(ctx, c, mutating, &admissionregistrationv1.MutatingWebhookConfiguration{}); err != nil {
		return err
	}
	return upsert(ctx, c, validating, &admissionregistrationv1.ValidatingWebhookConfiguration{})
}

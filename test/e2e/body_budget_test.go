package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// Through the API server: ConfigMaps of ~1 MiB updated at once, with a body budget that fits
// one review at a time, most of it held by another caller when they start. The reviews past the budget wait for room (half the 20 s timeout, at most
// 5 s) or are answered 429 and retried by the API server, so every update is mutated and none fails.
func TestServingBodyBudgetRetriedByTheAPIServer(t *testing.T) {
	ctx := context.Background()
	o := webhook.DefaultOptions()
	o.Serving.MaxBodyBytesInFlight = 4 << 20
	o.Serving.ShutdownDelay = 0
	w, err := harness.StartWebhook(env.Config, o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "budget-"}}
	must(t, env.Client.Create(ctx, nsObj))
	space := nsObj.Name
	cfg, _, err := harness.ChartWebhooks(space, w.URL, w.CABundle)
	if err != nil {
		t.Fatal(err)
	}
	var hooks []admissionregistrationv1.MutatingWebhook
	for _, h := range cfg.Webhooks {
		if h.Name == "configmaps.mtls.aigw.io" {
			h.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": space}}
			// Room for the API server's retries after Retry-After while the others are answered.
			timeout := int32(20)
			h.TimeoutSeconds = &timeout
			hooks = append(hooks, h)
		}
	}
	cfg.Webhooks = hooks
	must(t, env.Client.Create(ctx, cfg))
	t.Cleanup(func() {
		_ = env.Client.Delete(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: space}})
	})
	// ~1 MB of data beside a small aigw config (the mutation parses at most 256 KiB of config).
	big := func(i, v int) map[string]string {
		var b strings.Builder
		fmt.Fprintf(&b, "%d/%d\n", i, v)
		for b.Len() < 1_000_000 {
			b.WriteString("padding padding padding padding padding padding padding padding\n")
		}
		return map[string]string{"aigw.yaml": fmt.Sprintf("# %d/%d\nversion: 1\nserver:\n  address: :4141\n", i, v), "padding": b.String()}
	}
	const n = 12
	cms := make([]*corev1.ConfigMap, n)
	for i := range cms {
		cms[i] = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("big-%d", i), Namespace: space, Labels: map[string]string{"aigw": "mtls"}},
			Data: big(i, 0)}
	}
	eventually(t, "the configuration in the admission path", func() error {
		if err := env.Client.Create(ctx, cms[0]); err != nil {
			return err
		}
		if cms[0].Annotations["mtls.aigw.io/injected"] == "" {
			_ = env.Client.Delete(ctx, cms[0])
			cms[0] = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "big-0", Namespace: space, Labels: map[string]string{"aigw": "mtls"}},
				Data: big(0, 0)}
			return fmt.Errorf("created without the webhook")
		}
		return nil
	})
	for _, cm := range cms[1:] {
		must(t, env.Client.Create(ctx, cm))
	}
	before, waitedBefore := overloadRejections(t), budgetWaits(t)
	// A caller holds 3.5 MiB of the 4 MiB budget (sent, its body not finished) while the updates
	// start, so that the first reviews find no room whatever the machine's speed. It hangs up once
	// a review has waited for room or been answered 429, however long the API server takes to send
	// the first ones, or after 8 s (the webhook drops a request whose body has not arrived in 10 s).
	holder, err := tls.Dial("tcp", strings.TrimPrefix(w.URL, "https://"), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test webhook's throwaway certificate
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(holder, "POST %s HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		webhook.PathMutateConfigMap, 4<<20-1, strings.Repeat(" ", 3584<<10)); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer func() { _ = holder.Close() }()
		for deadline := time.Now().Add(8 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			waits, _ := counterSum("aigw_mtls_body_budget_waits_total", "", "")
			rejections, _ := counterSum("aigw_mtls_requests_rejected_total", "reason", "overload")
			if waits > waitedBefore || rejections > before {
				return
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, cm := range cms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cm.Data = big(i, 1)
			errs[i] = env.Client.Update(ctx, cm)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("update %d: %v", i, err)
		} else if !strings.Contains(cms[i].Data["aigw.yaml"], "serverCertPath") {
			t.Errorf("update %d was not mutated", i)
		}
	}
	rejected := overloadRejections(t) - before
	waited := budgetWaits(t) - waitedBefore
	if rejected+waited == 0 {
		t.Errorf("%d updates of ~2 MiB reviews against a 4 MiB budget of which 3.5 MiB were held: none waited for room nor was answered 429, the budget did not bound them", n)
	}
	t.Logf("%v reviews waited for room in the budget, %v were answered 429 and retried by the API server", waited, rejected)
}

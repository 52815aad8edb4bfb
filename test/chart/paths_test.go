package chart_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// TestChartPathsAreServed holds the chart and the binary to one list of paths: every webhook of
// every value set's rendering calls a path the webhook server registers, with a handler of the
// configuration's type (mutating or validating) for the resource it matches, and every path the
// server registers is called by the chart. A path renamed on one side only would make every
// matching request fail closed in a cluster, or leave a handler no request reaches.
func TestChartPathsAreServed(t *testing.T) {
	served := webhook.Handlers(webhook.DefaultOptions(), nil)
	called := map[string]bool{}
	for _, v := range valueSets {
		_, objs := render(t, v)
		r := rendering{v: v, objs: objs}
		for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
			for _, h := range slice(r.one(t, kind).Object, "webhooks") {
				hook := &unstructured.Unstructured{Object: h.(map[string]any)}
				id := fmt.Sprintf("%s: %s webhook %s", v.name, kind, str(hook, "name"))
				path := str(hook, "clientConfig", "service", "path")
				called[path] = true
				handler, ok := served[path]
				if !ok {
					t.Errorf("%s: clientConfig.service.path %q is not served by the binary (it serves %s): fix the path in charts/aigw-mtls-webhook/templates/webhooks.yaml or register it in webhook.Handlers",
						id, path, strings.Join(sortedKeys(served), ", "))
					continue
				}
				handlerKind, mutating := "", false
				switch hd := handler.(type) {
				case *webhook.Mutator:
					handlerKind, mutating = hd.Kind, true
				case *webhook.Validator:
					handlerKind = hd.Kind
				default:
					t.Fatalf("%s: handler %T at %s", id, handler, path)
				}
				if mutating != (kind == "MutatingWebhookConfiguration") {
					t.Errorf("%s: path %s is served by a %T, not called from a %s", id, path, handler, kind)
				}
				for _, rule := range slice(hook.Object, "rules") {
					for _, res := range rule.(map[string]any)["resources"].([]any) {
						if want := kinds.Named(handlerKind).Resource; res != want {
							t.Errorf("%s: rule for resource %v goes to path %s, whose handler admits %s (%s)", id, res, path, handlerKind, want)
						}
					}
				}
			}
		}
	}
	for _, path := range sortedKeys(served) {
		if !called[path] {
			t.Errorf("the binary serves %s but no webhook of the chart calls it: add it to charts/aigw-mtls-webhook/templates/webhooks.yaml", path)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

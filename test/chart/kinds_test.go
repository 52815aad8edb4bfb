package chart_test

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
)

// webhookSpec is one webhook internal/kinds says the chart registers.
type webhookSpec struct {
	kind, name, path, group, version, resource string
	operations                                 []string
	failurePolicy                              string // "" means the failurePolicy value
	reinvocation                               string // "" for validating webhooks
}

// wantWebhooks are the webhooks of internal/kinds for r's values, in the table's order.
func wantWebhooks(r rendering) []webhookSpec {
	var out []webhookSpec
	add := func(config string, k *kinds.Kind, path string, hooks []kinds.Hook) {
		for _, h := range hooks {
			w := webhookSpec{kind: config, name: h.Name, path: path, group: k.Group, version: k.Version, resource: k.Resource, operations: h.Operations}
			if h.Ignore {
				w.failurePolicy = "Ignore"
			}
			if config == "MutatingWebhookConfiguration" {
				w.reinvocation = kinds.Reinvocation
			}
			out = append(out, w)
		}
	}
	for _, k := range kinds.All {
		if k == kinds.Pod && r.podEngine() == "policy" {
			continue // the pod policies wire pods (checkPodPolicies)
		}
		if !k.GatewayAPI || r.gatewayAPI() {
			add("MutatingWebhookConfiguration", k, k.MutatePath(), k.MutateHooks)
		}
	}
	for _, k := range kinds.All {
		if !k.GatewayAPI || r.gatewayAPI() {
			add("ValidatingWebhookConfiguration", k, k.ValidatePath(), k.ValidateHooks)
		}
	}
	return out
}

// checkWebhooks holds each configuration's webhooks equal to internal/kinds, in its order, field
// by field (checkWebhook): a stanza missing, added or changed on one side only fails.
func checkWebhooks(t *testing.T, r rendering) {
	t.Helper()
	want := wantWebhooks(r)
	for _, config := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		cfg := r.one(t, config)
		if cfg.GetName() != r.fullname() {
			t.Errorf("%s name %q, want %q", config, cfg.GetName(), r.fullname())
		}
		if got, want := cfg.GetAnnotations()["cert-manager.io/inject-ca-from"], r.v.namespace+"/"+r.fullname()+"-serving"; got != want {
			t.Errorf("%s: cert-manager.io/inject-ca-from %q, want %q", config, got, want)
		}
		var specs []webhookSpec
		var wantNames, gotNames []string
		for _, w := range want {
			if w.kind == config {
				specs = append(specs, w)
				wantNames = append(wantNames, w.name)
			}
		}
		hooks := slice(cfg.Object, "webhooks")
		for _, h := range hooks {
			gotNames = append(gotNames, str(&unstructured.Unstructured{Object: h.(map[string]any)}, "name"))
		}
		if !slices.Equal(gotNames, wantNames) {
			t.Errorf("%s: webhooks %v, internal/kinds says %v", config, gotNames, wantNames)
			continue
		}
		for i, h := range hooks {
			checkWebhook(t, r, config, &unstructured.Unstructured{Object: h.(map[string]any)}, specs[i])
		}
	}
}

// TestChartMatchesKinds: every value set's rendering registers exactly the webhooks of
// internal/kinds (checkWebhooks), and its RBAC grants what the cache of internal/kinds reads
// (checkCachedKindsRBAC).
func TestChartMatchesKinds(t *testing.T) {
	for _, v := range valueSets {
		t.Run(v.name, func(t *testing.T) {
			_, objs := render(t, v)
			r := rendering{v: v, objs: objs}
			checkWebhooks(t, r)
			checkPodPolicies(t, r)
			checkCachedKindsRBAC(t, r)
		})
	}
}

type grant struct{ group, resource, verb string }

// grants are the (group, resource, verb) a Role or ClusterRole grants, with their resourceNames
// (none: every object).
func grants(o *unstructured.Unstructured) map[grant][]string {
	out := map[grant][]string{}
	for _, x := range slice(o.Object, "rules") {
		rule := x.(map[string]any)
		var names []string
		for _, n := range slice(rule, "resourceNames") {
			names = append(names, n.(string))
		}
		for _, g := range slice(rule, "apiGroups") {
			for _, res := range slice(rule, "resources") {
				for _, v := range slice(rule, "verbs") {
					// A rule without resourceNames grants every object, whatever others name.
					k := grant{g.(string), res.(string), v.(string)}
					if prev, seen := out[k]; seen && (len(prev) == 0 || len(names) == 0) {
						out[k] = nil
					} else {
						out[k] = append(prev, names...)
					}
				}
			}
		}
	}
	return out
}

// cacheReads are the grants the informer cache needs cluster wide with r's values: kinds.CacheVerbs
// on each kind internal/kinds caches (Secrets only when read in every namespace).
func cacheReads(r rendering) map[grant]bool {
	out := map[grant]bool{}
	for _, k := range kinds.Cached(r.gatewayAPI()) {
		if k.Cache.SecretNamespaces && !r.secretsReadClusterWide() {
			continue
		}
		for _, v := range kinds.CacheVerbs {
			out[grant{k.Group, k.Resource, v}] = true
		}
	}
	return out
}

func (r rendering) clusterWideSecrets() bool {
	return r.value("caSync.namespaces", "") == "{*}" || r.value("access.clusterWideSecrets", "false") == "true"
}

// oneSecretInformer: the Secrets of the served namespaces come from one cluster-wide watch.
func (r rendering) oneSecretInformer() bool {
	return !r.clusterWideSecrets() && r.value("access.oneSecretInformer", "false") == "true"
}

// secretsReadClusterWide: the ClusterRole reads Secrets (every namespace's, or one watch of them).
func (r rendering) secretsReadClusterWide() bool {
	return r.clusterWideSecrets() || r.oneSecretInformer()
}

// checkCachedKindsRBAC: the ClusterRole grants every read the cache needs (cacheReads), without
// resourceNames, and no read of a kind the cache does not hold; a kind cached only in the served
// namespaces is read there through a Role (checkRBAC checks which namespaces).
func checkCachedKindsRBAC(t *testing.T, r rendering) {
	t.Helper()
	cr := r.named("ClusterRole", "", r.fullname())
	if cr == nil {
		t.Fatalf("no ClusterRole %s", r.fullname())
	}
	cluster := grants(cr)
	need := cacheReads(r)
	for g := range need {
		if names, ok := cluster[g]; !ok || len(names) > 0 {
			t.Errorf("ClusterRole: %s %s/%s missing (resourceNames %v): the cache of internal/kinds reads it", g.verb, g.group, g.resource, names)
		}
	}
	for g := range cluster {
		if g.verb == "list" || g.verb == "watch" {
			if !need[g] && !probeReads(r)[g] {
				t.Errorf("ClusterRole grants %s %s/%s: internal/kinds caches no such kind with these values", g.verb, g.group, g.resource)
			}
		}
	}
	for _, k := range kinds.Cached(r.gatewayAPI()) {
		if !k.Cache.SecretNamespaces || r.secretsReadClusterWide() {
			continue
		}
		roles := 0
		for _, role := range r.all("Role") {
			g := grants(role)
			if _, ok := g[grant{k.Group, k.Resource, "watch"}]; !ok {
				continue
			}
			roles++
			for _, v := range kinds.CacheVerbs {
				if _, ok := g[grant{k.Group, k.Resource, v}]; !ok {
					t.Errorf("Role %s/%s: %s %s missing", role.GetNamespace(), role.GetName(), v, k.Resource)
				}
			}
		}
		if roles == 0 {
			t.Errorf("no Role grants the reads of %s (cached in the served namespaces)", k.Resource)
		}
	}
}

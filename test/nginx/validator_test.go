package nginx_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
	"github.com/aigw-mtls/aigw-mtls-webhook/patches"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/nginx/nicconf"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// validation is the validator's answer for one variant.
type validation struct {
	conflicts []string
	warnings  []string
}

// validate runs the webhook's rules on the variant's objects, as the webhook sees them (Secrets
// through the cache's transform: private keys dropped, the key verdict recorded): the Policy, and
// the labelled VirtualServer that references it the way the variant does (server or route level,
// to an http or grpc upstream).
func validate(r *run, now time.Time) (validation, error) {
	objs := objects.NewObjectSet(namespace)
	for _, raw := range r.objects {
		objs.Add(namespace, cached(raw))
	}
	s := aigw.DefaultSettings()
	fs, err := rules.Policy(r.policyJSON, namespace, s, objs, now)
	if err != nil {
		return validation{}, err
	}
	var vfs rules.Findings
	if r.s.ingress != "" {
		vfs, err = rules.Ingress(ingressJSON(r), namespace, s, objs, now)
	} else {
		vfs, err = rules.VirtualServer(virtualServerJSON(r), namespace, s, objs, now)
	}
	if err != nil {
		return validation{}, err
	}
	// The VirtualServer (or Ingress) repeats the Policy's findings as its own; keep its other
	// findings, those about other Policies it references included.
	var own rules.Findings
	for _, f := range vfs {
		if !strings.Contains(f.Object, " references Policy/"+namespace+"/"+policyName+": ") {
			own = append(own, f)
		}
	}
	all := append(fs, own...)
	return validation{conflicts: all.Errors(), warnings: all.Warnings()}, nil
}

// virtualServerJSON is the labelled VirtualServer of the variant: one upstream (type grpc when the
// variant proxies gRPC) and one route, the Policy referenced from spec.policies or the route.
func virtualServerJSON(r *run) []byte {
	ref := []any{map[string]any{"name": policyName}}
	upstream := map[string]any{"name": "aigw", "service": "aigw", "port": 443, "tls": map[string]any{"enable": true}}
	if r.s.grpc {
		upstream["type"] = "grpc"
	}
	route := map[string]any{"path": "/", "action": map[string]any{"pass": "aigw"}}
	spec := map[string]any{"host": "aigw.example.com", "upstreams": []any{upstream}, "routes": []any{route}}
	if r.s.level == nicconf.ServerLevel {
		spec["policies"] = ref
	} else {
		route["policies"] = ref
	}
	raw, err := json.Marshal(map[string]any{
		"apiVersion": "k8s.nginx.org/v1", "kind": "VirtualServer",
		"metadata": map[string]any{"name": r.slug, "namespace": namespace, "labels": selectorLabels},
		"spec":     spec,
	})
	if err != nil {
		panic(err)
	}
	return raw
}

// ingressJSON is the labelled Ingress of the variant, as the webhook wires it: the Policy in
// nginx.org/policies, the aigw Service in nginx.org/ssl-services (unless the variant leaves it
// out) and nginx.org/grpc-services when it proxies gRPC.
func ingressJSON(r *run) []byte {
	if r.ingress != nil {
		return r.ingress
	}
	policies := []string{policyName}
	for _, p := range r.s.listedAfter {
		policies = append(policies, p.Name)
	}
	ann := map[string]string{"nginx.org/policies": strings.Join(policies, ",")}
	if !r.s.plainHTTP {
		ann["nginx.org/ssl-services"] = "aigw"
	}
	if r.s.grpc {
		ann["nginx.org/grpc-services"] = "aigw"
	}
	if r.s.ingress == minionIngress {
		ann["nginx.org/mergeable-ingress-type"] = "minion"
	}
	path := map[string]any{"path": "/", "pathType": "Prefix",
		"backend": map[string]any{"service": map[string]any{"name": "aigw", "port": map[string]any{"number": 443}}}}
	raw, err := json.Marshal(map[string]any{
		"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
		"metadata": map[string]any{"name": r.slug, "namespace": namespace, "labels": selectorLabels, "annotations": ann},
		"spec": map[string]any{"ingressClassName": "nginx", "rules": []any{map[string]any{
			"host": "aigw.example.com", "http": map[string]any{"paths": []any{path}}}}},
	})
	if err != nil {
		panic(err)
	}
	return raw
}

func cached(raw []byte) []byte {
	var sec corev1.Secret
	if json.Unmarshal(raw, &sec) != nil || sec.Kind != "Secret" {
		return raw
	}
	obj, err := webhook.StripPrivateKeys(&sec)
	if err != nil {
		return raw
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return raw
	}
	return out
}

// mutatedIngress is the variant's labelled Ingress to the Service web, unwired, as the webhook's
// mutation (patches.PatchIngress, with the Policy and Secrets as the webhook's cache holds them)
// makes it.
func mutatedIngress(t *testing.T, r *run) []byte {
	path := map[string]any{"path": "/", "pathType": "Prefix",
		"backend": map[string]any{"service": map[string]any{"name": "web", "port": map[string]any{"number": 80}}}}
	raw, err := json.Marshal(map[string]any{
		"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
		"metadata": map[string]any{"name": r.slug, "namespace": namespace, "labels": selectorLabels},
		"spec": map[string]any{"ingressClassName": "nginx", "rules": []any{map[string]any{
			"host": "web.example.com", "http": map[string]any{"paths": []any{path}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	objs := objects.NewObjectSet(namespace)
	for _, o := range r.objects {
		objs.Add(namespace, cached(o))
	}
	res, err := patches.PatchIngress(raw, namespace, aigw.DefaultSettings(), objs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Conflicts()) > 0 {
		t.Fatalf("%s: the mutation refuses the Ingress: %v", r.v.name, res.Conflicts())
	}
	if len(res.Patch()) == 0 {
		return raw
	}
	ops, _ := json.Marshal(res.Patch())
	p, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply(raw)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func annotationsOf(t *testing.T, raw []byte) map[string]string {
	var o struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatal(err)
	}
	return o.Metadata.Annotations
}

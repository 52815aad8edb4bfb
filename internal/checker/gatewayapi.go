package checker

import (
	"context"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
	"github.com/aigw-mtls/aigw-mtls-webhook/patches"
)

// The Gateway API side (NGINX Gateway Fabric): labelled BackendTLSPolicies and Gateways.
var (
	btpGVK     = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "BackendTLSPolicy"}
	gatewayGVK = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "Gateway"}
	// The routes tell which Service ports a BackendTLSPolicy's sectionName and conflicts are judged on.
	httpRouteGVK = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"}
	grpcRouteGVK = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "GRPCRoute"}
	// ReferenceGrants tell which namespaces' routes may send to a Service.
	referenceGrantGVK = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1beta1", Kind: "ReferenceGrant"}
)

// listGatewayAPI lists the BackendTLSPolicies (all: an unlabelled one may conflict with a labelled
// one), the HTTPRoutes and GRPCRoutes (the ports they send to), the ReferenceGrants (which other
// namespaces' routes may send to a Service) and the labelled Gateways. The routes are listed in
// every namespace when the user may (a route elsewhere may send to a Service here), else in
// namespaces. Gateway API is optional: a cluster without its CRDs, or an install without
// gatewayAPI.enabled (whose RBAC does not grant reading them), has nothing to report here.
func (s *snapshot) listGatewayAPI(ctx context.Context, c client.Reader, namespaces []string, selected client.MatchingLabels) error {
	for _, k := range []struct {
		gvk  schema.GroupVersionKind
		into *[]item
		opts []client.ListOption
		wide bool
	}{{btpGVK, &s.btps, nil, false}, {httpRouteGVK, &s.routes, nil, true}, {grpcRouteGVK, &s.routes, nil, true},
		{referenceGrantGVK, &s.routes, nil, false}, {gatewayGVK, &s.gateways, []client.ListOption{selected}, false}} {
		if k.wide && !slices.Contains(namespaces, "") {
			err := s.listCustom(ctx, c, k.gvk, "", k.into, k.opts...)
			if err == nil || meta.IsNoMatchError(err) {
				continue
			}
			if !apierrors.IsForbidden(err) {
				return fmt.Errorf("listing %ss: %w", k.gvk.Kind, err)
			}
		}
		for _, ns := range namespaces {
			err := s.listCustom(ctx, c, k.gvk, ns, k.into, k.opts...)
			if meta.IsNoMatchError(err) || apierrors.IsForbidden(err) {
				break
			}
			if err != nil {
				return fmt.Errorf("listing %ss: %w", k.gvk.Kind, err)
			}
		}
	}
	return nil
}

// indexGatewayAPI adds the labelled ConfigMaps, where BackendTLSPolicies find their CA, the
// BackendTLSPolicies, the routes and the Services the policies target to the lookups, as
// `validate -f` has them.
func (s *snapshot) indexGatewayAPI() {
	for i := range s.configMaps {
		s.objs.Add("", rawTyped(&s.configMaps[i], "v1", "ConfigMap"))
	}
	for _, list := range [][]item{s.btps, s.routes} {
		for i := range list {
			s.objs.Add("", list[i].raw)
		}
	}
	for i := range s.btps {
		refs, _, _ := unstructured.NestedSlice(s.btps[i].obj().Object, "spec", "targetRefs")
		for _, r := range refs {
			ref, _ := r.(map[string]any)
			if name, _ := ref["name"].(string); ref["kind"] == "Service" {
				if svc := s.service(s.btps[i].namespace, name); svc != nil {
					s.objs.Add("", rawTyped(svc.DeepCopy(), "v1", "Service"))
				}
			}
		}
	}
}

// checkGatewayAPI: each labelled BackendTLSPolicy is complete (admitting it again would add
// nothing) and passes validation; each labelled Gateway's backend client certificate passes.
func checkGatewayAPI(s *snapshot, ns string) []Check {
	l := newLines(SectionGatewayAPI, ns)
	for _, i := range s.in.btps[ns] {
		if !s.selected(s.btps[i].labels) {
			continue
		}
		u, raw := s.btps[i].obj(), s.btps[i].raw
		obj := ref("BackendTLSPolicy", ns, u.GetName())
		res, err := patches.PatchBackendTLSPolicy(raw, ns, s.o.Settings, s.objs)
		if err != nil {
			l.fail(obj, "cannot be read: "+err.Error(), "correct its spec")
			continue
		}
		res.Findings = rules.Silence(raw, res.Findings)
		found := l.result(obj, res)
		l.findings(obj, "", "", res.Unwired)
		fs, err := rules.BackendTLSPolicy(raw, ns, s.o.Settings, s.objs, s.o.Now)
		if err != nil {
			l.fail(obj, "cannot be read: "+err.Error(), "correct its spec")
			continue
		}
		fs = rules.Silence(raw, fs)
		// What the mutation would add is reported once, as such.
		unwired := map[string]bool{}
		for _, f := range res.Unwired {
			unwired[f.Field] = true
		}
		fs = slices.DeleteFunc(fs, func(f rules.Finding) bool { return unwired[f.Field] })
		hostname, _, _ := unstructured.NestedString(u.Object, "spec", "validation", "hostname")
		okMsg := ""
		if !found && res.Wired() {
			okMsg = fmt.Sprintf("hostname %s covered by the aigw server certificate; the CA issues it (passes validation)", hostname)
		}
		l.findings(obj, "", okMsg, fs)
	}
	for _, i := range s.in.gateways[ns] {
		u, raw := s.gateways[i].obj(), s.gateways[i].raw
		obj := ref("Gateway", ns, u.GetName())
		fs, err := rules.Gateway(raw, ns, s.o.Settings, s.objs, s.o.Now)
		if err != nil {
			l.fail(obj, "cannot be read: "+err.Error(), "correct its spec")
			continue
		}
		name, _, _ := unstructured.NestedString(u.Object, "spec", "tls", "backend", "clientCertificateRef", "name")
		l.findings(obj, "", "backend client certificate "+name+" passes validation (client auth, chains to the CA aigw trusts)", rules.Silence(raw, fs))
	}
	return l.out
}

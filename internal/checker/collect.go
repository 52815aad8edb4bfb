package checker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// Custom resources, read as unstructured objects: their raw JSON is what package patches reads.
var (
	policyGVK      = schema.GroupVersionKind{Group: "k8s.nginx.org", Version: "v1", Kind: "Policy"}
	vsGVK          = schema.GroupVersionKind{Group: "k8s.nginx.org", Version: "v1", Kind: "VirtualServer"}
	vsrGVK         = schema.GroupVersionKind{Group: "k8s.nginx.org", Version: "v1", Kind: "VirtualServerRoute"}
	certificateGVK = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}
)

// AnnotationInjectCAFrom is cert-manager cainjector's annotation: namespace/Certificate whose CA
// goes into the caBundle of a webhook configuration.
const AnnotationInjectCAFrom = "cert-manager.io/inject-ca-from"

// snapshot is what the checks read: every kind listed once.
type snapshot struct {
	o Options

	// unencoded are the listed objects check could not hold (newItem failed): not checked, and
	// said so (checkCluster). The kinds are listed concurrently.
	unencodedMu sync.Mutex
	unencoded   []Check

	secrets      map[string]*corev1.Secret // by namespace/name
	services     map[string]*corev1.Service
	pods         []corev1.Pod
	slices       []discoveryv1.EndpointSlice
	configMaps   []corev1.ConfigMap // labelled only
	policies     []item
	vss          []item                 // labelled only
	vsrs         []item                 // labelled only
	ingresses    []networkingv1.Ingress // labelled only
	certificates []item
	hooks        []hookConfig  // the product's webhook configurations
	podPolicies  podPolicies   // the product's pod MutatingAdmissionPolicies
	btps         []item        // all; none when Gateway API is not served
	routes       []item        // HTTPRoutes, GRPCRoutes and ReferenceGrants, all
	gateways     []item        // labelled only
	events       ingressEvents // NIC's latest Event on each labelled Ingress

	in         inNamespace        // each namespace's objects
	objs       *objects.ObjectSet // Secrets, Policies and Certificates, for the validations
	namespaces []string           // in scope, sorted
	listed     map[string]bool    // namespaces whose objects were listed ("" = all)
	notServed  []string           // kinds whose CRD is not installed
}

// hookConfig is a Mutating or Validating webhook configuration, reduced to what is checked.
type hookConfig struct {
	kind, name  string
	annotations map[string]string
	hooks       []hookView
}

type hookView struct {
	name   string
	client admissionregistrationv1.WebhookClientConfig
	ignore bool // failurePolicy Ignore: a call that fails admits the object unchanged
	// createsPods: a mutating webhook called on pod CREATE (the one that wires pods).
	createsPods bool
}

func (h hookConfig) ref() string { return h.kind + "/" + h.name }

// listConcurrency is how many kinds collect lists at once.
const listConcurrency = 3

// collect lists what the checks need: the webhook configurations first (they say which namespace
// the webhook runs in), then each namespaced kind once, cluster-wide or in the namespaces in scope.
func collect(ctx context.Context, c client.Reader, o Options) (*snapshot, error) {
	s := &snapshot{o: o, secrets: map[string]*corev1.Secret{}, services: map[string]*corev1.Service{}, listed: map[string]bool{}}
	if err := s.listWebhookConfigurations(ctx, c); err != nil {
		return nil, err
	}
	app := []string{o.Namespace} // "" lists across all namespaces
	hook := app
	webhookNamespaces := s.webhookNamespaces()
	if o.Namespace != "" {
		hook = union(app, webhookNamespaces)
	}
	for _, ns := range hook {
		s.listed[ns] = true
	}
	selected := client.MatchingLabels{o.Settings.SelectorKey: o.Settings.SelectorValue}
	// The steps list with lctx: the first that fails stops the others.
	g, lctx := errgroup.WithContext(ctx)
	steps := []struct {
		kind       string
		namespaces []string
		gvk        *schema.GroupVersionKind // a custom resource, nil for built-in kinds
		list       func(ns string) error
	}{
		{"Secrets", hook, nil, func(ns string) error {
			return listPages(lctx, c, func() client.ObjectList { return &corev1.SecretList{} }, ns, func(l client.ObjectList) {
				for i := range l.(*corev1.SecretList).Items {
					sec := l.(*corev1.SecretList).Items[i] // a copy: the page is not kept
					redactPrivateKeys(&sec)
					s.trimSecret(&sec)
					s.secrets[sec.Namespace+"/"+sec.Name] = &sec
				}
			})
		}},
		{"Services", hook, nil, func(ns string) error {
			return listPages(lctx, c, func() client.ObjectList { return &corev1.ServiceList{} }, ns, func(l client.ObjectList) {
				for i := range l.(*corev1.ServiceList).Items {
					svc := l.(*corev1.ServiceList).Items[i]
					trimMeta(&svc)
					s.services[svc.Namespace+"/"+svc.Name] = &svc
				}
			})
		}},
		{"EndpointSlices", hook, nil, func(ns string) error {
			return listPages(lctx, c, func() client.ObjectList { return &discoveryv1.EndpointSliceList{} }, ns, func(l client.ObjectList) {
				// Only the webhook's endpoints are checked, and the probe's.
				for _, es := range l.(*discoveryv1.EndpointSliceList).Items {
					if o.Probe.Enabled || slices.Contains(webhookNamespaces, es.Namespace) {
						trimMeta(&es)
						s.slices = append(s.slices, es)
					}
				}
			})
		}},
		{"Certificates", hook, &certificateGVK, func(ns string) error { return s.listCustom(lctx, c, certificateGVK, ns, &s.certificates) }},
		{"Pods", app, nil, func(ns string) error {
			return listPages(lctx, c, func() client.ObjectList { return &corev1.PodList{} }, ns, func(l client.ObjectList) {
				for i := range l.(*corev1.PodList).Items {
					p := &l.(*corev1.PodList).Items[i]
					s.trimPod(p)
					s.pods = append(s.pods, *p)
				}
			})
		}},
		{"ConfigMaps", app, nil, func(ns string) error {
			return listPages(lctx, c, func() client.ObjectList { return &corev1.ConfigMapList{} }, ns, func(l client.ObjectList) {
				for i := range l.(*corev1.ConfigMapList).Items {
					trimMeta(&l.(*corev1.ConfigMapList).Items[i])
				}
				s.configMaps = append(s.configMaps, l.(*corev1.ConfigMapList).Items...)
			}, selected)
		}},
		{"Policies", app, &policyGVK, func(ns string) error { return s.listCustom(lctx, c, policyGVK, ns, &s.policies) }},
		{"VirtualServers", app, &vsGVK, func(ns string) error { return s.listCustom(lctx, c, vsGVK, ns, &s.vss, selected) }},
		{"VirtualServerRoutes", app, &vsrGVK, func(ns string) error { return s.listCustom(lctx, c, vsrGVK, ns, &s.vsrs, selected) }},
		{"Ingresses", app, nil, func(ns string) error {
			return listPages(lctx, c, func() client.ObjectList { return &networkingv1.IngressList{} }, ns, func(l client.ObjectList) {
				s.ingresses = append(s.ingresses, l.(*networkingv1.IngressList).Items...)
			}, selected)
		}},
	}
	// The kinds are listed concurrently (the API server encodes a page of one while check decodes
	// a page of another), at most listConcurrency at a time; each step writes only its own fields.
	notServed := make([]string, len(steps))
	g.SetLimit(listConcurrency)
	for i, step := range steps {
		g.Go(func() error {
			for _, ns := range step.namespaces {
				err := step.list(ns)
				if step.gvk != nil && meta.IsNoMatchError(err) {
					notServed[i] = step.gvk.GroupVersion().String() + " " + step.gvk.Kind
					return nil
				}
				if err != nil {
					return fmt.Errorf("listing %s: %w", step.kind, err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, k := range notServed {
		if k != "" {
			s.notServed = append(s.notServed, k)
		}
	}
	if err := s.listGatewayAPI(ctx, c, app, selected); err != nil {
		return nil, err
	}
	s.listIngressEvents(ctx, c, app)
	s.index()
	s.indexGatewayAPI()
	s.indexNamespaces()
	s.namespaces = s.scope()
	return s, nil
}

// listPages lists one kind in namespace ("" for all) page by page, each page into a new list
// (each may keep pointers into it), handing each page to each.
func listPages(ctx context.Context, c client.Reader, newList func() client.ObjectList, namespace string, each func(client.ObjectList), opts ...client.ListOption) error {
	cont := ""
	for {
		l := newList()
		o := append([]client.ListOption{client.InNamespace(namespace), client.Limit(500), client.Continue(cont)}, opts...)
		if err := c.List(ctx, l, o...); err != nil {
			return err
		}
		each(l)
		if cont = l.GetContinue(); cont == "" {
			return nil
		}
	}
}

func (s *snapshot) listCustom(ctx context.Context, c client.Reader, gvk schema.GroupVersionKind, namespace string, into *[]item, opts ...client.ListOption) error {
	newList := func() client.ObjectList {
		l := &unstructured.UnstructuredList{}
		l.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		return l
	}
	return listPages(ctx, c, newList, namespace, func(l client.ObjectList) {
		for _, u := range l.(*unstructured.UnstructuredList).Items {
			u.SetGroupVersionKind(gvk) // items of a list may come without apiVersion and kind
			trimUnstructured(&u)
			it, err := newItem(&u)
			if err != nil {
				s.notEncoded(gvk.Kind, &u, err)
				continue
			}
			*into = append(*into, it)
		}
	}, opts...)
}

// notEncoded says that the listed object u could not be encoded, so check does not judge it.
func (s *snapshot) notEncoded(kind string, u *unstructured.Unstructured, err error) {
	s.unencodedMu.Lock()
	defer s.unencodedMu.Unlock()
	s.unencoded = append(s.unencoded, Check{Section: SectionCluster, Object: ref(kind, u.GetNamespace(), u.GetName()),
		Status: StatusError, Message: "cannot be encoded as listed (" + err.Error() + "): not checked",
		Fix: "read it with kubectl get -o json and correct the field it names"})
}

func (s *snapshot) listWebhookConfigurations(ctx context.Context, c client.Reader) error {
	var m admissionregistrationv1.MutatingWebhookConfigurationList
	if err := c.List(ctx, &m); err != nil {
		return fmt.Errorf("listing MutatingWebhookConfigurations: %w", err)
	}
	for _, cfg := range m.Items {
		h := hookConfig{kind: "MutatingWebhookConfiguration", name: cfg.Name, annotations: cfg.Annotations}
		for _, w := range cfg.Webhooks {
			h.hooks = append(h.hooks, hookView{name: w.Name, client: w.ClientConfig, ignore: ignores(w.FailurePolicy), createsPods: createsPods(w.Rules)})
		}
		s.addHookConfig(h)
	}
	var v admissionregistrationv1.ValidatingWebhookConfigurationList
	if err := c.List(ctx, &v); err != nil {
		return fmt.Errorf("listing ValidatingWebhookConfigurations: %w", err)
	}
	for _, cfg := range v.Items {
		h := hookConfig{kind: "ValidatingWebhookConfiguration", name: cfg.Name, annotations: cfg.Annotations}
		for _, w := range cfg.Webhooks {
			h.hooks = append(h.hooks, hookView{name: w.Name, client: w.ClientConfig, ignore: ignores(w.FailurePolicy)})
		}
		s.addHookConfig(h)
	}
	s.listPodPolicies(ctx, c)
	return nil
}

func ignores(p *admissionregistrationv1.FailurePolicyType) bool {
	return p != nil && *p == admissionregistrationv1.Ignore // v1 defaults to Fail
}

// addHookConfig keeps the product's configurations: the one named by --webhook-name, else those
// with a webhook named *.mtls.aigw.io.
func (s *snapshot) addHookConfig(h hookConfig) {
	ours := h.name == s.o.WebhookName
	if s.o.WebhookName == "" {
		ours = slices.ContainsFunc(h.hooks, func(w hookView) bool { return strings.HasSuffix(w.name, WebhookSuffix) })
	}
	if ours {
		s.hooks = append(s.hooks, h)
	}
}

// webhookNamespaces are where the webhook's Service and serving Secret are.
func (s *snapshot) webhookNamespaces() []string {
	var out []string
	if s.o.WebhookNamespace != "" {
		out = append(out, s.o.WebhookNamespace)
	}
	for _, h := range s.hooks {
		if ns, _, ok := strings.Cut(h.annotations[AnnotationInjectCAFrom], "/"); ok {
			out = append(out, ns)
		}
		for _, w := range h.hooks {
			if w.client.Service != nil {
				out = append(out, w.client.Service.Namespace)
			}
		}
	}
	return out
}

// index builds the lookups the validations consult, keyed by kind as the webhook's cache is.
func (s *snapshot) index() {
	s.objs = objects.NewObjectSet("")
	// The Secrets stay typed (their certificates as bytes) and are encoded at each lookup: as JSON
	// besides, they would be held twice, the second time a third larger.
	for _, sec := range s.secrets {
		sec.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		s.objs.AddEncoded("Secret", sec.Namespace, sec.Name, func() []byte {
			raw, _ := json.Marshal(sec)
			return raw
		})
	}
	for _, list := range [][]item{s.policies, s.certificates} {
		for i := range list {
			s.objs.Add("", list[i].raw)
		}
	}
}

// scope is the namespaces to check: the one asked for, else every namespace holding an object
// labelled with the selector.
func (s *snapshot) scope() []string {
	if s.o.Namespace != "" {
		return []string{s.o.Namespace}
	}
	set := map[string]bool{}
	mark := func(m metav1.Object) {
		if s.selected(m.GetLabels()) {
			set[m.GetNamespace()] = true
		}
	}
	for _, sec := range s.secrets {
		mark(sec)
	}
	for i := range s.pods {
		mark(&s.pods[i])
	}
	for i := range s.configMaps {
		mark(&s.configMaps[i])
	}
	for _, list := range [][]item{s.policies, s.vss, s.vsrs, s.certificates, s.btps, s.gateways} {
		for i := range list {
			if s.selected(list[i].labels) {
				set[list[i].namespace] = true
			}
		}
	}
	var out []string
	for ns := range set {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

func (s *snapshot) selected(l map[string]string) bool { return s.o.Settings.Selected(l) }

func (s *snapshot) selector() string {
	return labels.Set{s.o.Settings.SelectorKey: s.o.Settings.SelectorValue}.String()
}

func (s *snapshot) secret(namespace, name string) *corev1.Secret {
	return s.secrets[namespace+"/"+name]
}

func (s *snapshot) service(namespace, name string) *corev1.Service {
	return s.services[namespace+"/"+name]
}

// wasListed reports whether the objects of namespace were listed (with -n, other namespaces are not).
func (s *snapshot) wasListed(namespace string) bool { return s.listed[""] || s.listed[namespace] }

// redactPrivateKeys replaces every private key of a Secret with a marker as soon as it is read:
// check only needs to know a key is there, and key material must never reach its output.
func redactPrivateKeys(sec *corev1.Secret) {
	sec.Annotations = rules.RecordKeyCheckIn(sec.Annotations, sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey])
	for k, v := range sec.Data {
		if len(v) > 0 && (k == corev1.TLSPrivateKeyKey || bytes.Contains(v, []byte("PRIVATE KEY"))) {
			sec.Data[k] = []byte("(redacted)")
		}
	}
}

// rawTyped is the JSON of a built-in object with its apiVersion and kind (list items carry none).
func rawTyped(obj client.Object, apiVersion, kind string) []byte {
	gv, _ := schema.ParseGroupVersion(apiVersion)
	obj.GetObjectKind().SetGroupVersionKind(gv.WithKind(kind))
	raw, _ := json.Marshal(obj)
	return raw
}

func union(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, v := range l {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

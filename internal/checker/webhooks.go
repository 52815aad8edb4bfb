package checker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/certs"
)

// checkWebhooks: the Mutating and Validating webhook configurations exist, every webhook carries a
// caBundle that verifies the certificate the webhook serves, and the webhook answers: a Service
// with ready endpoints, or a URL that completes a TLS handshake. Then which engine wires pods.
func checkWebhooks(s *snapshot) []Check {
	l := newLines(SectionWebhooks, "")
	w := &webhookChecker{s: s, l: l, dials: map[string]dialResult{}}
	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		found := false
		for _, h := range s.hooks {
			if h.kind == kind {
				found = true
				w.check(h)
			}
		}
		if !found {
			w.missing(kind)
		}
	}
	w.checkPodEngine()
	return l.out
}

type webhookChecker struct {
	s     *snapshot
	l     *lines
	dials map[string]dialResult // by host:port: each endpoint is dialled once
}

type dialResult struct {
	chain []*x509.Certificate
	err   error
}

func (w *webhookChecker) missing(kind string) {
	what := map[string]string{
		"MutatingWebhookConfiguration":   "labelled pods, ConfigMaps, VirtualServers and Ingresses are not wired",
		"ValidatingWebhookConfiguration": "EgressMTLS Policies, VirtualServers and Ingresses are not validated",
	}[kind]
	if n := w.s.o.WebhookName; n != "" {
		w.l.fail(ref(kind, "", n), "not found: "+what, "install the chart (helm install aigw-mtls-webhook charts/aigw-mtls-webhook), or correct --webhook-name")
		return
	}
	w.l.fail(kind, fmt.Sprintf("none with a webhook named *%s: %s", WebhookSuffix, what),
		"install the chart (helm install aigw-mtls-webhook charts/aigw-mtls-webhook), or name the configuration with --webhook-name")
}

// target is where a group of webhooks of one configuration send their requests.
type target struct {
	url   *url.URL // a URL clientConfig; nil for a Service clientConfig
	hooks []hookView
}

func (w *webhookChecker) check(h hookConfig) {
	obj := h.ref()
	var names, empty []string
	var targets []*target
	byKey := map[string]*target{}
	for _, hv := range h.hooks {
		names = append(names, hv.name)
		if len(hv.client.CABundle) == 0 {
			empty = append(empty, hv.name)
		}
		key, t, err := targetOf(hv)
		if err != nil {
			w.l.fail(obj, fmt.Sprintf("webhook %s: %v", hv.name, err), "correct its clientConfig")
			continue
		}
		if byKey[key] == nil {
			byKey[key] = t
			targets = append(targets, t)
		}
		byKey[key].hooks = append(byKey[key].hooks, hv)
	}
	w.l.ok(obj, fmt.Sprintf("%d webhook(s): %s", len(h.hooks), strings.Join(names, ", ")))
	if len(empty) > 0 {
		fix := "set clientConfig.caBundle to the CA of the webhook's serving certificate"
		if a := h.annotations[AnnotationInjectCAFrom]; a != "" {
			fix = fmt.Sprintf("cert-manager's cainjector fills it from Certificate %s (annotation %s): check that cainjector runs and that Certificate is Ready", a, AnnotationInjectCAFrom)
		}
		w.l.fail(obj, fmt.Sprintf("no caBundle on webhook(s) %s: the API server cannot verify the webhook and every call fails", strings.Join(empty, ", ")), fix)
	}
	for _, t := range targets {
		if t.url != nil {
			w.checkURL(h, t)
		} else {
			w.checkService(h, t)
		}
	}
}

func targetOf(hv hookView) (string, *target, error) {
	cc := hv.client
	switch {
	case cc.URL != nil:
		u, err := url.Parse(*cc.URL)
		if err != nil || u.Host == "" {
			return "", nil, fmt.Errorf("clientConfig.url %q is not a URL", *cc.URL)
		}
		return u.Scheme + "://" + u.Host, &target{url: u}, nil
	case cc.Service != nil:
		port := int32(443)
		if cc.Service.Port != nil {
			port = *cc.Service.Port
		}
		key := fmt.Sprintf("%s/%s:%d", cc.Service.Namespace, cc.Service.Name, port)
		return key, &target{}, nil
	}
	return "", nil, errors.New("clientConfig has neither url nor service")
}

// consequence says what the API server does with labelled objects while t cannot be called.
func (t *target) consequence() string {
	for _, hv := range t.hooks {
		if !hv.ignore {
			return "the API server refuses the labelled objects these webhooks receive (failurePolicy Fail)"
		}
	}
	return "the API server admits labelled objects without the webhook (failurePolicy Ignore): they are not wired or checked"
}

// bundles returns the distinct non-empty caBundles of t's webhooks, with the webhooks using each.
func (t *target) bundles() (order []string, users map[string][]string) {
	users = map[string][]string{}
	for _, hv := range t.hooks {
		b := string(hv.client.CABundle)
		if b == "" {
			continue
		}
		if users[b] == nil {
			order = append(order, b)
		}
		users[b] = append(users[b], hv.name)
	}
	return order, users
}

// checkURL dials a URL clientConfig and verifies what it serves against each caBundle, as the API
// server would (Go's verifier, the URL's host as the name).
func (w *webhookChecker) checkURL(h hookConfig, t *target) {
	obj := h.ref()
	hostport := t.url.Host
	if t.url.Port() == "" {
		hostport = net.JoinHostPort(t.url.Hostname(), "443")
	}
	where := t.url.Scheme + "://" + t.url.Host
	d, ok := w.dials[hostport]
	if !ok {
		d = w.dial(hostport, t.url.Hostname())
		w.dials[hostport] = d
	}
	if d.err != nil {
		w.l.fail(obj, fmt.Sprintf("%s does not answer TLS (%v): %s", where, d.err, t.consequence()),
			"start the webhook (aigw-mtls-webhook serve), or correct clientConfig.url")
		return
	}
	w.l.ok(obj, where+" answers TLS")
	w.verifyBundles(obj, t, d.chain, t.url.Hostname(), "served at "+where)
}

func (w *webhookChecker) dial(hostport, serverName string) dialResult {
	cfg := &tls.Config{
		// The chain is verified below against each caBundle, as the API server does; the
		// handshake itself only fetches it.
		InsecureSkipVerify: true, //nolint:gosec
		MinVersion:         tls.VersionTLS12,
	}
	if net.ParseIP(serverName) == nil {
		cfg.ServerName = serverName
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: w.s.o.DialTimeout}, "tcp", hostport, cfg)
	if err != nil {
		return dialResult{err: err}
	}
	defer conn.Close()
	return dialResult{chain: conn.ConnectionState().PeerCertificates}
}

// verifyBundles checks that each caBundle of t verifies chain for host.
func (w *webhookChecker) verifyBundles(obj string, t *target, chain []*x509.Certificate, host, where string) {
	order, users := t.bundles()
	for _, b := range order {
		hooks := strings.Join(users[b], ", ")
		if err := verifyChain([]byte(b), chain, host, w.s); err != nil {
			w.l.fail(obj, fmt.Sprintf("the caBundle of webhook(s) %s does not verify the serving certificate %s (%s, issued by %s): %v; %s",
				hooks, where, certs.Subject(chain[0]), issuer(chain[0]), err, t.consequence()),
				fmt.Sprintf("set clientConfig.caBundle to the CA that issues the serving certificate (with cert-manager: annotation %s: <namespace>/<serving Certificate>, filled by cainjector)", AnnotationInjectCAFrom))
			continue
		}
		w.l.ok(obj, fmt.Sprintf("caBundle verifies the serving certificate %s (%s, %s)", where, certs.Subject(chain[0]), certs.DaysLeft(chain[0], w.s.o.Now)))
	}
}

func verifyChain(bundle []byte, chain []*x509.Certificate, host string, s *snapshot) error {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundle) {
		return errors.New("the caBundle holds no PEM certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: host, CurrentTime: s.o.Now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err
}

func issuer(c *x509.Certificate) string {
	if c.Issuer.CommonName != "" {
		return "CN=" + c.Issuer.CommonName
	}
	return c.Issuer.String()
}

// checkService verifies each caBundle against the serving certificate in the cluster (the Secret
// of the Certificate cainjector injects from) and checks the Service has ready endpoints.
func (w *webhookChecker) checkService(h hookConfig, t *target) {
	obj := h.ref()
	svc := t.hooks[0].client.Service
	host := svc.Name + "." + svc.Namespace + ".svc" // the name the API server verifies
	chain, source, problem := w.servingCertificate(h, svc.Namespace, host)
	switch {
	case problem != nil:
		w.l.add(obj, problem.Status, problem.Message, problem.Fix)
	default:
		w.verifyBundles(obj, t, chain, host, "in "+source)
	}
	w.checkEndpoints(obj, svc.Namespace, svc.Name, t)
}

// servingCertificate finds the webhook's serving certificate: the Secret of the Certificate named
// by annotation cert-manager.io/inject-ca-from, else a kubernetes.io/tls Secret in the webhook's
// namespace whose certificate covers host.
func (w *webhookChecker) servingCertificate(h hookConfig, svcNamespace, host string) ([]*x509.Certificate, string, *Check) {
	s := w.s
	if a := h.annotations[AnnotationInjectCAFrom]; a != "" {
		ns, name, _ := strings.Cut(a, "/")
		var secretName string
		for i := range s.certificates {
			if c := &s.certificates[i]; c.namespace == ns && c.name == name {
				secretName, _, _ = unstructured.NestedString(c.obj().Object, "spec", "secretName")
			}
		}
		if secretName == "" {
			return nil, "", &Check{Status: StatusError, Message: fmt.Sprintf("annotation %s names Certificate %s, which does not exist: cainjector cannot fill the caBundle", AnnotationInjectCAFrom, a),
				Fix: "correct the annotation, or create the serving Certificate"}
		}
		sec := s.secret(ns, secretName)
		if sec == nil {
			return nil, "", &Check{Status: StatusError, Message: fmt.Sprintf("the serving Certificate %s has not been issued: Secret %s/%s does not exist", a, ns, secretName),
				Fix: "check the Certificate's status (kubectl describe certificate) and cert-manager's logs"}
		}
		chain, err := secretCertificates(sec, corev1.TLSCertKey)
		if err != nil {
			return nil, "", &Check{Status: StatusError, Message: fmt.Sprintf("serving Secret %s/%s: tls.crt: %v", ns, secretName, err), Fix: "re-issue the serving Certificate"}
		}
		return chain, fmt.Sprintf("Secret %s/%s", ns, secretName), nil
	}
	ns := s.o.WebhookNamespace
	if ns == "" {
		ns = svcNamespace
	}
	for key, sec := range s.secrets {
		if !strings.HasPrefix(key, ns+"/") || sec.Type != corev1.SecretTypeTLS {
			continue
		}
		chain, err := secretCertificates(sec, corev1.TLSCertKey)
		if err == nil && chain[0].VerifyHostname(host) == nil {
			return chain, fmt.Sprintf("Secret %s/%s", ns, sec.Name), nil
		}
	}
	return nil, "", &Check{Status: StatusWarning,
		Message: fmt.Sprintf("serving certificate not found (no annotation %s, no kubernetes.io/tls Secret for %s in namespace %s): the caBundle is not verified", AnnotationInjectCAFrom, host, ns),
		Fix:     fmt.Sprintf("annotate the configuration %s: <namespace>/<serving Certificate>, or pass --webhook-namespace", AnnotationInjectCAFrom)}
}

// checkEndpoints: the webhook's Service exists, has the port, and has ready endpoints.
func (w *webhookChecker) checkEndpoints(obj, ns, name string, t *target) {
	svc := w.s.service(ns, name)
	port := int32(443)
	if p := t.hooks[0].client.Service.Port; p != nil {
		port = *p
	}
	if svc == nil {
		w.l.fail(obj, fmt.Sprintf("points at Service %s/%s, which does not exist: every call fails", ns, name), "install the webhook's Service, or correct clientConfig.service")
		return
	}
	hasPort := false
	for _, p := range svc.Spec.Ports {
		hasPort = hasPort || p.Port == port
	}
	if !hasPort {
		w.l.fail(obj, fmt.Sprintf("points at port %d of Service %s/%s, which has no such port", port, ns, name), "correct clientConfig.service.port or the Service's ports")
		return
	}
	ready := 0
	for i := range w.s.slices {
		es := &w.s.slices[i]
		if es.Namespace != ns || es.Labels[discoveryv1.LabelServiceName] != name {
			continue
		}
		for _, e := range es.Endpoints {
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				ready += len(e.Addresses)
			}
		}
	}
	if ready == 0 {
		w.l.fail(obj, fmt.Sprintf("Service %s/%s has no ready endpoint: %s", ns, name, t.consequence()),
			fmt.Sprintf("kubectl -n %s get pods for the webhook: check its readiness (/readyz) and logs", ns))
		return
	}
	w.l.ok(obj, fmt.Sprintf("Service %s/%s:%d has %d ready endpoint(s)", ns, name, port, ready))
}

package nginx_test

// The Gateway API table: the same proof as TestEgressMTLSAgainstNginx for NGINX Gateway Fabric
// (NGF v2.6.7). For each variant a model of NGF's own decision (ngfDecide) says whether NGF accepts
// the BackendTLSPolicy and resolves the Gateway's client certificate; nginx then gets the
// directives NGF renders:
//
//   - a valid BackendTLSPolicy, in the location (internal/controller/nginx/config/servers_template.go,
//     the ProxySSLVerify block; servers.go createProxySSLVerify): proxy_ssl_server_name on;
//     proxy_ssl_verify on; proxy_ssl_verify_depth 4; proxy_ssl_name <hostname>;
//     proxy_ssl_trusted_certificate <the CA's ca.crt>; and https:// upstreams (generateProtocolString);
//   - an invalid one: the backendRef is invalid (internal/controller/state/graph/backend_refs.go
//     findBackendTLSPolicyForService, createBackendRef), so the location proxies to the upstream
//     invalid-backend-ref (nginx/config/split_clients.go backendGroupName), whose one server is
//     unix:/var/run/nginx/nginx-500-server.sock (upstreams.go createInvalidBackendRefUpstream),
//     a server of NGF's own that returns 500 (servers_template.go): the route answers 500;
//   - none: no policy names the Service port the route sends to (findBackendTLSPolicyForService
//     matches targets by name and sectionName), or the one that wins there has no target of kind
//     Service and so no Gateway (backend_tls_policy.go collectOrderedGateways;
//     dataplane/configuration.go convertBackendTLS): proxy_pass http://, plain HTTP to aigw, which
//     answers 400;
//   - the Gateway's resolved client certificate (base_http_config_template.go): proxy_ssl_certificate
//     and proxy_ssl_certificate_key at http level, one file holding certificate and key. One NGF
//     nginx serves one Gateway, so here each variant's server block holds them.
//
// Every configuration the rules accept must carry a request to the mTLS server; every one they
// refuse must fail there.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	k8svalidation "k8s.io/apimachinery/pkg/util/validation"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/tools"
)

// ngfSetup is one variant as it is in the cluster.
type ngfSetup struct {
	hostname        string
	subjectAltNames []string
	caKind          string // ConfigMap (default) or Secret
	caSecretType    string // for caKind Secret
	caPEM           []byte // ca.crt of the referenced CA object
	serverChain     []*cert
	clientChain     []*cert // nil: the Gateway has no clientCertificateRef
	clientType      string  // type of the client Secret (default kubernetes.io/tls)
	caBase64        bool    // the ConfigMap's ca.crt holds the base64 of caPEM
	targets         []ngfTarget
	older           []ngfTarget // targets of an older BackendTLSPolicy (nil: none), validation as ours
	routePorts      []int32     // ports of Service aigw (https 443, metrics 9090) the HTTPRoute sends to
}

type ngfTarget struct {
	group, kind, name, sectionName string
}

var aigwServiceTarget = ngfTarget{kind: "Service", name: "aigw"}

type ngfVariant struct {
	name  string
	build func(f *fixtures) ngfSetup
	ngf   bool // NGF accepts the BackendTLSPolicy (else the route answers 500: invalid-backend-ref)
	plain bool // NGF renders no TLS for the route: nginx speaks plain HTTP to aigw
	ok    bool // a request through nginx reaches aigw over mTLS
}

func ngfVariants() []ngfVariant {
	seed := func(f *fixtures) ngfSetup {
		return ngfSetup{hostname: aigwHost, caPEM: pemChain(f.root), serverChain: []*cert{f.serverCert(certSpec{}, f.root)}, clientChain: []*cert{f.client},
			targets: []ngfTarget{aigwServiceTarget}, routePorts: []int32{443}}
	}
	with := func(edit func(f *fixtures, s *ngfSetup)) func(f *fixtures) ngfSetup {
		return func(f *fixtures) ngfSetup { s := seed(f); edit(f, &s); return s }
	}
	return []ngfVariant{
		{name: "seed: ConfigMap CA, hostname the SAN", build: seed, ngf: true, ok: true},
		{name: "hostname not in the certificate", build: with(func(_ *fixtures, s *ngfSetup) { s.hostname = "aigw.example.com" }), ngf: true},
		{name: "hostname the Service's short name", build: with(func(_ *fixtures, s *ngfSetup) { s.hostname = "aigw" }), ngf: true},
		{name: "hostname upper case", build: with(func(_ *fixtures, s *ngfSetup) { s.hostname = "AIGW.ai-gateway.svc.cluster.local" })},
		{name: "subjectAltNames beside a matching hostname", build: with(func(_ *fixtures, s *ngfSetup) {
			s.subjectAltNames = []string{"aigw.ai-gateway.svc"}
		}), ngf: true, ok: true},
		{name: "subjectAltNames match, hostname does not", build: with(func(_ *fixtures, s *ngfSetup) {
			s.hostname = "aigw.example.com"
			s.subjectAltNames = []string{aigwHost}
		}), ngf: true},
		{name: "wildcard server certificate", build: with(func(f *fixtures, s *ngfSetup) {
			s.serverChain = []*cert{f.serverCert(certSpec{cn: "aigw", dns: []string{"*.ai-gateway.svc.cluster.local"}}, f.root)}
		}), ngf: true, ok: true},
		{name: "CA of another issuer", build: with(func(f *fixtures, s *ngfSetup) { s.caPEM = pemChain(f.other) }), ngf: true},
		{name: "server certificate from another CA", build: with(func(f *fixtures, s *ngfSetup) {
			s.serverChain = []*cert{f.serverCert(certSpec{}, f.other)}
		}), ngf: true},
		{name: "two intermediates within depth 4", build: with(func(f *fixtures, s *ngfSetup) {
			s.serverChain = []*cert{f.serverCert(certSpec{}, f.inter2), f.inter2, f.inter}
		}), ngf: true, ok: true},
		{name: "CA bundle without the root", build: with(func(f *fixtures, s *ngfSetup) {
			s.caPEM = pemChain(f.inter)
			s.serverChain = []*cert{f.serverCert(certSpec{}, f.inter), f.inter}
		}), ngf: true},
		{name: "CA bundle with a CRL first", build: with(func(f *fixtures, s *ngfSetup) { s.caPEM = append(pemCRL(f.t, f.now, f.root), pemChain(f.root)...) })},
		{name: "CA in a kubernetes.io/tls Secret", build: with(func(_ *fixtures, s *ngfSetup) { s.caKind, s.caSecretType = "Secret", "kubernetes.io/tls" }), ngf: true, ok: true},
		{name: "CA in NIC's nginx.org/ca Secret", build: with(func(_ *fixtures, s *ngfSetup) { s.caKind, s.caSecretType = "Secret", "nginx.org/ca" })},
		{name: "server certificate expired", build: with(func(f *fixtures, s *ngfSetup) {
			s.serverChain = []*cert{f.serverCert(certSpec{notBefore: f.now.Add(-48 * time.Hour), notAfter: f.now.Add(-time.Hour)}, f.root)}
		}), ngf: true},
		{name: "server certificate without server auth", build: with(func(f *fixtures, s *ngfSetup) {
			s.serverChain = []*cert{f.serverCert(certSpec{eku: clientAuth}, f.root)}
		}), ngf: true},
		{name: "Gateway without a client certificate", build: with(func(_ *fixtures, s *ngfSetup) { s.clientChain = nil }), ngf: true},
		{name: "client certificate from another CA", build: with(func(f *fixtures, s *ngfSetup) {
			s.clientChain = []*cert{f.clientCert(certSpec{}, f.other)}
		}), ngf: true},
		{name: "client certificate without client auth", build: with(func(f *fixtures, s *ngfSetup) {
			s.clientChain = []*cert{f.clientCert(certSpec{eku: serverAuth}, f.root)}
		}), ngf: true},
		{name: "client certificate in an Opaque Secret", build: with(func(_ *fixtures, s *ngfSetup) { s.clientType = "Opaque" }), ngf: true},
		{name: "older policy targets the Deployment aigw", build: with(func(_ *fixtures, s *ngfSetup) {
			s.older = []ngfTarget{{group: "apps", kind: "Deployment", name: "aigw"}}
		}), ngf: true, plain: true},
		{name: "older policy on metrics, route on https", build: with(func(_ *fixtures, s *ngfSetup) {
			s.older = []ngfTarget{{kind: "Service", name: "aigw", sectionName: "metrics"}}
		}), ngf: true, ok: true},
		{name: "target group apps on kind Service", build: with(func(_ *fixtures, s *ngfSetup) {
			s.targets = []ngfTarget{{group: "apps", kind: "Service", name: "aigw"}}
		}), ngf: true, ok: true},
		{name: "sectionName a port no route uses", build: with(func(_ *fixtures, s *ngfSetup) {
			s.targets = []ngfTarget{{kind: "Service", name: "aigw", sectionName: "metrics"}}
		}), ngf: true, plain: true},
		{name: "sectionName the port the route uses", build: with(func(_ *fixtures, s *ngfSetup) {
			s.targets = []ngfTarget{{kind: "Service", name: "aigw", sectionName: "https"}}
		}), ngf: true, ok: true},
		{name: "ca.crt the base64 of the PEM", build: with(func(_ *fixtures, s *ngfSetup) { s.caBase64 = true }), ngf: true, ok: true},
	}
}

// ngfDecision is the model of what NGF does with the variant's objects.
type ngfDecision struct {
	policyValid bool   // validateBackendTLSPolicy
	plain       bool   // no valid policy with a Service target wins the port the route uses
	clientCert  bool   // validateGatewayTLSBackend resolved the Secret
	why         string // why the policy is invalid
}

// ngfDecide follows NGF v2.6.7: internal/controller/state/graph/backend_tls_policy.go
// validateBackendTLSPolicy (validateHostname, one CA reference of kind ConfigMap or Secret) and
// internal/controller/state/resolver (configmaps.go: ca.crt that shared/secrets ValidateCA accepts;
// secrets.go: kubernetes.io/tls only, ValidateTLS, and ValidateCA on ca.crt when present); the
// Gateway's client certificate resolves like any Secret (graph/gateway.go validateGatewayTLSBackend).
func ngfDecide(s ngfSetup, caData map[string][]byte, clientData map[string][]byte) ngfDecision {
	d := ngfDecision{policyValid: true}
	validCA := func(b []byte) bool {
		b = ngfCAData(b)
		block, _ := pem.Decode(b)
		if block == nil || block.Type != "CERTIFICATE" {
			return false
		}
		_, err := x509.ParseCertificate(block.Bytes)
		return err == nil
	}
	if msgs := k8svalidation.IsDNS1123Subdomain(s.hostname); len(msgs) > 0 {
		d.policyValid, d.why = false, "invalid hostname"
	}
	switch {
	case s.caKind == "ConfigMap" && !validCA(caData["ca.crt"]):
		d.policyValid, d.why = false, "ConfigMap ca.crt is no CERTIFICATE"
	case s.caKind == "Secret" && s.caSecretType != "kubernetes.io/tls":
		d.policyValid, d.why = false, "unsupported secret type "+s.caSecretType
	case s.caKind == "Secret":
		if _, err := tls.X509KeyPair(caData["tls.crt"], caData["tls.key"]); err != nil {
			d.policyValid, d.why = false, "ValidateTLS: "+err.Error()
		} else if ca, ok := caData["ca.crt"]; ok && !validCA(ca) {
			d.policyValid, d.why = false, "Secret ca.crt is no CERTIFICATE"
		}
	}
	d.plain = !ngfWinnerHasTLS(s)
	if clientData != nil && s.clientType == "kubernetes.io/tls" {
		_, err := tls.X509KeyPair(clientData["tls.crt"], clientData["tls.key"])
		d.clientCert = err == nil
	}
	return d
}

// ngfCAData is what shared/secrets ValidateCA checks and dataplane getCertRefBundleData hands
// nginx: ca.crt decoded from base64 when it decodes, else as it is.
func ngfCAData(b []byte) []byte {
	if d, err := base64.StdEncoding.DecodeString(string(b)); err == nil {
		return d
	}
	return b
}

// ngfWinnerHasTLS follows graph/backend_refs.go findBackendTLSPolicyForService for the https port
// of Service aigw, the port the first route sends to: of the policies with a target named aigw
// (any kind) whose sectionName is unset or that port's name, the oldest wins (the older policy
// here is older by creationTimestamp). NGF renders its TLS only when it has a target of kind
// Service (collectOrderedGateways gives it the Gateway; convertBackendTLS needs one). Both
// policies carry the same valid validation, so only the targets decide.
func ngfWinnerHasTLS(s ngfSetup) bool {
	applies := func(ts []ngfTarget) bool {
		for _, t := range ts {
			if t.name == "aigw" && (t.sectionName == "" || t.sectionName == "https") {
				return true
			}
		}
		return false
	}
	hasService := func(ts []ngfTarget) bool {
		for _, t := range ts {
			if t.kind == "Service" {
				return true
			}
		}
		return false
	}
	switch {
	case applies(s.older):
		return hasService(s.older)
	case applies(s.targets):
		return hasService(s.targets)
	}
	return false
}

// ngfProxySSLVerify is what NGF v2.6.7 renders in the location of a backend with a valid
// BackendTLSPolicy (internal/controller/nginx/config/servers_template.go, the ProxySSLVerify
// block; servers.go createProxySSLVerify): SNI and host check hostname, the CA bundle trusted.
func ngfProxySSLVerify(hostname, bundle string) []string {
	return []string{"proxy_ssl_server_name on;", "proxy_ssl_verify on;", "proxy_ssl_verify_depth 4;",
		"proxy_ssl_name " + hostname + ";", "proxy_ssl_trusted_certificate " + bundle + ";"}
}

// ngfInvalidBackendRef is the upstream NGF v2.6.7 renders for an invalid backendRef
// (nginx/config/upstreams.go invalidBackendRef); its server, a unix socket, is NGF's nginx-500
// server (servers_template.go: listen unix:/var/run/nginx/nginx-500-server.sock; return 500).
const ngfInvalidBackendRef = "invalid-backend-ref"

// ngfInvalidBackendConf is that upstream and its server, with the socket in dir.
func ngfInvalidBackendConf(dir string) string {
	sock := filepath.Join(dir, "nginx-500-server.sock")
	return fmt.Sprintf(`
    upstream %[1]s {
        server unix:%[2]s;
    }
    server {
        listen unix:%[2]s;
        access_log off;

        return 500;
    }
`, ngfInvalidBackendRef, sock)
}

// ngfRun is one variant wired up.
type ngfRun struct {
	v        ngfVariant
	s        ngfSetup
	slug     string
	d        ngfDecision
	objects  [][]byte
	btp, gw  []byte
	locDirs  []string
	srvDirs  []string
	upstream string
	aigwAddr string
	aigwErrs *syncBuffer
	port     int
	ok       bool
	status   int
	body     string
}

func prepareNGF(t *testing.T, f *fixtures, v ngfVariant, i int, dir string) *ngfRun {
	s := v.build(f)
	if s.caKind == "" {
		s.caKind = "ConfigMap"
	}
	if s.clientType == "" {
		s.clientType = "kubernetes.io/tls"
	}
	slug := fmt.Sprintf("g%02d-%s", i, strings.Trim(nonSlug.ReplaceAllString(v.name, "-"), "-"))
	r := &ngfRun{v: v, s: s, slug: slug, upstream: "ai-gateway_aigw_" + slug}
	serverCrt, serverKey := pemChain(s.serverChain...), pemKey(t, s.serverChain[0])

	// The objects of namespace ai-gateway. internal-ca (nginx.org/ca, the CA sync's) is what aigw
	// trusts for clients; the BackendTLSPolicy references a ConfigMap or a Secret named ngf-ca.
	r.objects = [][]byte{
		secretJSON(caSecret, "nginx.org/ca", map[string][]byte{"ca.crt": pemChain(f.root)}),
		secretJSON(serverSecret, "kubernetes.io/tls", map[string][]byte{"tls.crt": serverCrt, "tls.key": serverKey, "ca.crt": pemChain(chainRoot(f, s.serverChain))}),
	}
	var caData map[string][]byte
	if s.caKind == "ConfigMap" {
		caData = map[string][]byte{"ca.crt": s.caPEM}
		if s.caBase64 {
			caData["ca.crt"] = []byte(base64.StdEncoding.EncodeToString(s.caPEM))
		}
		raw, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "ngf-ca", "namespace": namespace}, "data": map[string]string{"ca.crt": string(caData["ca.crt"])}})
		r.objects = append(r.objects, raw)
	} else {
		caData = map[string][]byte{"ca.crt": s.caPEM}
		if s.caSecretType == "kubernetes.io/tls" {
			// cert-manager's CA Secret: the CA certificate and its key, the CA in ca.crt too.
			caData["tls.crt"], caData["tls.key"] = pemChain(f.root), pemKey(t, f.root)
		}
		r.objects = append(r.objects, secretJSON("ngf-ca", s.caSecretType, caData))
	}
	var clientData map[string][]byte
	if s.clientChain != nil {
		clientData = map[string][]byte{"tls.crt": pemChain(s.clientChain...), "tls.key": pemKey(t, s.clientChain[0])}
		r.objects = append(r.objects, secretJSON(clientSecret, s.clientType, clientData))
	}
	r.btp = backendTLSPolicyJSON(s, "aigw-mtls", s.targets, f.now)
	r.gw = gatewayJSON(s)
	r.objects = append(r.objects, r.btp, r.gw, serviceJSON(), httpRouteJSON(s.routePorts))
	if s.older != nil {
		r.objects = append(r.objects, backendTLSPolicyJSON(s, "aigw-legacy", s.older, f.now.Add(-time.Hour)))
	}

	r.d = ngfDecide(s, caData, clientData)
	switch {
	case r.d.policyValid && r.d.plain:
		r.locDirs = []string{"proxy_http_version 1.1;", "proxy_pass http://" + r.upstream + ";"}
	case r.d.policyValid:
		bundle := filepath.Join(dir, slug+"-ca.crt")
		writeFile(t, bundle, ngfCAData(caData["ca.crt"]))
		r.locDirs = append(ngfProxySSLVerify(s.hostname, bundle), "proxy_http_version 1.1;", "proxy_pass https://"+r.upstream+";")
	default:
		r.locDirs = []string{"proxy_http_version 1.1;", "proxy_pass http://" + ngfInvalidBackendRef + ";"}
	}
	if r.d.clientCert {
		pemFile := filepath.Join(dir, slug+"-gateway.pem")
		writeFile(t, pemFile, append(append([]byte{}, clientData["tls.crt"]...), clientData["tls.key"]...))
		r.srvDirs = []string{"proxy_ssl_certificate " + pemFile + ";", "proxy_ssl_certificate_key " + pemFile + ";"}
	}

	// The aigw side: serves the server chain, requires a client certificate issued by internal-ca.
	kp, err := tls.X509KeyPair(serverCrt, serverKey)
	if err != nil {
		t.Fatalf("%s: server key pair: %v", v.name, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(f.root.x509)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.aigwAddr = ln.Addr().String()
	r.aigwErrs = &syncBuffer{}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.TLS == nil || len(req.TLS.VerifiedChains) == 0 {
				http.Error(w, "no verified client certificate", http.StatusForbidden)
				return
			}
			fmt.Fprintf(w, "%s: %s", okBody, req.TLS.VerifiedChains[0][0].Subject.CommonName)
		}),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{kp}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12},
		ErrorLog:          log.New(r.aigwErrs, "", 0),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	r.port = freePort(t)
	return r
}

func backendTLSPolicyJSON(s ngfSetup, name string, targets []ngfTarget, created time.Time) []byte {
	v := map[string]any{
		"hostname":          s.hostname,
		"caCertificateRefs": []any{map[string]any{"group": "", "kind": s.caKind, "name": "ngf-ca"}},
	}
	if len(s.subjectAltNames) > 0 {
		var sans []any
		for _, n := range s.subjectAltNames {
			sans = append(sans, map[string]any{"type": "Hostname", "hostname": n})
		}
		v["subjectAltNames"] = sans
	}
	var refs []any
	for _, t := range targets {
		ref := map[string]any{"group": t.group, "kind": t.kind, "name": t.name}
		if t.sectionName != "" {
			ref["sectionName"] = t.sectionName
		}
		refs = append(refs, ref)
	}
	meta := map[string]any{"name": name, "namespace": namespace, "creationTimestamp": created.UTC().Format(time.RFC3339)}
	if name == "aigw-mtls" {
		meta["labels"] = selectorLabels
	}
	raw, _ := json.Marshal(map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
		"metadata": meta,
		"spec":     map[string]any{"targetRefs": refs, "validation": v},
	})
	return raw
}

// serviceJSON is Service aigw: https (443) for the API, metrics (9090).
func serviceJSON() []byte {
	raw, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "aigw", "namespace": namespace},
		"spec": map[string]any{"ports": []any{
			map[string]any{"name": "https", "port": 443, "targetPort": 8443},
			map[string]any{"name": "metrics", "port": 9090, "targetPort": 9090},
		}}})
	return raw
}

// httpRouteJSON is the HTTPRoute from the Gateway to Service aigw, one rule per port.
func httpRouteJSON(ports []int32) []byte {
	var rules []any
	for _, p := range ports {
		rules = append(rules, map[string]any{"backendRefs": []any{map[string]any{"name": "aigw", "port": p}}})
	}
	raw, _ := json.Marshal(map[string]any{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{"name": "ai", "namespace": namespace},
		"spec":     map[string]any{"parentRefs": []any{map[string]any{"name": "aigw"}}, "rules": rules}})
	return raw
}

func gatewayJSON(s ngfSetup) []byte {
	spec := map[string]any{"gatewayClassName": "nginx", "listeners": []any{map[string]any{"name": "http", "port": 80, "protocol": "HTTP"}}}
	if s.clientChain != nil {
		spec["tls"] = map[string]any{"backend": map[string]any{"clientCertificateRef": map[string]any{"name": clientSecret}}}
	}
	raw, _ := json.Marshal(map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
		"metadata": map[string]any{"name": "aigw", "namespace": namespace, "labels": selectorLabels},
		"spec":     spec,
	})
	return raw
}

// validateNGF runs the webhook's rules on the BackendTLSPolicy and the Gateway, with the objects
// as `validate -f` is given them: Secrets as the webhook's cache holds them, and the Service and
// HTTPRoute the port rules read.
func validateNGF(r *ngfRun, now time.Time) (validation, error) {
	objs := objects.NewObjectSet(namespace)
	for _, raw := range r.objects {
		objs.Add(namespace, cached(raw))
	}
	s := aigw.DefaultSettings()
	fs, err := rules.BackendTLSPolicy(r.btp, namespace, s, objs, now)
	if err != nil {
		return validation{}, err
	}
	gfs, err := rules.Gateway(r.gw, namespace, s, objs, now)
	if err != nil {
		return validation{}, err
	}
	all := append(fs, gfs...)
	return validation{conflicts: all.Errors(), warnings: all.Warnings()}, nil
}

func writeNGFConf(t *testing.T, dir string, runs []*ngfRun) string {
	var b strings.Builder
	if os.Geteuid() == 0 {
		b.WriteString("user root;\n")
	}
	fmt.Fprintf(&b, `worker_processes 1;
error_log %[1]s/error.log info;
events { worker_connections 512; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/tmp/client_body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
`, dir)
	b.WriteString(ngfInvalidBackendConf(dir))
	for _, r := range runs {
		fmt.Fprintf(&b, `
    # %[1]s
    upstream %[2]s {
        server %[3]s;
    }
    server {
        listen 127.0.0.1:%[4]d;
        server_name _;
%[5]s        location / {
            proxy_connect_timeout 5s;
            proxy_read_timeout 5s;
%[6]s        }
    }
`, r.v.name, r.upstream, r.aigwAddr, r.port, indent(strings.Join(r.srvDirs, "\n")+"\n", "        "), indent(strings.Join(r.locDirs, "\n")+"\n", "            "))
	}
	b.WriteString("}\n")
	path := filepath.Join(dir, "nginx.conf")
	writeFile(t, path, []byte(b.String()))
	return path
}

func TestBackendTLSPolicyAgainstNginx(t *testing.T) {
	bin := tools.Nginx.Need(t)
	now := time.Now()
	f := newFixtures(t, now)
	// Short: the 500 server's unix socket lives here, and a socket path has at most 107 bytes.
	dir, err := os.MkdirTemp("", "ngf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	vs := ngfVariants()
	runs := make([]*ngfRun, len(vs))
	for i, v := range vs {
		runs[i] = prepareNGF(t, f, v, i, dir)
	}
	var stop func()
	for attempt := 1; ; attempt++ {
		conf := writeNGFConf(t, dir, runs)
		if out, err := nginxT(bin, dir, conf); err != nil {
			t.Fatalf("nginx -t: %v\n%s", err, out)
		}
		var err error
		releasePorts()
		if stop, err = startNginx(bin, dir, conf); err == nil {
			break
		} else if attempt == 3 {
			t.Fatal(err)
		}
		for _, r := range runs {
			r.port = freePort(t)
		}
	}
	t.Cleanup(stop)

	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 15 * time.Second}
			resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/%s", r.port, r.slug))
			if err != nil {
				r.body = err.Error()
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			r.status, r.body = resp.StatusCode, string(body)
			r.ok = resp.StatusCode == http.StatusOK && strings.HasPrefix(r.body, okBody)
		}()
	}
	wg.Wait()
	stop()
	errorLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))

	table := &strings.Builder{}
	fmt.Fprintf(table, "\n%-46s %-7s %-4s %-9s %s\n", "variant", "NGF", "end", "validator", "nginx || first refusal")
	for _, r := range runs {
		fail := func(format string, args ...any) {
			t.Errorf("%s: "+format+"\nBackendTLSPolicy: %s\nGateway: %s\nlocation: %q server: %q", append(append([]any{r.v.name}, args...), r.btp, r.gw, r.locDirs, r.srvDirs)...)
		}
		if r.d.policyValid != r.v.ngf {
			fail("NGF model: policy valid %v (%s), the table pins %v", r.d.policyValid, r.d.why, r.v.ngf)
		}
		if r.d.plain != r.v.plain {
			fail("NGF model: plain HTTP %v, the table pins %v", r.d.plain, r.v.plain)
		}
		if r.v.plain && (r.status != http.StatusBadRequest || !strings.Contains(r.body, "HTTP request to an HTTPS server")) {
			fail("plain HTTP to aigw: status %d %q, expected aigw's 400 to plain HTTP", r.status, r.body)
		}
		if !r.v.ngf && r.status != http.StatusInternalServerError {
			fail("invalid policy: status %d %q, expected the 500 of NGF's invalid-backend-ref", r.status, r.body)
		}
		if r.ok != r.v.ok {
			fail("end outcome ok=%v (status %d, %q), the table pins ok=%v (NGF model or nginx changed?)", r.ok, r.status, r.body, r.v.ok)
		}
		res, err := validateNGF(r, now)
		if err != nil {
			fail("validator error: %v", err)
			continue
		}
		verdict := "accepted"
		if len(res.conflicts) > 0 {
			verdict = "refused"
		}
		switch {
		case verdict == "accepted" && !r.ok:
			fail("validator ACCEPTS a configuration that fails (status %d): warnings %q", r.status, res.warnings)
		case verdict == "refused" && r.ok:
			fail("validator REFUSES a configuration that works: %s", strings.Join(res.conflicts, " | "))
		}
		if verdict == "accepted" && len(res.warnings) > 0 {
			verdict = fmt.Sprintf("warned(%d)", len(res.warnings))
		}
		ngf := "valid"
		switch {
		case !r.d.policyValid:
			ngf = "invalid"
		case r.d.plain:
			ngf = "no TLS"
		}
		detail := fmt.Sprint(r.status)
		if l := logLinesFor(errorLog, "/"+r.slug); len(l) > 0 {
			detail += " " + l[0]
		}
		if len(res.conflicts) > 0 {
			detail += " || " + res.conflicts[0]
		}
		fmt.Fprintf(table, "%-46s %-7s %-4s %-9s %s\n", r.v.name, ngf, okFail(r.ok), verdict, detail)
	}
	t.Log(table.String())
}

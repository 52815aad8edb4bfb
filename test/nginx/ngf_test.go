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
//     findBackendTLSPolicyForService), the route answers 500;
//   - the Gateway's resolved client certificate (base_http_config_template.go): proxy_ssl_certificate
//     and proxy_ssl_certificate_key at http level, one file holding certificate and key. One NGF
//     nginx serves one Gateway, so here each variant's server block holds them.
//
// Every configuration the rules accept must carry a request to the mTLS server; every one they
// refuse must fail there.

import (
	"crypto/tls"
	"crypto/x509"
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
}

type ngfVariant struct {
	name  string
	build func(f *fixtures) ngfSetup
	ngf   bool // NGF accepts the BackendTLSPolicy (else the route answers 500)
	ok    bool // a request through nginx reaches aigw over mTLS
}

func ngfVariants() []ngfVariant {
	seed := func(f *fixtures) ngfSetup {
		return ngfSetup{hostname: aigwHost, caPEM: pemChain(f.root), serverChain: []*cert{f.serverCert(certSpec{}, f.root)}, clientChain: []*cert{f.client}}
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
	}
}

// ngfDecision is the model of what NGF does with the variant's objects.
type ngfDecision struct {
	policyValid bool   // validateBackendTLSPolicy
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
	if clientData != nil && s.clientType == "kubernetes.io/tls" {
		_, err := tls.X509KeyPair(clientData["tls.crt"], clientData["tls.key"])
		d.clientCert = err == nil
	}
	return d
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
		raw, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "ngf-ca", "namespace": namespace}, "data": map[string]string{"ca.crt": string(s.caPEM)}})
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
	r.btp = backendTLSPolicyJSON(s)
	r.gw = gatewayJSON(s)
	r.objects = append(r.objects, r.btp, r.gw)

	r.d = ngfDecide(s, caData, clientData)
	if r.d.policyValid {
		bundle := filepath.Join(dir, slug+"-ca.crt")
		writeFile(t, bundle, caData["ca.crt"])
		r.locDirs = []string{"proxy_ssl_server_name on;", "proxy_ssl_verify on;", "proxy_ssl_verify_depth 4;",
			"proxy_ssl_name " + s.hostname + ";", "proxy_ssl_trusted_certificate " + bundle + ";",
			"proxy_http_version 1.1;", "proxy_pass https://" + r.upstream + ";"}
	} else {
		r.locDirs = []string{"return 500;"}
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

func backendTLSPolicyJSON(s ngfSetup) []byte {
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
	raw, _ := json.Marshal(map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
		"metadata": map[string]any{"name": "aigw-mtls", "namespace": namespace, "labels": selectorLabels},
		"spec": map[string]any{
			"targetRefs": []any{map[string]any{"group": "", "kind": "Service", "name": "aigw"}},
			"validation": v,
		},
	})
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
// as the webhook's cache holds them.
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
	dir := t.TempDir()
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
		if !r.d.policyValid {
			ngf = "invalid"
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

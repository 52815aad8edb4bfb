// Package nginx_test proves the egressMTLS validation against NGINX Ingress Controller's own
// decision and real nginx: every configuration the validator accepts is one NIC v5.5.4 renders and
// that carries a request through nginx to an mTLS server that requires a client certificate (the
// aigw side), and every configuration it refuses for a run-time reason fails there.
//
// For each variant, the table first computes NIC's decision for the Policy and its Secrets
// (nicconf.Decide). If NIC does not render the Policy (it is invalid, or a Secret is missing, of
// the wrong type or invalid), the variant fails: NIC renders "return 500;" where the Policy would
// go, and nginx is asked to prove that answer. Otherwise nginx gets the directives NIC renders
// (nicconf.Directives), at server or route level, through proxy_pass or grpc_pass.
//
// One nginx process serves every variant, each on its own loopback port, proxying to its own Go
// crypto/tls server that serves the variant's aigw-server-tls chain and requires client
// certificates signed by the variant's internal-ca.
package nginx_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/nginx/nicconf"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/tools"
)

const (
	namespace    = "ai-gateway"
	aigwHost     = "aigw.ai-gateway.svc.cluster.local"
	policyName   = "aigw-mtls"
	caSecret     = "internal-ca"
	clientSecret = "aigw-nic-client-tls"
	serverSecret = "aigw-server-tls"
	okBody       = "aigw: client certificate verified"
	webBody      = "web: plain HTTP"
)

var selectorLabels = map[string]string{"aigw": "mtls"}

// fixtures are the CAs every variant draws from.
type fixtures struct {
	t      *testing.T
	now    time.Time
	root   *cert // CN=Internal CA
	inter  *cert // CN=Internal Intermediate CA, signed by root
	inter2 *cert // CN=Internal Intermediate CA 2, signed by inter
	other  *cert // CN=Other CA
	client *cert // CN=nginx-ingress-client, clientAuth, signed by root
	// The CA before a rotation, expired yesterday, also CN=Internal CA: with a key of its own
	// (oldRoot) and with root's key (oldRootSameKey, a re-issued root).
	oldRoot        *cert
	oldRootSameKey *cert
}

func newFixtures(t *testing.T, now time.Time) *fixtures {
	f := &fixtures{t: t, now: now}
	f.root = issue(t, now, certSpec{cn: "Internal CA", isCA: true, rsa: true, notAfter: now.Add(10 * 365 * 24 * time.Hour)}, nil)
	f.inter = issue(t, now, certSpec{cn: "Internal Intermediate CA", isCA: true, notAfter: now.Add(5 * 365 * 24 * time.Hour)}, f.root)
	f.inter2 = issue(t, now, certSpec{cn: "Internal Intermediate CA 2", isCA: true, notAfter: now.Add(5 * 365 * 24 * time.Hour)}, f.inter)
	f.other = issue(t, now, certSpec{cn: "Other CA", isCA: true, notAfter: now.Add(10 * 365 * 24 * time.Hour)}, nil)
	f.client = f.clientCert(certSpec{}, f.root)
	expired := certSpec{cn: "Internal CA", isCA: true, rsa: true, notBefore: now.Add(-2 * 365 * 24 * time.Hour), notAfter: now.Add(-24 * time.Hour)}
	f.oldRoot = issue(t, now, expired, nil)
	expired.key = f.root.key
	f.oldRootSameKey = issue(t, now, expired, nil)
	return f
}

var (
	serverAuth = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	clientAuth = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
)

// serverCert issues an aigw server certificate: by default SAN aigwHost, usage server auth.
func (f *fixtures) serverCert(s certSpec, parent *cert) *cert {
	if s.cn == "" {
		s.cn = aigwHost
	}
	if s.dns == nil {
		s.dns = []string{aigwHost}
	}
	if s.eku == nil {
		s.eku = serverAuth
	}
	return issue(f.t, f.now, s, parent)
}

// clientCert issues NIC's client certificate: by default CN nginx-ingress-client, usage client auth.
func (f *fixtures) clientCert(s certSpec, parent *cert) *cert {
	if s.cn == "" {
		s.cn = "nginx-ingress-client"
	}
	if s.eku == nil {
		s.eku = clientAuth
	}
	return issue(f.t, f.now, s, parent)
}

// setup is one variant as it is in the cluster.
type setup struct {
	policy nicconf.EgressMTLS
	// otherType, when set, is a second policy type in the same Policy.
	otherType *nicconf.AccessControl
	level     nicconf.Level // where the VirtualServer references the Policy ("" = route)
	grpc      bool          // the VirtualServer upstream has type: grpc (grpc_pass grpcs://)
	// ingress, when set, renders the Ingress form instead of the VirtualServer: NIC renders a
	// regular Ingress's Policy in the server block and a minion's in its locations
	// (internal/configs/ingress.go generateNginxCfg; nginx.ingress.tmpl has the same egressMTLS
	// blocks as nginx.virtualserver.tmpl).
	ingress ingressKind
	// plainHTTP: the aigw Service is not in nginx.org/ssl-services, so NIC proxies with http://
	// (grpc://) and no TLS at all.
	plainHTTP bool
	// listedAfter are Policies nginx.org/policies lists after the aigw Policy (Ingress form): NIC
	// decides the whole list (nicconf.DecideIngress).
	listedAfter []nicconf.IngressPolicy
	// web: the Ingress's only backend is a plain-HTTP Service web, not aigw, and the Ingress is
	// what the webhook's mutation makes of it unwired: whether web lands in nginx.org/ssl-services
	// (NIC then proxies with https://) and the Policy in nginx.org/policies is the mutation's call.
	web         bool
	serverChain []*cert // aigw-server-tls tls.crt, leaf first: what the aigw side serves
	clientChain []*cert // aigw-nic-client-tls tls.crt, leaf first: what nginx presents
	ca          []*cert // internal-ca ca.crt: what nginx trusts for the server and aigw for clients
	// secrets, when set, edits the namespace's Secrets (made from the chains above) before NIC and
	// the validator see them: another type, other data, a Secret deleted.
	secrets func(m map[string]nicconf.Secret)
}

// ingressKind is a networking.k8s.io/v1 Ingress's role for NIC.
type ingressKind string

const (
	regularIngress ingressKind = "regular"
	minionIngress  ingressKind = "minion"
)

// seedPolicy is the Policy of the README's walkthrough, step 3.
func seedPolicy() nicconf.EgressMTLS {
	return nicconf.EgressMTLS{
		TLSSecret: clientSecret, TrustedCertSecret: caSecret,
		VerifyServer: true, ServerName: true, SSLName: aigwHost, Protocols: "TLSv1.3",
	}
}

func (f *fixtures) seed() setup {
	return setup{
		policy:      seedPolicy(),
		serverChain: []*cert{f.serverCert(certSpec{}, f.root)},
		clientChain: []*cert{f.client},
		ca:          []*cert{f.root},
	}
}

const missingSecret = "a missing Secret is only warned about (GitOps tools apply objects in any order), with the 500 it causes"

// variant is one row of the table. Both pins make the test fail when reality disagrees:
//   - nic is NIC's decision for the Policy and its Secrets ("" stands for nicconf.Render);
//   - ok is the end outcome: NIC renders the Policy AND a request through real nginx reaches aigw
//     over mTLS (twice, the second time over a resumed session when sessionReuse is on).
//
// notRuntime, when set, says why a refusal of this configuration is right even though it works
// today (the validator may refuse it; it must not be required to). warnOnly, when set, says why
// the validator may admit a configuration that fails today, provided it warns with NIC's 500.
type variant struct {
	name       string
	build      func(f *fixtures) setup
	nic        nicconf.Outcome
	ok         bool
	notRuntime string
	warnOnly   string
}

func (v variant) wantNIC() nicconf.Outcome {
	if v.nic == "" {
		return nicconf.Render
	}
	return v.nic
}

func variants() []variant {
	with := func(mod func(f *fixtures, s *setup)) func(f *fixtures) setup {
		return func(f *fixtures) setup { s := f.seed(); mod(f, &s); return s }
	}
	policy := func(mod func(p *nicconf.EgressMTLS)) func(f *fixtures) setup {
		return with(func(_ *fixtures, s *setup) { mod(&s.policy) })
	}
	server := func(spec certSpec) func(f *fixtures) setup {
		return with(func(f *fixtures, s *setup) { s.serverChain = []*cert{f.serverCert(spec, f.root)} })
	}
	client := func(spec certSpec) func(f *fixtures) setup {
		return with(func(f *fixtures, s *setup) { s.clientChain = []*cert{f.clientCert(spec, f.root)} })
	}
	// viaIntermediate: leaf signed by the intermediate, served as leaf+intermediate.
	viaIntermediate := func(depth *int) func(f *fixtures) setup {
		return with(func(f *fixtures, s *setup) {
			s.serverChain = []*cert{f.serverCert(certSpec{}, f.inter), f.inter}
			s.policy.VerifyDepth = depth
		})
	}
	viaTwoIntermediates := func(depth *int) func(f *fixtures) setup {
		return with(func(f *fixtures, s *setup) {
			s.serverChain = []*cert{f.serverCert(certSpec{}, f.inter2), f.inter2, f.inter}
			s.policy.VerifyDepth = depth
		})
	}
	secrets := func(mod func(f *fixtures, m map[string]nicconf.Secret)) func(f *fixtures) setup {
		return with(func(f *fixtures, s *setup) { s.secrets = func(m map[string]nicconf.Secret) { mod(f, m) } })
	}
	past := func(f *fixtures) certSpec {
		return certSpec{notBefore: f.now.Add(-60 * 24 * time.Hour), notAfter: f.now.Add(-24 * time.Hour)}
	}
	return []variant{
		{name: "good-seed", ok: true, build: with(func(f *fixtures, s *setup) {
			// cert-manager's default key algorithm for both leaves.
			s.serverChain = []*cert{f.serverCert(certSpec{rsa: true}, f.root)}
			s.clientChain = []*cert{f.clientCert(certSpec{rsa: true}, f.root)}
		})},
		{name: "wrong-sslName", build: policy(func(p *nicconf.EgressMTLS) { p.SSLName = "gateway.ai-gateway.svc.cluster.local" })},
		// nginx alone carries this one (host names compare case-insensitively), but NIC refuses
		// the Policy first: sslName must be a DNS-1123 subdomain, lower case.
		{name: "sslName-upper-case", nic: nicconf.Invalid, build: policy(func(p *nicconf.EgressMTLS) { p.SSLName = "AIGW.AI-Gateway.svc.cluster.local" })},
		{name: "sslName-with-port", nic: nicconf.Invalid, build: policy(func(p *nicconf.EgressMTLS) { p.SSLName = aigwHost + ":443" })},
		{name: "missing-sslName-$proxy_host", build: policy(func(p *nicconf.EgressMTLS) { p.SSLName = "" })},
		{name: "missing-sslName-verify-off", ok: true, build: policy(func(p *nicconf.EgressMTLS) { p.SSLName = ""; p.VerifyServer = false })},
		{name: "wrong-sslName-verify-off", ok: true, build: policy(func(p *nicconf.EgressMTLS) {
			p.SSLName = "gateway.ai-gateway.svc.cluster.local"
			p.VerifyServer = false
		})},
		{name: "wildcard-SAN", ok: true, build: server(certSpec{dns: []string{"*.ai-gateway.svc.cluster.local"}})},
		{name: "wildcard-SAN-two-labels-deep", build: server(certSpec{dns: []string{"*.svc.cluster.local"}})},
		{name: "partial-wildcard-SAN", ok: true, build: server(certSpec{dns: []string{"ai*.ai-gateway.svc.cluster.local"}})},
		{name: "CN-only-no-SAN", ok: true, build: server(certSpec{dns: []string{}})},
		{name: "CN-matches-SAN-does-not", build: server(certSpec{dns: []string{"gateway.ai-gateway.svc.cluster.local"}})},
		{name: "IP-sslName-IP-SAN", build: with(func(f *fixtures, s *setup) {
			s.serverChain = []*cert{f.serverCert(certSpec{cn: "aigw", dns: []string{}, ips: []net.IP{net.IPv4(127, 0, 0, 1)}}, f.root)}
			s.policy.SSLName = "127.0.0.1"
			s.policy.ServerName = false // an IP literal is no SNI host name
		})},
		{name: "sslName-trailing-dot", nic: nicconf.Invalid, build: policy(func(p *nicconf.EgressMTLS) { p.SSLName = aigwHost + "." })},
		{name: "sslName-trailing-dot-serverName-off", nic: nicconf.Invalid, build: policy(func(p *nicconf.EgressMTLS) { p.SSLName = aigwHost + "."; p.ServerName = false })},
		{name: "serverName-off", ok: true, build: policy(func(p *nicconf.EgressMTLS) { p.ServerName = false })},
		{name: "sessionReuse-off", ok: true, build: policy(func(p *nicconf.EgressMTLS) { p.SessionReuse = nicconf.Bool(false) })},

		{name: "server-cert-from-other-CA", build: with(func(f *fixtures, s *setup) { s.serverChain = []*cert{f.serverCert(certSpec{}, f.other)} })},
		{name: "server-cert-other-CA-verify-off", ok: true, build: with(func(f *fixtures, s *setup) {
			s.serverChain = []*cert{f.serverCert(certSpec{}, f.other)}
			s.policy.VerifyServer = false
		})},
		{name: "server-cert-expired", build: with(func(f *fixtures, s *setup) { s.serverChain = []*cert{f.serverCert(past(f), f.root)} })},
		{name: "server-cert-expired-verify-off", ok: true, build: with(func(f *fixtures, s *setup) {
			s.serverChain = []*cert{f.serverCert(past(f), f.root)}
			s.policy.VerifyServer = false
		})},
		{name: "server-cert-not-yet-valid", build: with(func(f *fixtures, s *setup) {
			s.serverChain = []*cert{f.serverCert(certSpec{notBefore: f.now.Add(24 * time.Hour)}, f.root)}
		})},
		{name: "server-cert-expires-in-10-days", ok: true, build: with(func(f *fixtures, s *setup) {
			s.serverChain = []*cert{f.serverCert(certSpec{notAfter: f.now.Add(10 * 24 * time.Hour)}, f.root)}
		})},
		{name: "server-cert-clientAuth-EKU-only", build: server(certSpec{eku: clientAuth})},
		{name: "server-cert-no-EKU", ok: true, build: server(certSpec{eku: []x509.ExtKeyUsage{}})},

		{name: "intermediate-verifyDepth-0", build: viaIntermediate(nicconf.Int(0))},
		{name: "intermediate-verifyDepth-1", ok: true, build: viaIntermediate(nicconf.Int(1))},
		{name: "intermediate-verifyDepth-unset(1)", ok: true, build: viaIntermediate(nil)},
		{name: "intermediate-verifyDepth-2", ok: true, build: viaIntermediate(nicconf.Int(2))},
		{name: "two-intermediates-verifyDepth-1", build: viaTwoIntermediates(nicconf.Int(1))},
		{name: "two-intermediates-verifyDepth-unset(1)", build: viaTwoIntermediates(nil)},
		{name: "two-intermediates-verifyDepth-2", ok: true, build: viaTwoIntermediates(nicconf.Int(2))},
		{name: "direct-from-root-verifyDepth-0", ok: true, build: policy(func(p *nicconf.EgressMTLS) { p.VerifyDepth = nicconf.Int(0) })},
		{name: "intermediate-not-sent", build: with(func(f *fixtures, s *setup) {
			s.serverChain = []*cert{f.serverCert(certSpec{}, f.inter)}
			s.policy.VerifyDepth = nicconf.Int(2)
		})},
		{name: "CA-bundle-root+intermediate-leaf-only-depth-0", build: with(func(f *fixtures, s *setup) {
			// internal-ca holds root and intermediate; aigw serves the leaf alone.
			s.ca = []*cert{f.root, f.inter}
			s.serverChain = []*cert{f.serverCert(certSpec{}, f.inter)}
			s.policy.VerifyDepth = nicconf.Int(0)
		})},
		{name: "CA-bundle-root+intermediate-leaf-only-depth-1", ok: true, build: with(func(f *fixtures, s *setup) {
			s.ca = []*cert{f.root, f.inter}
			s.serverChain = []*cert{f.serverCert(certSpec{}, f.inter)}
			s.policy.VerifyDepth = nicconf.Int(1)
		})},
		{name: "trusted-CA-is-intermediate(partial-chain)", build: with(func(f *fixtures, s *setup) {
			// internal-ca holds the issuing intermediate only: aigw trusts it for clients (Go
			// accepts any pool certificate as an anchor), nginx for the server.
			s.ca = []*cert{f.inter}
			s.serverChain = []*cert{f.serverCert(certSpec{}, f.inter), f.inter}
			s.clientChain = []*cert{f.clientCert(certSpec{}, f.inter)}
		})},

		{name: "client-cert-from-other-CA", build: with(func(f *fixtures, s *setup) { s.clientChain = []*cert{f.clientCert(certSpec{}, f.other)} })},
		{name: "client-cert-serverAuth-EKU-only", build: client(certSpec{eku: serverAuth})},
		{name: "client-cert-no-EKU", ok: true, build: client(certSpec{eku: []x509.ExtKeyUsage{}})},
		{name: "client-cert-expired", build: with(func(f *fixtures, s *setup) { s.clientChain = []*cert{f.clientCert(past(f), f.root)} })},
		{name: "client-cert-intermediate-not-sent", build: with(func(f *fixtures, s *setup) {
			s.clientChain = []*cert{f.clientCert(certSpec{}, f.inter)}
		})},
		{name: "client-cert-via-intermediate", ok: true, build: with(func(f *fixtures, s *setup) {
			s.clientChain = []*cert{f.clientCert(certSpec{}, f.inter), f.inter}
		})},

		{name: "protocols-TLSv1.3", ok: true, build: policy(func(p *nicconf.EgressMTLS) { p.Protocols = "TLSv1.3" })},
		{name: "protocols-TLSv1.2-TLSv1.3", ok: true, build: policy(func(p *nicconf.EgressMTLS) { p.Protocols = "TLSv1.2 TLSv1.3" })},
		{name: "protocols-TLSv1.2", ok: true, build: policy(func(p *nicconf.EgressMTLS) { p.Protocols = "TLSv1.2" })},
		{name: "protocols-unset-NIC-default", ok: true, build: policy(func(p *nicconf.EgressMTLS) { p.Protocols = "" })},
		{name: "protocols-TLSv1", build: policy(func(p *nicconf.EgressMTLS) { p.Protocols = "TLSv1" })},
		{name: "protocols-TLSv1-TLSv1.1", build: policy(func(p *nicconf.EgressMTLS) { p.Protocols = "TLSv1 TLSv1.1" })},
		{name: "protocols-TLSv1.1-TLSv1.2", ok: true, build: policy(func(p *nicconf.EgressMTLS) { p.Protocols = "TLSv1.1 TLSv1.2" }),
			notRuntime: "the rules allow only TLSv1.2/TLSv1.3 tokens (docs/wiring.md, Validation); nginx negotiates TLS 1.2 with aigw today"},
		// nginx compares protocol names case-insensitively (ngx_conf_set_bitmask_slot).
		{name: "protocols-lowercase-tlsv1.3", ok: true, build: policy(func(p *nicconf.EgressMTLS) { p.Protocols = "tlsv1.3" })},
		{name: "protocols-unknown-TLSv9", build: policy(func(p *nicconf.EgressMTLS) { p.Protocols = "TLSv9" })},
		// NIC renders protocols verbatim: the rest of the line becomes directives of its own.
		{name: "protocols-injection(TLSv1.3; return 200 x)", build: policy(func(p *nicconf.EgressMTLS) { p.Protocols = "TLSv1.3; return 200 x" })},

		// Ciphers are rendered verbatim too. Over TLS 1.3 they do not apply (proxy_ssl_ciphers sets
		// the TLS 1.2 list), so the lists that must work are tried over TLS 1.2.
		{name: "ciphers-HIGH:!aNULL:!MD5(TLSv1.2)", ok: true, build: policy(func(p *nicconf.EgressMTLS) { p.Ciphers = "HIGH:!aNULL:!MD5"; p.Protocols = "TLSv1.2" })},
		{name: "ciphers-ECDHE+AESGCM(TLSv1.2)", ok: true, build: policy(func(p *nicconf.EgressMTLS) { p.Ciphers = "ECDHE+AESGCM"; p.Protocols = "TLSv1.2" })},
		// OpenSSL drops a name it does not know when the list selects something else: nginx loads the
		// list and the misspelt cipher is silently gone.
		{name: "ciphers-misspelt-beside-valid(ECDHE+AESGCM:AES256-GCM-SHA385)", ok: true,
			build:      policy(func(p *nicconf.EgressMTLS) { p.Ciphers = "ECDHE+AESGCM:AES256-GCM-SHA385"; p.Protocols = "TLSv1.2" }),
			notRuntime: "a misspelt cipher is refused by design: OpenSSL silently drops it, so the list is not what was written"},
		{name: "ciphers-unknown-NOPE-CIPHER", build: policy(func(p *nicconf.EgressMTLS) { p.Ciphers = "NOPE-CIPHER" })},
		{name: "ciphers-injection(HIGH; return 200 injected)", build: policy(func(p *nicconf.EgressMTLS) { p.Ciphers = "HIGH; return 200 injected" })},

		// Refused by NIC's Policy validation: every route of the Policy answers 500.
		{name: "tlsSecret-namespace/name", nic: nicconf.Invalid, build: policy(func(p *nicconf.EgressMTLS) { p.TLSSecret = namespace + "/" + clientSecret })},
		{name: "trustedCertSecret-namespace/name", nic: nicconf.Invalid, build: policy(func(p *nicconf.EgressMTLS) { p.TrustedCertSecret = namespace + "/" + caSecret })},
		{name: "verifyDepth--1", nic: nicconf.Invalid, build: policy(func(p *nicconf.EgressMTLS) { p.VerifyDepth = nicconf.Int(-1) })},
		{name: "verifyServer-without-trustedCertSecret", nic: nicconf.Invalid, build: policy(func(p *nicconf.EgressMTLS) { p.TrustedCertSecret = "" })},
		{name: "two-policy-types(egressMTLS+accessControl)", nic: nicconf.Invalid, build: with(func(_ *fixtures, s *setup) {
			s.otherType = &nicconf.AccessControl{Allow: []string{"10.0.0.0/8"}}
		})},

		// Valid Policy, but NIC refuses a Secret it names: every route of the Policy answers 500.
		{name: "client-Secret-missing", nic: nicconf.Return500, warnOnly: missingSecret, build: secrets(func(_ *fixtures, m map[string]nicconf.Secret) { delete(m, clientSecret) })},
		{name: "CA-Secret-missing", nic: nicconf.Return500, warnOnly: missingSecret, build: secrets(func(_ *fixtures, m map[string]nicconf.Secret) { delete(m, caSecret) })},
		{name: "client-tls.key-not-matching-tls.crt", nic: nicconf.Return500, build: secrets(func(f *fixtures, m map[string]nicconf.Secret) {
			m[clientSecret].Data["tls.key"] = pemKey(f.t, f.inter) // the key of another certificate
		})},
		{name: "CA-ca.crt-CRL-first", nic: nicconf.Return500, build: secrets(func(f *fixtures, m map[string]nicconf.Secret) {
			m[caSecret].Data["ca.crt"] = append(pemCRL(f.t, f.now, f.root), m[caSecret].Data["ca.crt"]...)
		})},
		{name: "trustedCertSecret-Opaque", nic: nicconf.Return500, build: secrets(func(_ *fixtures, m map[string]nicconf.Secret) {
			m[caSecret] = nicconf.Secret{Type: "Opaque", Data: m[caSecret].Data}
		})},
		{name: "trustedCertSecret-kubernetes.io/tls-verify-off", nic: nicconf.Return500, build: policy(func(p *nicconf.EgressMTLS) {
			// aigw-server-tls carries the CA in ca.crt, but is no nginx.org/ca Secret; NIC checks
			// the type even though nothing is verified.
			p.TrustedCertSecret = serverSecret
			p.VerifyServer = false
		})},

		// The CA bundle during a CA rotation: the current CA and the expired one it replaced
		// (same name), the expired one first; aigw's certificate is from the current CA.
		{name: "CA-bundle-expired-old-CA-first(other key)", ok: true, build: with(func(f *fixtures, s *setup) { s.ca = []*cert{f.oldRoot, f.root} })},
		{name: "CA-bundle-expired-old-CA-first(same key)", ok: true, build: with(func(f *fixtures, s *setup) { s.ca = []*cert{f.oldRootSameKey, f.root} })},

		// Where the VirtualServer references the Policy, and the upstream's type.
		{name: "server-level-policy", ok: true, build: with(func(_ *fixtures, s *setup) { s.level = nicconf.ServerLevel })},
		{name: "server-level-CA-Secret-missing", nic: nicconf.Return500, warnOnly: missingSecret, build: with(func(_ *fixtures, s *setup) {
			s.level = nicconf.ServerLevel
			s.secrets = func(m map[string]nicconf.Secret) { delete(m, caSecret) }
		})},
		{name: "route-level-grpc-upstream", ok: true, build: with(func(_ *fixtures, s *setup) { s.grpc = true })},
		// NIC renders server-level egressMTLS as proxy_ssl_* only: a grpc_pass location gets no
		// client certificate and no verification.
		{name: "server-level-policy-grpc-upstream", build: with(func(_ *fixtures, s *setup) {
			s.level = nicconf.ServerLevel
			s.grpc = true
		})},

		// The Ingress form: nginx.org/policies and nginx.org/ssl-services.
		{name: "ingress", ok: true, build: with(func(_ *fixtures, s *setup) { s.ingress = regularIngress })},
		{name: "ingress-minion", ok: true, build: with(func(_ *fixtures, s *setup) { s.ingress = minionIngress })},
		{name: "ingress-without-ssl-services", build: with(func(_ *fixtures, s *setup) { s.ingress, s.plainHTTP = regularIngress, true })},
		{name: "ingress-minion-without-ssl-services", build: with(func(_ *fixtures, s *setup) { s.ingress, s.plainHTTP = minionIngress, true })},
		// A regular Ingress's Policy is server-level proxy_ssl_*; grpc_pass ignores it.
		{name: "ingress-grpc-services", build: with(func(_ *fixtures, s *setup) { s.ingress, s.grpc = regularIngress, true })},
		{name: "ingress-minion-grpc-services", ok: true, build: with(func(_ *fixtures, s *setup) { s.ingress, s.grpc = minionIngress, true })},
		{name: "ingress-CA-Secret-missing", nic: nicconf.Return500, warnOnly: missingSecret, build: with(func(_ *fixtures, s *setup) {
			s.ingress = regularIngress
			s.secrets = func(m map[string]nicconf.Secret) { delete(m, caSecret) }
		})},
		// A rateLimit Policy in nginx.org/policies: NIC does not apply that type to Ingresses
		// (IsPolicySupportedOnIngress) and generatePolicies answers 500 on the whole server.
		{name: "ingress-rateLimit-Policy-listed", nic: nicconf.Return500, build: with(func(_ *fixtures, s *setup) {
			s.ingress = regularIngress
			s.listedAfter = []nicconf.IngressPolicy{{Name: "rate-limit", Spec: nicconf.Spec{RateLimit: &nicconf.RateLimit{Rate: "10r/s", Key: "${binary_remote_addr}", ZoneSize: "10M"}}}}
		})},
		// A second egressMTLS Policy after ours, with an sslName nginx's host check would refuse:
		// addEgressMTLSConfig ignores it, and requests go through ours.
		{name: "ingress-second-egressMTLS-Policy-ignored", ok: true, build: with(func(_ *fixtures, s *setup) {
			s.ingress = regularIngress
			legacy := seedPolicy()
			legacy.SSLName = "aigw"
			s.listedAfter = []nicconf.IngressPolicy{{Name: "legacy-mtls", Spec: nicconf.Spec{EgressMTLS: &legacy}}}
		})},
		// A labelled Ingress whose backend is not aigw: after the mutation, still plain HTTP.
		{name: "ingress-backend-not-aigw-after-mutation", ok: true, build: with(func(_ *fixtures, s *setup) { s.ingress, s.web = regularIngress, true })},
	}
}

// outcome is what happened to a variant: NIC's decision, then the requests through nginx.
type outcome struct {
	nic       nicconf.Decision
	ok        bool
	status    int
	body      string   // of the first request
	reached   bool     // the aigw side answered a request
	resumed   bool     // the second request resumed the first one's upstream TLS session
	nginxLog  []string // nginx error.log lines for the variant's requests
	aigwLog   []string // the aigw side's TLS errors
	configErr string   // nginx -t refused the variant's configuration
}

func (o outcome) String() string {
	if o.nic.Outcome != nicconf.Render {
		return fmt.Sprintf("%s (nginx: HTTP %d)", o.nic, o.status)
	}
	if o.configErr != "" {
		return "nginx -t failed: " + o.configErr
	}
	s := fmt.Sprintf("HTTP %d", o.status)
	if o.ok {
		return fmt.Sprintf("%s (%s; 2nd request resumed=%v)", s, strings.TrimSuffix(strings.TrimPrefix(o.body, okBody+": "), " resumed=false"), o.resumed)
	}
	if o.status == 0 && o.body != "" {
		s += " (" + o.body + ")"
	}
	if o.status == http.StatusOK && !o.reached {
		s += fmt.Sprintf(" from nginx itself, aigw never reached (body %q)", o.body)
	}
	if len(o.nginxLog) > 0 {
		s += "; nginx: " + o.nginxLog[0]
	}
	if len(o.aigwLog) > 0 {
		s += "; aigw: " + o.aigwLog[0]
	}
	return s
}

func TestEgressMTLSAgainstNginx(t *testing.T) {
	bin := tools.Nginx.Need(t)
	chart := chartVariants(t) // issued before now: cert-manager's certificates start at issuance
	start := time.Now()
	now := time.Now()
	f := newFixtures(t, now)
	dir := t.TempDir()
	secretsDir := filepath.Join(dir, "secrets")
	if err := os.MkdirAll(secretsDir, 0o700); err != nil {
		t.Fatal(err)
	}

	vs := append(variants(), chart...)
	runs := make([]*run, len(vs))
	for i, v := range vs {
		runs[i] = prepare(t, f, v, i, secretsDir)
	}
	t.Logf("NIC decisions, certificates and aigw servers ready in %s", time.Since(start).Round(time.Millisecond))

	// nginx -t on each variant alone: a configuration nginx refuses is a failure of its own.
	confs := make([]string, len(runs))
	for i, r := range runs {
		confs[i] = writeConf(t, dir, "nginx-"+r.slug+".conf", []*run{r}, true)
	}
	var wgT sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, r := range runs {
		wgT.Add(1)
		go func() {
			defer wgT.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if out, err := nginxT(bin, dir, confs[i]); err != nil {
				r.out.configErr = strings.TrimSpace(out)
			}
		}()
	}
	wgT.Wait()
	var served []*run
	for _, r := range runs {
		if r.out.configErr == "" {
			served = append(served, r)
		}
	}
	// Ports are picked free but handed to nginx later: retry if another process took one.
	var stop func()
	for attempt := 1; ; attempt++ {
		conf := writeConf(t, dir, "nginx.conf", served, false)
		if out, err := nginxT(bin, dir, conf); err != nil {
			t.Fatalf("nginx -t on the combined configuration: %v\n%s", err, out)
		}
		var err error
		releasePorts()
		if stop, err = startNginx(bin, dir, conf); err == nil {
			break
		} else if attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("retrying nginx start: %v", err)
		for _, r := range served {
			r.port = freePort(t)
		}
	}
	t.Cleanup(stop)
	t.Logf("nginx up in %s (%d variants)", time.Since(start).Round(time.Millisecond), len(served))

	var wg sync.WaitGroup
	for _, r := range served {
		wg.Add(1)
		go func() { defer wg.Done(); r.request(t) }()
	}
	wg.Wait()
	stop() // flushes error.log
	errorLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
	for _, r := range served {
		r.out.nginxLog = logLinesFor(errorLog, "/"+r.slug)
		r.out.aigwLog = r.aigwErrors()
	}
	t.Logf("requests done in %s", time.Since(start).Round(time.Millisecond))

	table := &strings.Builder{}
	fmt.Fprintf(table, "\n%-50s %-7s %-4s %-9s %s\n", "variant", "NIC", "end", "validator", "detail || first refusal")
	mismatches := 0
	var accepts, refuses []string
	for _, r := range runs {
		fail := func(format string, args ...any) {
			mismatches++
			t.Errorf("%s: "+format+"\nPolicy: %s\n%s", append(append([]any{r.v.name}, args...), r.policyJSON, r.rendered())...)
		}
		if got, want := r.out.nic.Outcome, r.v.wantNIC(); got != want {
			fail("NIC decision %q (%s), the table pins %q (NIC model changed?)", got, r.out.nic, want)
		}
		if r.out.nic.Outcome != nicconf.Render && r.out.configErr == "" && r.out.status != http.StatusInternalServerError {
			fail("NIC renders %q for this Policy, but nginx answered %s", nicconf.ErrorReturn, r.out)
		}
		if r.out.ok != r.v.ok {
			fail("end outcome %s, the table pins ok=%v (NIC model or real nginx behaviour changed?)", r.out, r.v.ok)
		}
		if wantReuse := r.s.policy.SessionReuse == nil || *r.s.policy.SessionReuse; r.out.ok && !r.s.web && r.out.resumed != wantReuse {
			fail("%s_ssl_session_reuse %v, but the 2nd request resumed=%v", r.sslPrefix(), wantReuse, r.out.resumed)
		}
		res, err := validate(r, now)
		verdict := "accepted"
		switch {
		case err != nil:
			fail("validator error: %v", err)
			verdict = "error"
		case len(res.conflicts) > 0:
			verdict = "refused"
		}
		switch {
		case verdict == "accepted" && !r.out.ok && r.v.warnOnly != "":
			if !slices.ContainsFunc(res.warnings, func(w string) bool { return strings.Contains(w, "500") }) {
				fail("validator admits a configuration NIC answers with 500 without a warning saying so: %q", res.warnings)
			}
		case verdict == "accepted" && !r.out.ok:
			accepts = append(accepts, r.v.name)
			fail("validator ACCEPTS a configuration that fails: %s (warnings: %q)", r.out, res.warnings)
		case verdict == "refused" && r.out.ok && r.v.notRuntime == "":
			refuses = append(refuses, r.v.name)
			fail("validator REFUSES a configuration that works (%s): %s", r.out, strings.Join(res.conflicts, " | "))
		}
		if verdict == "accepted" && len(res.warnings) > 0 {
			verdict = fmt.Sprintf("warned(%d)", len(res.warnings))
		}
		detail := r.out.String()
		if len(res.conflicts) > 0 {
			detail += " || " + res.conflicts[0]
		}
		if r.v.warnOnly != "" && verdict != "refused" {
			detail += " [" + r.v.warnOnly + "]"
		}
		if r.v.notRuntime != "" && verdict == "refused" {
			detail += " [not a run-time failure: " + r.v.notRuntime + "]"
		}
		fmt.Fprintf(table, "%-50s %-7s %-4s %-9s %s\n", r.v.name, r.out.nic.Outcome, okFail(r.out.ok), verdict, detail)
	}
	t.Log(table.String())
	if len(accepts) > 0 {
		t.Logf("validator accepts, but NIC or nginx fails (%d): %s", len(accepts), strings.Join(accepts, ", "))
	}
	if len(refuses) > 0 {
		t.Logf("validator refuses, but it works (%d): %s", len(refuses), strings.Join(refuses, ", "))
	}
	if mismatches > 0 {
		t.Logf("error.log (last lines):\n%s", tail(string(errorLog), 15))
	}
	if mismatches == 0 {
		t.Logf("all %d variants: NIC and nginx as pinned; validator accepted => OK end to end, refused => FAIL", len(runs))
	}
	t.Logf("total %s", time.Since(start).Round(time.Millisecond))
}

func okFail(ok bool) string {
	if ok {
		return "OK"
	}
	return "FAIL"
}

// run is one variant wired up: NIC's decision, its files, its aigw server, its nginx port.
type run struct {
	v          variant
	slug       string
	s          setup
	objects    [][]byte // the cluster objects the validator reads: the namespace's Secrets and the Policy
	policyJSON []byte
	ingress    []byte   // the Ingress as admitted (web variants: mutated by the webhook)
	secretDir  string   // NIC's secrets directory for this variant ($secret_dir_path)
	serverDirs []string // what NIC renders in the server block for the Policy
	locDirs    []string // what NIC renders in the location for the Policy
	upstream   string
	aigwAddr   string
	aigwHits   atomic.Int32
	port       int
	aigwErrs   *syncBuffer
	out        outcome
}

var nonSlug = regexp.MustCompile(`[^a-zA-Z0-9.-]+`)

func prepare(t *testing.T, f *fixtures, v variant, i int, secretsDir string) *run {
	s := v.build(f)
	switch {
	case s.ingress == regularIngress:
		s.level = nicconf.ServerLevel
	case s.ingress == minionIngress || s.level == "":
		s.level = nicconf.RouteLevel
	}
	slug := fmt.Sprintf("v%02d-%s", i, strings.Trim(nonSlug.ReplaceAllString(v.name, "-"), "-"))
	r := &run{v: v, slug: slug, s: s}

	caPEM := pemChain(s.ca...)
	clientCrt, clientKey := pemChain(s.clientChain...), pemKey(t, s.clientChain[0])
	serverCrt, serverKey := pemChain(s.serverChain...), pemKey(t, s.serverChain[0])

	// The Secrets of namespace ai-gateway, as the API server holds them (cert-manager writes
	// tls.crt, tls.key and ca.crt into kubernetes.io/tls Secrets).
	secrets := map[string]nicconf.Secret{
		caSecret: {Type: nicconf.SecretTypeCA, Data: map[string][]byte{"ca.crt": caPEM}},
		clientSecret: {Type: nicconf.SecretTypeTLS, Data: map[string][]byte{
			"tls.crt": clientCrt, "tls.key": clientKey, "ca.crt": pemChain(chainRoot(f, s.clientChain))}},
		serverSecret: {Type: nicconf.SecretTypeTLS, Data: map[string][]byte{
			"tls.crt": serverCrt, "tls.key": serverKey, "ca.crt": pemChain(chainRoot(f, s.serverChain))}},
	}
	if s.secrets != nil {
		s.secrets(secrets)
	}
	spec := nicconf.Spec{EgressMTLS: &s.policy, AccessControl: s.otherType}

	// NIC's decision, and the files it writes (one secrets directory per variant: same names).
	r.secretDir = filepath.Join(secretsDir, slug)
	if err := os.MkdirAll(r.secretDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// What the validator reads: the Policy as NIC saw it, and the namespace's Secrets (a Secret
	// the variant deletes is not there; private keys included, as in the cluster), and the other
	// Policies the Ingress lists.
	r.policyJSON = nicconf.PolicyJSON(namespace, policyName, selectorLabels, spec)
	names := make([]string, 0, len(secrets))
	for name := range secrets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r.objects = append(r.objects, secretJSON(name, secrets[name].Type, secrets[name].Data))
	}
	r.objects = append(r.objects, r.policyJSON)
	for _, p := range s.listedAfter {
		r.objects = append(r.objects, nicconf.PolicyJSON(namespace, p.Name, nil, p.Spec))
	}

	listed := append([]nicconf.IngressPolicy{{Name: policyName, Spec: spec}}, s.listedAfter...)
	if s.web {
		r.ingress = mutatedIngress(t, r)
		ann := annotationsOf(t, r.ingress)
		s.plainHTTP = !slices.Contains(strings.Split(ann["nginx.org/ssl-services"], ","), "web")
		if !slices.Contains(strings.Split(ann["nginx.org/policies"], ","), policyName) {
			listed = nil
		}
		r.s = s
	}
	if s.ingress != "" {
		r.out.nic = nicconf.DecideIngress(namespace, listed, secrets, r.secretDir)
	} else {
		r.out.nic = nicconf.Decide(namespace, policyName, spec, secrets, r.secretDir)
	}
	for path, content := range r.out.nic.Files {
		writeFile(t, path, content)
	}
	directives := []string{nicconf.ErrorReturn}
	switch {
	case r.out.nic.Outcome == nicconf.Render && r.out.nic.Config == nil:
		directives = nil // no egressMTLS Policy referenced
	case r.out.nic.Outcome == nicconf.Render:
		directives = nicconf.Directives(*r.out.nic.Config, s.level, s.grpc, r.secretDir)
	}
	if s.level == nicconf.ServerLevel {
		r.serverDirs = directives
	} else {
		r.locDirs = directives
	}
	r.upstream = nicconf.UpstreamName(namespace, slug, "aigw")

	// The aigw side: serves aigw-server-tls, requires a client certificate signed by internal-ca.
	kp, err := tls.X509KeyPair(serverCrt, serverKey)
	if err != nil {
		t.Fatalf("%s: server key pair: %v", v.name, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s: no CA", v.name)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.aigwAddr = ln.Addr().String()
	r.aigwErrs = &syncBuffer{}
	srv := &http.Server{
		// HTTP/1.1 for proxy_pass, HTTP/2 (ALPN h2) for grpc_pass.
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			r.aigwHits.Add(1)
			if s.web {
				fmt.Fprint(w, webBody)
				return
			}
			if req.TLS == nil || len(req.TLS.VerifiedChains) == 0 {
				http.Error(w, "no verified client certificate", http.StatusForbidden)
				return
			}
			fmt.Fprintf(w, "%s: %s over %s resumed=%v", okBody, req.TLS.VerifiedChains[0][0].Subject.CommonName, tls.VersionName(req.TLS.Version), req.TLS.DidResume)
		}),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{kp},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    pool,
			MinVersion:   tls.VersionTLS12,
		},
		ErrorLog:          log.New(r.aigwErrs, "", 0),
		ReadHeaderTimeout: 10 * time.Second,
	}
	if s.web {
		go func() { _ = srv.Serve(ln) }() // web speaks plain HTTP only
	} else {
		go func() { _ = srv.ServeTLS(ln, "", "") }()
	}
	t.Cleanup(func() { _ = srv.Close() })

	r.port = freePort(t)
	return r
}

// sslPrefix is the prefix of the directives that apply to the variant's upstream connection.
func (r *run) sslPrefix() string {
	if r.s.grpc {
		return "grpc"
	}
	return "proxy"
}

// rendered shows what NIC rendered for the variant, for failure messages.
func (r *run) rendered() string {
	return fmt.Sprintf("%s\nserver block:\n%slocation:\n%s", r.out.nic, nicconf.Block(r.serverDirs, "    "), nicconf.Block(r.locDirs, "    "))
}

// chainRoot is the CA cert-manager puts in a Secret's ca.crt: the self-signed root the chain's
// leaf leads to among the fixture CAs.
func chainRoot(f *fixtures, chain []*cert) *cert {
	c := chain[0].x509
	for range 4 {
		for _, ca := range []*cert{f.root, f.inter, f.inter2, f.other} {
			if ca.x509.Subject.String() == c.Issuer.String() {
				if ca.x509.Subject.String() == ca.x509.Issuer.String() {
					return ca
				}
				c = ca.x509
				break
			}
		}
	}
	return f.root
}

func secretJSON(name, typ string, data map[string][]byte) []byte {
	raw, err := json.Marshal(map[string]any{
		"apiVersion": "v1",
		"kind":       "Secret",
		"metadata":   map[string]any{"name": name, "namespace": namespace, "labels": selectorLabels},
		"type":       typ,
		"data":       data, // []byte marshals as base64, as the API server sends Secret data
	})
	if err != nil {
		panic(err)
	}
	return raw
}

func (r *run) request(t *testing.T) {
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	// Twice: the second request goes over a resumed upstream TLS session when sessionReuse is on;
	// both must agree.
	var results []outcome
	for i := 0; i < 2; i++ {
		var o outcome
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/%s", r.port, r.slug))
		if err != nil {
			o.body = err.Error()
		} else {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			o.status, o.body = resp.StatusCode, string(b)
			// OK only when aigw answered: a 200 nginx makes up itself (a directive smuggled in
			// through a Policy field) does not count.
			o.ok = resp.StatusCode == http.StatusOK && (strings.HasPrefix(o.body, okBody) || r.s.web && o.body == webBody)
		}
		results = append(results, o)
	}
	r.out.ok, r.out.status, r.out.body = results[0].ok, results[0].status, results[0].body
	r.out.reached = r.aigwHits.Load() > 0
	r.out.resumed = strings.HasSuffix(results[1].body, "resumed=true")
	if results[1].ok != results[0].ok || results[1].status != results[0].status {
		r.out.ok = false
		r.out.body = fmt.Sprintf("first request %d %q, second %d %q", results[0].status, results[0].body, results[1].status, results[1].body)
		t.Errorf("%s: the two requests disagree: %s", r.v.name, r.out.body)
	}
}

func (r *run) aigwErrors() []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(r.aigwErrs.String()), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			// "http: TLS handshake error from 127.0.0.1:1234: <reason>"
			if i := strings.LastIndex(l, ": "); i > 0 && strings.Contains(l, "handshake error") {
				if j := strings.Index(l, "127.0.0.1:"); j > 0 {
					if k := strings.Index(l[j:], ": "); k > 0 {
						l = "TLS handshake error: " + l[j+k+2:]
					}
				}
			}
			out = append(out, l)
		}
	}
	return out
}

// logLinesFor returns the error-level messages of nginx's error.log about requests to path.
func logLinesFor(errorLog []byte, path string) []string {
	var out []string
	for _, l := range strings.Split(string(errorLog), "\n") {
		if !strings.Contains(l, `request: "GET `+path+` `) {
			continue
		}
		if !strings.Contains(l, "[error]") && !strings.Contains(l, "[crit]") && !strings.Contains(l, "[alert]") {
			continue
		}
		// "<date> [error] pid#tid: *cid <message>, client: ..."
		msg := l
		if i := strings.Index(msg, ": *"); i >= 0 {
			msg = msg[i+3:]
			if j := strings.Index(msg, " "); j >= 0 {
				msg = msg[j+1:]
			}
		}
		if i := strings.Index(msg, ", client: "); i >= 0 {
			msg = msg[:i]
		}
		out = append(out, msg)
	}
	return out
}

// writeConf writes a complete nginx.conf serving runs, one server (port) per variant, each server
// and location as NIC renders the VirtualServer's route to the aigw upstream with the variant's
// Policy.
//
// $secret_dir_path: for a variant on its own (alone, for nginx -t), NIC's own map
// (nicconf.SecretDirMap) with the variant's secrets directory. For the combined configuration the
// map is keyed by $server_port instead of $nginx_version, giving each variant's server its own
// secrets directory, the value NIC's map has in that variant's nginx; the directives that use the
// variable are NIC's, unchanged.
func writeConf(t *testing.T, dir, name string, runs []*run, alone bool) string {
	var b strings.Builder
	if os.Geteuid() == 0 {
		// Workers would otherwise switch to www-data/nobody and not read the 0600 secret files.
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
	if alone {
		b.WriteString(indent(nicconf.SecretDirMap(runs[0].secretDir), "    "))
	} else {
		b.WriteString("    map $server_port $secret_dir_path {\n        default \"\";\n")
		for _, r := range runs {
			fmt.Fprintf(&b, "        %d %q;\n", r.port, r.secretDir)
		}
		b.WriteString("    }\n")
	}
	for _, r := range runs {
		// NIC's location for an upstream with TLS (nginx.virtualserver.tmpl): proxy_pass https://
		// or, for type: grpc, grpc_pass grpcs:// with grpc_* timeouts. NIC's error_page mapping of
		// gRPC locations (failures answered 204 with a grpc-status) is left out: it only changes
		// the status a failure is answered with.
		p, pass := "proxy", "proxy_pass https://"
		if r.s.grpc {
			p, pass = "grpc", "grpc_pass grpcs://"
		}
		if r.s.plainHTTP {
			pass = strings.Replace(pass, "s://", "://", 1)
		}
		loc := fmt.Sprintf("%[1]s_connect_timeout 5s;\n%[1]s_read_timeout 5s;\n%[1]s_send_timeout 5s;\n", p)
		if !r.s.grpc {
			loc = "proxy_http_version 1.1;\n" + loc
		}
		fmt.Fprintf(&b, `
    # %[1]s
    upstream %[2]s {
        server %[3]s;
    }
    server {
        listen 127.0.0.1:%[4]d;
        server_name _;
%[5]s        location / {
%[6]s%[7]s            %[8]s%[2]s;
        }
    }
`, r.v.name, r.upstream, r.aigwAddr, r.port, nicconf.Block(r.serverDirs, "        "),
			indent(loc, "            "), nicconf.Block(r.locDirs, "            "), pass)
	}
	b.WriteString("}\n")
	path := filepath.Join(dir, name)
	writeFile(t, path, []byte(b.String()))
	return path
}

// indent prefixes every line of s with prefix.
func indent(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}

func nginxArgs(dir, conf string, extra ...string) []string {
	args := []string{"-p", dir + "/", "-c", conf, "-e", filepath.Join(dir, "error.log"),
		"-g", fmt.Sprintf("daemon off; pid %s;", filepath.Join(dir, "nginx.pid"))}
	return append(args, extra...)
}

func nginxT(bin, dir, conf string) (string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return "", err
	}
	out, err := exec.Command(bin, nginxArgs(dir, conf, "-t", "-q")...).CombinedOutput()
	return string(out), err
}

// startNginx runs nginx in the foreground and waits until every port of conf accepts.
func startNginx(bin, dir, conf string) (stop func(), err error) {
	var out syncBuffer
	cmd := exec.Command(bin, nginxArgs(dir, conf)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting nginx: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			// SIGQUIT: graceful shutdown, flushes the logs.
			_ = cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		})
	}
	confText, _ := os.ReadFile(conf)
	ports := regexp.MustCompile(`listen 127\.0\.0\.1:(\d+);`).FindAllStringSubmatch(string(confText), -1)
	deadline := time.After(30 * time.Second)
	for _, p := range ports {
		for {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+p[1], time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case err := <-done:
				errorLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
				return nil, fmt.Errorf("nginx exited: %v\n%s\n%s", err, out.String(), tail(string(errorLog), 5))
			case <-deadline:
				stop()
				return nil, fmt.Errorf("nginx not listening on %s: %v\n%s", p[1], err, out.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return stop, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// reserved holds a listener on every port handed to an nginx server block until nginx starts, so
// that neither another block nor an aigw-side listener (bound to :0 meanwhile) can take it.
var reserved = struct {
	sync.Mutex
	listeners []net.Listener
}{}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reserved.Lock()
	reserved.listeners = append(reserved.listeners, ln)
	reserved.Unlock()
	return ln.Addr().(*net.TCPAddr).Port
}

// releasePorts closes the reservations, right before nginx binds the ports.
func releasePorts() {
	reserved.Lock()
	defer reserved.Unlock()
	for _, ln := range reserved.listeners {
		ln.Close()
	}
	reserved.listeners = nil
}

func writeFile(t *testing.T, path string, data []byte) {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

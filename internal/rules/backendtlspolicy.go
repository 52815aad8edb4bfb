package rules

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// The rules for the Gateway API side of the hop, as NGINX Gateway Fabric (NGF) v2.6.7 implements it.
// NGF renders a valid BackendTLSPolicy into the location that proxies to the Service
// (internal/controller/nginx/config/servers_template.go, the ProxySSLVerify block):
//
//	proxy_ssl_server_name on; proxy_ssl_verify on; proxy_ssl_verify_depth 4;
//	proxy_ssl_name <validation.hostname>; proxy_ssl_trusted_certificate <caCertificateRefs[0] ca.crt>;
//
// and the Gateway's spec.tls.backend.clientCertificateRef into proxy_ssl_certificate and
// proxy_ssl_certificate_key at http level (base_http_config_template.go), for every backend of
// that Gateway.

// What happens at run time when a Gateway API finding is ignored.
const (
	// NGFInvalidBackend is what follows when NGF does not accept a BackendTLSPolicy (Accepted
	// False, reason Invalid or NoValidCACertificate): NGF v2.6.7 renders proxy_pass
	// http://invalid-backend-ref for the invalid backendRef, an upstream whose one server answers 500
	// (ngfInvalidBackend). Every rule NGF would refuse a policy for predicts it.
	NGFInvalidBackend = "NGF does not accept the BackendTLSPolicy (Accepted False) and marks the backendRefs to the Service invalid: " +
		"nginx answers 500 on the requests the routes send there (its invalid-backend-ref upstream)"
	// NGFConflicted is what NGF does for the Service port of a policy it marks Conflicted
	// (ngfConflictWinner).
	NGFConflicted = "NGF applies the older BackendTLSPolicy on that Service port instead: nginx checks aigw's certificate against its CA and hostname " +
		"(502 when they do not verify it), speaks plain HTTP to aigw, which answers 400, when it has no target of kind Service, or answers 500 when it is invalid itself"
	AigwRefusesGateway = "aigw refuses the Gateway's client certificate: nginx answers 502"
	GatewayRefBad      = "NGF reports the Gateway's backend client certificate invalid (ResolvedRefs False) and renders no proxy_ssl_certificate: aigw refuses the connection"
)

// ngfVerifyDepth is the proxy_ssl_verify_depth NGF always renders (servers_template.go).
const ngfVerifyDepth = 4

type localObjectRef struct {
	Group string `json:"group"`
	Kind  string `json:"kind"`
	Name  string `json:"name"`
}

type backendTLSPolicy struct {
	Metadata struct {
		objects.Meta
		CreationTimestamp time.Time `json:"creationTimestamp"`
	} `json:"metadata"`
	Spec struct {
		TargetRefs []BTPTarget   `json:"targetRefs"`
		Validation btpValidation `json:"validation"`
	} `json:"spec"`
}

type btpValidation struct {
	CACertificateRefs       []localObjectRef `json:"caCertificateRefs"`
	WellKnownCACertificates *string          `json:"wellKnownCACertificates"`
	Hostname                string           `json:"hostname"`
	SubjectAltNames         []struct {
		Type     string `json:"type"`
		Hostname string `json:"hostname"`
		URI      string `json:"uri"`
	} `json:"subjectAltNames"`
}

// BackendTLSPolicy judges a gateway.networking.k8s.io/v1 BackendTLSPolicy labelled with the
// selector: what NGF marks Invalid, and the aigw server certificate nginx will meet with the
// directives NGF renders. Unlabelled BackendTLSPolicies are not judged.
func BackendTLSPolicy(raw []byte, namespace string, s aigw.Settings, objs objects.Objects, now time.Time) (Findings, error) {
	var p backendTLSPolicy
	if err := objects.Decode(raw, &p); err != nil {
		return nil, fmt.Errorf("decoding BackendTLSPolicy: %w", err)
	}
	if !s.Selected(p.Metadata.Labels) {
		return nil, nil
	}
	namespace = p.Metadata.In(namespace)
	c := &collector{obj: p.Metadata.Ref("BackendTLSPolicy", namespace)}
	v := p.Spec.Validation

	// backend_tls_policy.go validateBackendTLSHostname → validation.go validateHostname.
	hostnameValid := true
	if msg := ngfHostname(v.Hostname); msg != "" {
		hostnameValid = false
		c.add(BTPHostnameInvalid, Finding{Field: "spec.validation.hostname", Expected: "a DNS-1123 subdomain (the name the aigw server certificate covers)",
			Found: fmt.Sprintf("%q: %s", v.Hostname, msg), Fix: "set hostname to the aigw Service's DNS name in lower case, for example aigw.ai-gateway.svc.cluster.local"})
	}
	if len(v.SubjectAltNames) > 0 {
		// NGF differs from the Gateway API spec here: the spec verifies the certificate against
		// subjectAltNames instead of hostname, but NGF renders only proxy_ssl_name <hostname>
		// (dataplane/configuration.go convertBackendTLS reads Validation.Hostname alone).
		c.add(BTPSubjectAltNamesUnused, Finding{Field: "spec.validation.subjectAltNames",
			Found: fmt.Sprintf("%d name(s), which NGF does not use", len(v.SubjectAltNames)),
			Fix:   "make sure hostname is a name the certificate covers; subjectAltNames may stay"})
	}

	checkBTPTargets(c, p, namespace, objs)
	trusted := checkBTPCA(c, v, objs, namespace, s, now)

	serverSecret := s.ServerTLSSecret
	if a := p.Metadata.Annotations[aigw.AnnotationServerTLSSecret]; a != "" {
		serverSecret = a
	}
	server := findServerCertificate(objs, namespace, serverSecret)
	if !tooLarge(c, "spec.validation (aigw server certificate)", server.source+" tls.crt", server.parseErr, serverChainFix) && server.err != "" {
		c.add(ServerCertUnreadable, Finding{Field: "spec.validation (aigw server certificate)", Expected: "a readable certificate in " + server.source,
			Found: server.err, Fix: "re-issue the server certificate"})
	}
	if hostnameValid {
		checkServerName(c, "spec.validation.hostname", "hostname", v.Hostname, server, BTPHostnameNotInSAN)
	}
	if server.leaf != nil && server.issued {
		checkBTPServerChain(c, server, trusted, now)
	}
	return c.out, nil
}

// ngfHostname is NGF's validateHostname (internal/controller/state/graph/validation.go): not
// empty, a DNS-1123 subdomain, or a wildcard one when it starts with "*.".
func ngfHostname(h string) string {
	if h == "" {
		return "cannot be empty string"
	}
	if strings.HasPrefix(h, "*.") {
		return strings.Join(validation.IsWildcardDNS1123Subdomain(h), ",")
	}
	return strings.Join(validation.IsDNS1123Subdomain(h), ",")
}

// checkBTPCA judges caCertificateRefs/wellKnownCACertificates as NGF resolves them
// (backend_tls_policy.go validateBackendTLSPolicy, validateBackendTLSCACertRef) and returns the
// CA certificates nginx will trust.
func checkBTPCA(c *collector, v btpValidation, objs objects.Objects, namespace string, s aigw.Settings, now time.Time) []*x509.Certificate {
	field := "spec.validation.caCertificateRefs"
	useCA := fmt.Sprintf("caCertificateRefs: [{group: \"\", kind: ConfigMap, name: %s}] (the ConfigMap the CA sync keeps), or label the policy and let the webhook add it", s.CASecret)
	refs, wk := v.CACertificateRefs, v.WellKnownCACertificates
	switch {
	case len(refs) > 0 && wk != nil:
		c.add(BTPCABoth, Finding{Field: "spec.validation", Expected: "either caCertificateRefs or wellKnownCACertificates",
			Found: "both", Fix: "remove wellKnownCACertificates"})
		return nil
	case wk != nil && *wk != "System":
		// validateBackendTLSWellKnownCACerts.
		c.add(BTPWellKnownCAInvalid, Finding{Field: "spec.validation.wellKnownCACertificates", Expected: "System (the only value NGF supports)",
			Found: fmt.Sprintf("%q", *wk), Fix: "replace it with " + useCA})
		return nil
	case wk != nil:
		// Stricter than NGF: convertBackendTLS then renders the image's public roots
		// (AlpineSSLRootCAPath), which never hold the CA that issued aigw's certificate.
		c.add(BTPWellKnownCAPublic, Finding{Field: "spec.validation.wellKnownCACertificates", Expected: "caCertificateRefs naming the CA that issued the aigw server certificate",
			Found: "System (the public roots of the NGINX image)", Fix: "replace it with " + useCA})
		return nil
	case len(refs) == 0:
		c.add(BTPCARefMissing, Finding{Field: field, Expected: "one reference to the CA that issued the aigw server certificate", Found: "none", Fix: "set " + useCA})
		return nil
	case len(refs) > 1:
		// validateBackendTLSCACertRef: NGF supports exactly one reference.
		c.add(BTPCARefMultiple, Finding{Field: field, Expected: "exactly one reference (NGF supports one)",
			Found: fmt.Sprintf("%d references", len(refs)), Fix: "keep only the reference to the aigw CA"})
		return nil
	}
	ref := refs[0]
	field += "[0]"
	if ref.Kind != "ConfigMap" && ref.Kind != "Secret" {
		c.add(BTPCARefKind, Finding{Field: field + ".kind", Expected: "ConfigMap or Secret", Found: fmt.Sprintf("%q", ref.Kind), Fix: "set " + useCA})
		return nil
	}
	if ref.Group != "" && ref.Group != "core" {
		c.add(BTPCARefGroup, Finding{Field: field + ".group", Expected: "\"\" (or core)", Found: fmt.Sprintf("%q", ref.Group), Fix: "set group: \"\""})
		return nil
	}
	what := fmt.Sprintf("%s %s/%s", ref.Kind, namespace, ref.Name)
	var bundle []byte
	memo := ""
	if ref.Kind == "ConfigMap" {
		// internal/controller/state/resolver/configmaps.go validate: data or binaryData ca.crt.
		raw, ok := objects.Get(objs, "ConfigMap", namespace, ref.Name)
		if !ok {
			c.add(BTPCANotFound, Finding{Field: field, Found: what + " not found yet",
				Fix: "let the CA sync keep it (chart: gatewayAPI.enabled), or apply it labelled " + s.SelectorKey + "=" + s.SelectorValue + " (the webhook reads labelled ConfigMaps only)"})
			return nil
		}
		var cm struct {
			Metadata   objects.Meta      `json:"metadata"`
			Data       map[string]string `json:"data"`
			BinaryData map[string][]byte `json:"binaryData"`
		}
		if err := objects.Decode(raw, &cm); err != nil {
			c.add(BTPCAUnreadable, Finding{Field: field, Expected: "a readable ConfigMap", Found: err.Error(), Fix: "recreate the ConfigMap"})
			return nil
		}
		if rv := cm.Metadata.ResourceVersion; rv != "" {
			memo = "ConfigMap " + namespace + "/" + ref.Name + "/ca.crt@" + rv
		}
		if d, ok := cm.BinaryData["ca.crt"]; ok {
			bundle = d
		} else if d, ok := cm.Data["ca.crt"]; ok {
			bundle = []byte(d)
		} else {
			c.add(BTPCANoCACrt, Finding{Field: field, Expected: what + " with key ca.crt (data or binaryData)",
				Found: "no key ca.crt", Fix: "store the PEM CA certificate under ca.crt"})
			return nil
		}
	} else {
		// internal/controller/state/resolver/secrets.go validate: a BackendTLSPolicy resolves its
		// Secret without an expected key, so only kubernetes.io/tls Secrets are supported.
		sec, found, err := lookupSecret(objs, namespace, ref.Name)
		switch {
		case notCheckable(c, field, what, err):
			return nil
		case err != nil:
			c.add(BTPCAUnreadable, Finding{Field: field, Expected: "a readable Secret", Found: err.Error(), Fix: "recreate the Secret"})
			return nil
		case !found:
			c.add(BTPCANotFound, Finding{Field: field, Found: what + " not found yet", Fix: "apply it, or use " + useCA})
			return nil
		case sec.Type != "kubernetes.io/tls":
			c.add(BTPCASecretType, Finding{Field: field, Expected: what + " of type kubernetes.io/tls, or a ConfigMap (NGF: unsupported secret type)",
				Found: "type " + sec.Type, Fix: "use " + useCA})
			return nil
		}
		if why := sec.keyMismatch(); why != "" {
			// secrets.go validate → ValidateTLS: tls.key must be the key of tls.crt.
			c.add(BTPCASecretKeyMismatch, Finding{Field: field, Expected: what + " whose tls.key is the private key of tls.crt (NGF ValidateTLS)",
				Found: why, Fix: "use " + useCA})
			return nil
		}
		d, ok := sec.Data["ca.crt"]
		if !ok {
			// Stricter than NGF, which accepts the Secret and trusts an empty bundle.
			c.add(BTPCASecretNoCACrt, Finding{Field: field, Expected: what + " with key ca.crt", Found: "no key ca.crt", Fix: "use " + useCA})
			return nil
		}
		bundle, memo = d, sec.memo("ca.crt")
	}
	// shared/secrets/secrets.go ValidateCA: the first PEM block must be a CERTIFICATE that parses.
	bundle = ngfCAData(bundle)
	if found := notCertificateFirst(bundle); found != "" {
		c.add(BTPCANotCertificate, Finding{Field: field, Expected: what + " whose ca.crt starts with a PEM CERTIFICATE block (NGF ValidateCA)",
			Found: found, Fix: "store the PEM CA certificate first under ca.crt"})
		return nil
	}
	trusted, fs, _ := CABundle(c.obj, field, memo, bundle, now)
	c.out = append(c.out, fs...)
	return trusted
}

// ngfCAData is the ca.crt NGF validates and hands nginx: NGF v2.6.7
// internal/controller/state/graph/shared/secrets/secrets.go ValidateCA and
// dataplane/configuration.go getCertRefBundleData both decode it as base64 first and use the
// decoded bytes when that succeeds (PEM text never does: '-' is outside the alphabet).
func ngfCAData(bundle []byte) []byte {
	data := make([]byte, base64.StdEncoding.DecodedLen(len(bundle)))
	n, err := base64.StdEncoding.Decode(data, bundle)
	if err != nil {
		return bundle
	}
	return data[:n]
}

// ngfDepth judges the chain's intermediates against proxy_ssl_verify_depth 4, which NGF always
// renders (servers_template.go).
func ngfDepth(field string) tooDeep {
	return func(c *collector, n int) bool {
		if n <= ngfVerifyDepth {
			return false
		}
		c.add(BTPServerChainTooDeep, Finding{Field: field, Expected: fmt.Sprintf("at most %d intermediate CAs between the server certificate and the root (NGF renders proxy_ssl_verify_depth %d)", ngfVerifyDepth, ngfVerifyDepth),
			Found: fmt.Sprint(n), Fix: "issue the server certificate from a CA closer to the root"})
		return true
	}
}

func checkBTPServerChain(c *collector, server serverCert, trusted []*x509.Certificate, now time.Time) {
	field := "spec.validation (aigw server certificate)"
	fs, _ := serverCertificate(c.obj, field, append([]*x509.Certificate{server.leaf}, server.pool...), server.source, trusted, "caCertificateRefs", ngfDepth(field), now)
	c.out = append(c.out, fs...)
}

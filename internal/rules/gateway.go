package rules

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

type gateway struct {
	Metadata objects.Meta `json:"metadata"`
	Spec     struct {
		TLS *struct {
			Backend *struct {
				ClientCertificateRef *struct {
					Group     *string `json:"group"`
					Kind      *string `json:"kind"`
					Name      string  `json:"name"`
					Namespace *string `json:"namespace"`
				} `json:"clientCertificateRef"`
			} `json:"backend"`
		} `json:"tls"`
	} `json:"spec"`
}

// Gateway judges the backend client certificate of a gateway.networking.k8s.io/v1 Gateway
// labelled with the selector (spec.tls.backend.clientCertificateRef, Gateway API ≥ v1.4): NGF
// renders it as proxy_ssl_certificate for every backend of the Gateway, and aigw requires it.
// Unlabelled Gateways are not judged.
func Gateway(raw []byte, namespace string, s aigw.Settings, objs objects.Objects, now time.Time) (Findings, error) {
	var g gateway
	if err := objects.Decode(raw, &g); err != nil {
		return nil, fmt.Errorf("decoding Gateway: %w", err)
	}
	if !s.Selected(g.Metadata.Labels) {
		return nil, nil
	}
	namespace = g.Metadata.In(namespace)
	c := &collector{obj: g.Metadata.Ref("Gateway", namespace)}
	field := "spec.tls.backend.clientCertificateRef"
	if g.Spec.TLS == nil || g.Spec.TLS.Backend == nil || g.Spec.TLS.Backend.ClientCertificateRef == nil {
		c.add(GatewayClientCertMissing, Finding{Field: field, Expected: "the client certificate Secret (kubernetes.io/tls) aigw requires for mTLS",
			Found: "none", Fix: fmt.Sprintf("set spec.tls.backend.clientCertificateRef: {name: %s} (a Secret in the Gateway's namespace)", s.ClientTLSSecret)})
		return c.out, nil
	}
	ref := g.Spec.TLS.Backend.ClientCertificateRef
	// internal/controller/state/graph/gateway.go validateGatewayTLSBackend: kind Secret, core group.
	if ref.Kind != nil && *ref.Kind != "Secret" {
		c.add(GatewayClientCertRefKind, Finding{Field: field + ".kind", Expected: "Secret", Found: fmt.Sprintf("%q", *ref.Kind), Fix: "set kind: Secret"})
		return c.out, nil
	}
	if ref.Group != nil && *ref.Group != "" && *ref.Group != "core" {
		c.add(GatewayClientCertRefGroup, Finding{Field: field + ".group", Expected: "\"\" (or core)", Found: fmt.Sprintf("%q", *ref.Group), Fix: "set group: \"\""})
		return c.out, nil
	}
	if ref.Namespace != nil && *ref.Namespace != "" && *ref.Namespace != namespace {
		// Another namespace's Secret needs a ReferenceGrant (validateGatewayTLSBackend), and the
		// webhook does not read across namespaces: nothing of it is checked.
		c.add(GatewayClientCertOtherNamespace, Finding{Field: field + ".namespace",
			Found: "a Secret in another namespace, not checked", Fix: "keep the client certificate in the Gateway's namespace to have it checked"})
		return c.out, nil
	}
	checkGatewayClientSecret(c, field, objs, namespace, ref.Name, s, now)
	return c.out, nil
}

// checkGatewayClientSecret judges the Secret as NGF resolves it (internal/controller/state/resolver/
// secrets.go validate: kubernetes.io/tls with a matching key pair, and a ca.crt that ValidateCA
// accepts when present) and as aigw verifies it (ClientCertificate).
func checkGatewayClientSecret(c *collector, field string, objs objects.Objects, namespace, name string, s aigw.Settings, now time.Time) {
	ref := fmt.Sprintf("Secret %s/%s", namespace, name)
	sec, found, err := lookupSecret(objs, namespace, name)
	switch {
	case notCheckable(c, field, ref, err):
		return
	case err != nil:
		c.add(GatewaySecretUnreadable, Finding{Field: field, Expected: "a readable Secret", Found: err.Error(), Fix: "recreate the Secret"})
		return
	case !found:
		c.add(GatewaySecretNotFound, Finding{Field: field, Found: ref + " not found yet",
			Fix: "issue the client Certificate (cert-manager: spec.secretName " + name + ")"})
		return
	case sec.Type != "kubernetes.io/tls":
		c.add(GatewaySecretType, Finding{Field: field, Expected: ref + " of type kubernetes.io/tls",
			Found: "type " + sec.Type, Fix: "issue the client certificate with cert-manager (it writes kubernetes.io/tls) or recreate the Secret with kubectl create secret tls"})
		return
	}
	chain, err := sec.certificates("tls.crt")
	if tooLarge(c, field, ref+" tls.crt", err, clientChainFix) {
		return
	}
	if err != nil {
		c.add(GatewaySecretNoCertificate, Finding{Field: field, Expected: ref + " with a PEM certificate under tls.crt (NGF ValidateTLS)",
			Found: err.Error(), Fix: "re-issue the client certificate"})
		return
	}
	if why := sec.keyMismatch(); why != "" {
		c.add(GatewaySecretKeyMismatch, Finding{Field: field, Expected: ref + " whose tls.key is the private key of tls.crt (NGF ValidateTLS)",
			Found: why, Fix: "re-issue the client certificate (cert-manager writes both keys together), or put the matching key in tls.key"})
	}
	var roots []*x509.Certificate
	rootsName := fmt.Sprintf("Secret %s/%s", namespace, s.CASecret)
	if ca, found, err := lookupSecret(objs, namespace, s.CASecret); err == nil && found {
		if roots, err = ca.certificates(s.CAKey); err != nil {
			c.add(ClientChainNotChecked, Finding{Field: field, Found: fmt.Sprintf("cannot check the client certificate's chain: %s: %v", rootsName, err)})
		}
	} else {
		c.add(ClientChainNotChecked, Finding{Field: field, Found: fmt.Sprintf("cannot check the client certificate's chain yet: the CA Secret aigw trusts (%s) is not found", rootsName),
			Fix: "keep the Gateway and its client certificate in the namespace of the aigw PKI, where the CA sync keeps " + s.CASecret})
	}
	fs, _ := ClientCertificate(c.obj, field, chain, roots, rootsName, now)
	for _, f := range fs {
		// Every error ClientCertificate reports is one aigw refuses the certificate for.
		if f.Severity == Error {
			f.Consequence = AigwRefusesGateway
		}
		c.out = append(c.out, f)
	}
}

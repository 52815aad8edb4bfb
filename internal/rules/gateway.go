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
		c.refuse(field, "the client certificate Secret (kubernetes.io/tls) aigw requires for mTLS", "none", AigwRefusesGateway,
			fmt.Sprintf("set spec.tls.backend.clientCertificateRef: {name: %s} (a Secret in the Gateway's namespace)", s.ClientTLSSecret))
		return c.out, nil
	}
	ref := g.Spec.TLS.Backend.ClientCertificateRef
	// internal/controller/state/graph/gateway.go validateGatewayTLSBackend: kind Secret, core group.
	if ref.Kind != nil && *ref.Kind != "Secret" {
		c.refuse(field+".kind", "Secret", fmt.Sprintf("%q", *ref.Kind), GatewayRefBad, "set kind: Secret")
		return c.out, nil
	}
	if ref.Group != nil && *ref.Group != "" && *ref.Group != "core" {
		c.refuse(field+".group", "\"\" (or core)", fmt.Sprintf("%q", *ref.Group), GatewayRefBad, "set group: \"\"")
		return c.out, nil
	}
	if ref.Namespace != nil && *ref.Namespace != "" && *ref.Namespace != namespace {
		// Another namespace's Secret needs a ReferenceGrant (validateGatewayTLSBackend), and the
		// webhook does not read across namespaces: nothing of it is checked.
		c.warn(field+".namespace", "a Secret in another namespace, not checked",
			"NGF uses it only when a ReferenceGrant in that namespace allows the Gateway", "keep the client certificate in the Gateway's namespace to have it checked")
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
		c.refuse(field, "a readable Secret", err.Error(), GatewayRefBad, "recreate the Secret")
		return
	case !found:
		c.warn(field, ref+" not found yet", GatewayRefBad+" until it exists", "issue the client Certificate (cert-manager: spec.secretName "+name+")")
		return
	case sec.Type != "kubernetes.io/tls":
		c.refuse(field, ref+" of type kubernetes.io/tls", "type "+sec.Type, GatewayRefBad,
			"issue the client certificate with cert-manager (it writes kubernetes.io/tls) or recreate the Secret with kubectl create secret tls")
		return
	}
	chain, err := sec.certificates("tls.crt")
	if tooLarge(c, field, ref+" tls.crt", err, clientChainFix) {
		return
	}
	if err != nil {
		c.refuse(field, ref+" with a PEM certificate under tls.crt (NGF ValidateTLS)", err.Error(), GatewayRefBad, "re-issue the client certificate")
		return
	}
	if why := sec.keyMismatch(); why != "" {
		c.refuse(field, ref+" whose tls.key is the private key of tls.crt (NGF ValidateTLS)", why, GatewayRefBad,
			"re-issue the client certificate (cert-manager writes both keys together), or put the matching key in tls.key")
	}
	var roots []*x509.Certificate
	rootsName := fmt.Sprintf("Secret %s/%s", namespace, s.CASecret)
	if ca, found, err := lookupSecret(objs, namespace, s.CASecret); err == nil && found {
		if roots, err = ca.certificates(s.CAKey); err != nil {
			c.warn(field, fmt.Sprintf("cannot check the client certificate's chain: %s: %v", rootsName, err), NotCheckedYet, "")
		}
	} else {
		c.warn(field, fmt.Sprintf("cannot check the client certificate's chain yet: the CA Secret aigw trusts (%s) is not found", rootsName), NotCheckedYet,
			"keep the Gateway and its client certificate in the namespace of the aigw PKI, where the CA sync keeps "+s.CASecret)
	}
	fs, _ := ClientCertificate(c.obj, field, chain, roots, rootsName, now)
	for _, f := range fs {
		if f.Consequence == AigwRefuses {
			f.Consequence = AigwRefusesGateway
		}
		c.out = append(c.out, f)
	}
}

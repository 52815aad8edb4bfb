package rules

import (
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
	checkClientCertSecret(c, field, objs, namespace, ref.Name, s, now, gatewayClientSecret)
	return c.out, nil
}

// gatewayClientSecret: the Secret as NGF resolves it (internal/controller/state/resolver/secrets.go
// validate: kubernetes.io/tls with a matching key pair) and as aigw verifies it.
var gatewayClientSecret = clientSecretRules{
	unreadable: GatewaySecretUnreadable, notFound: GatewaySecretNotFound, typ: GatewaySecretType, noCert: GatewaySecretNoCertificate, keyMismatch: GatewaySecretKeyMismatch,
	unreadableFix: "recreate the Secret",
	notFoundFix:   "issue the client Certificate (cert-manager: spec.secretName %s)",
	noCertFix:     "re-issue the client certificate",
	validator:     "NGF ValidateTLS",
	chainFix:      "keep the Gateway and its client certificate in the namespace of the aigw PKI, where the CA sync keeps %s",
	refused:       AigwRefusesGateway,
}

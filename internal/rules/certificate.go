package rules

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/certs"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// Certificate refuses a cert-manager Certificate update that would issue the aigw server
// certificate without a name that a live Policy's sslName needs: after the renewal nginx's host
// check fails. A new Certificate breaks nothing that works today and is only warned about. Only
// labelled Certificates whose secretName is the aigw server TLS Secret are judged.
func Certificate(raw, oldRaw []byte, namespace string, s aigw.Settings, objs objects.Objects, now time.Time) (Findings, error) {
	var crt certificate
	if err := objects.Decode(raw, &crt); err != nil {
		return nil, fmt.Errorf("decoding Certificate: %w", err)
	}
	if !s.Selected(crt.Metadata.Labels) || crt.Spec.SecretName != s.ServerTLSSecret {
		return nil, nil
	}
	namespace = crt.Metadata.In(namespace)
	// What the Policies match today: the issued Secret, else the previous spec.
	current := findServerCertificate(objs, namespace, crt.Spec.SecretName).leaf
	if current == nil && oldRaw != nil {
		var old certificate
		if err := objects.Decode(oldRaw, &old); err == nil {
			current = old.template()
		}
	}
	next := crt.template()
	var broken, needed []string
	for _, praw := range objects.List(objs, "Policy", namespace) {
		p, err := decodePolicy(praw)
		if err != nil || p.egress == nil || !p.egress.VerifyServer || p.egress.SSLName == "" {
			continue
		}
		name := p.egress.SSLName
		if certs.CheckHost(next, name) || (current != nil && !certs.CheckHost(current, name)) {
			continue
		}
		broken = append(broken, fmt.Sprintf("Policy/%s/%s (sslName %s)", namespace, p.Metadata.Name, name))
		needed = append(needed, name)
	}
	if len(broken) == 0 {
		return nil, nil
	}
	sort.Strings(broken)
	sort.Strings(needed)
	rule := CertificateDropsSSLName
	if oldRaw == nil {
		rule = CertificateMissesSSLName
	}
	return Findings{rule.New(Finding{
		Object: crt.Metadata.Ref("Certificate", namespace), Field: "spec.dnsNames",
		Expected: "names covering the sslName of every Policy that uses this certificate: " + strings.Join(broken, ", "),
		Found:    fmt.Sprintf("[%s]", strings.Join(crt.Spec.DNSNames, ", ")),
		Fix:      fmt.Sprintf("keep %s in spec.dnsNames, or change those Policies' sslName first", strings.Join(needed, ", ")),
	})}, nil
}

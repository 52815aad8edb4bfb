package nginx_test

import (
	"testing"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/tools"
)

// chartVariants are the seed's Policy with certificates issued, as cert-manager would, from the
// Certificates and Issuers the Helm chart renders with its default values: the proof that what
// the chart installs gives a working mTLS hop through real nginx.
func chartVariants(t *testing.T) []variant {
	tools.Helm.Need(t)
	objs, err := harness.RenderChart("aigw-mtls-webhook", "aigw-mtls-system")
	if err != nil {
		t.Fatal(err)
	}
	issued, _, err := harness.IssueCertificates(objs)
	if err != nil {
		t.Fatal(err)
	}
	server, client, ca := issued[namespace+"/aigw-server-tls"], issued[namespace+"/aigw-nic-client-tls"], issued[namespace+"/aigw-ca"]
	if server == nil || client == nil || ca == nil {
		t.Fatalf("the chart's PKI in %s lacks aigw-server-tls, aigw-nic-client-tls or aigw-ca", namespace)
	}
	asCert := func(i *harness.Issued) *cert { return &cert{x509: i.Cert, der: i.Cert.Raw, key: i.Key} }
	return []variant{{
		name: "chart PKI (cert-manager Certificates of the chart)",
		build: func(*fixtures) setup {
			return setup{
				policy:      seedPolicy(),
				serverChain: []*cert{asCert(server)},
				clientChain: []*cert{asCert(client)},
				ca:          []*cert{asCert(ca)},
			}
		},
		ok: true,
	}}
}

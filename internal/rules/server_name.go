package rules

import (
	"fmt"
	"strings"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/certs"
)

// checkServerName judges the name nginx verifies the aigw server certificate against
// (proxy_ssl_name: a Policy's sslName, a BackendTLSPolicy's hostname) as nginx's OpenSSL
// X509_check_host does. key names the field in the fix; notInSAN is the side's rule.
func checkServerName(c *collector, field, key, name string, server serverCert, notInSAN Def) {
	switch {
	case server.withheld != "":
		c.add(ObjectNotCheckable, Finding{Field: field, Found: fmt.Sprintf("the aigw server certificate (%s) cannot be checked: %s", server.source, server.withheld)})
		return
	case server.err != "":
		return // refused where the certificate is read
	case server.leaf == nil:
		c.add(ServerCertNotFound, Finding{Field: field, Found: fmt.Sprintf("cannot be checked yet: neither %s nor a cert-manager Certificate with that secretName exists", server.source)})
		return
	case certs.CheckHost(server.leaf, name):
		return
	}
	names := certs.HostNames(server.leaf)
	c.add(notInSAN, Finding{Field: field,
		Expected: fmt.Sprintf("a name the aigw server certificate (%s) covers as nginx checks it, one of [%s]", server.source, strings.Join(names, ", ")),
		Found:    fmt.Sprintf("%q", name),
		Fix:      fmt.Sprintf("set %s to %s, or add %q to the server certificate's dnsNames", key, quoteFirst(names), name)})
}

package checker

import (
	"fmt"
	"strings"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/ingress"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
	"github.com/aigw-mtls/aigw-mtls-webhook/patches"
)

// checkIngresses: each labelled Ingress is wired — its aigw Services are in nginx.org/ssl-services
// and the EgressMTLS Policy is in nginx.org/policies, so that admitting it again would change
// nothing — and passes the webhook's Ingress rules (NIC's annotation validation and the Policies it
// references), judged exactly as admission judges it.
func checkIngresses(s *snapshot, ns string) []Check {
	l := newLines(SectionIngresses, ns)
	for _, i := range s.in.ingresses[ns] {
		ing := &s.ingresses[i]
		obj := ref("Ingress", ns, ing.Name)
		raw := rawTyped(ing, "networking.k8s.io/v1", "Ingress")
		res, err := patches.PatchIngress(raw, ns, s.o.Settings, s.objs)
		if err != nil {
			l.fail(obj, "cannot be read: "+err.Error(), "correct its spec")
			continue
		}
		res.Findings = rules.Silence(raw, res.Findings)
		l.result(obj, res)
		l.findings(obj, "", "", res.Unwired)
		if !res.Wired() {
			continue
		}
		fs, err := rules.Ingress(raw, ns, s.o.Settings, s.objs, s.o.Now)
		if err != nil {
			l.fail(obj, "cannot be read: "+err.Error(), "correct its spec")
			continue
		}
		fs = rules.Silence(raw, fs)
		for _, f := range fs {
			// A finding about a referenced Policy names where the Ingress references it.
			prefix := ""
			if f.Object != obj {
				prefix = strings.TrimPrefix(f.Object, obj+": ") + ": "
			}
			l.findings(obj, prefix, "", rules.Findings{f})
		}
		if len(fs.Errors()) == 0 && ing.Annotations[ingress.AnnotationMergeableType] != string(ingress.Master) {
			l.ok(obj, fmt.Sprintf("%s: %s; %s: %s", ingress.AnnotationSSLServices, ing.Annotations[ingress.AnnotationSSLServices],
				ingress.AnnotationPolicies, ing.Annotations[ingress.AnnotationPolicies]))
		}
	}
	return l.out
}

package patches

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// Validation is the signature the validations share: raw is the object admitted, oldRaw the object
// it replaces (nil on CREATE).
type Validation func(raw, oldRaw []byte, namespace string, s aigw.Settings, objs objects.Objects, now time.Time) (Result, error)

// ValidationFor returns the validation for an object's apiVersion and kind, or nil.
func ValidationFor(apiVersion, kind string) Validation {
	switch apiVersion + " " + kind {
	case "k8s.nginx.org/v1 Policy":
		return func(raw, _ []byte, ns string, s aigw.Settings, objs objects.Objects, now time.Time) (Result, error) {
			return ValidatePolicy(raw, ns, s, objs, now)
		}
	case "k8s.nginx.org/v1 VirtualServer":
		return func(raw, _ []byte, ns string, s aigw.Settings, objs objects.Objects, now time.Time) (Result, error) {
			return ValidateVirtualServer(raw, ns, s, objs, now)
		}
	case "cert-manager.io/v1 Certificate":
		return ValidateCertificate
	}
	return nil
}

type policyRef struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

type vsRoutesView struct {
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		Routes []struct {
			Path     string      `json:"path"`
			Policies []policyRef `json:"policies"`
		} `json:"routes"`
	} `json:"spec"`
}

// ValidateVirtualServer validates the egressMTLS Policies a labelled VirtualServer references,
// whether or not the Policies carry the label themselves.
func ValidateVirtualServer(raw []byte, namespace string, s aigw.Settings, objs objects.Objects, now time.Time) (Result, error) {
	var vs vsRoutesView
	if err := json.Unmarshal(raw, &vs); err != nil {
		return Result{}, fmt.Errorf("decoding VirtualServer: %w", err)
	}
	if !s.Selected(vs.Metadata.Labels) {
		return Result{}, nil
	}
	if vs.Metadata.Namespace != "" {
		namespace = vs.Metadata.Namespace
	}
	obj := vs.Metadata.ref("VirtualServer", namespace)
	var res Result
	seen := map[string]bool{}
	for i, r := range vs.Spec.Routes {
		for _, ref := range r.Policies {
			ns := ref.Namespace
			if ns == "" {
				ns = namespace
			}
			key := ns + "/" + ref.Name
			if seen[key] {
				continue
			}
			seen[key] = true
			praw, ok := objects.Get(objs, "Policy", ns, ref.Name)
			if !ok {
				if objs != nil {
					res.Warnings = append(res.Warnings, fmt.Sprintf("%s: spec.routes[%d].policies: Policy %s not found yet: NIC ignores the route's policies until it exists", obj, i, key))
				}
				continue
			}
			var p policyView
			if err := json.Unmarshal(praw, &p); err != nil {
				return Result{}, fmt.Errorf("decoding Policy %s: %w", key, err)
			}
			pr := validatePolicy(p, ns, s, objs, now)
			for _, c := range pr.Conflicts {
				res.Conflicts = append(res.Conflicts, fmt.Sprintf("%s: spec.routes[%d] (path %s) references %s", obj, i, r.Path, c))
			}
			for _, w := range pr.Warnings {
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s: spec.routes[%d] references %s", obj, i, w))
			}
		}
	}
	return res, nil
}

// ValidateCertificate refuses a cert-manager Certificate update that would issue the aigw server
// certificate without a name that a live Policy's sslName needs. Only Certificates whose
// secretName is the aigw server TLS Secret are checked.
func ValidateCertificate(raw, oldRaw []byte, namespace string, s aigw.Settings, objs objects.Objects, now time.Time) (Result, error) {
	var c certificateView
	if err := json.Unmarshal(raw, &c); err != nil {
		return Result{}, fmt.Errorf("decoding Certificate: %w", err)
	}
	if !s.Selected(c.Metadata.Labels) || c.Spec.SecretName != s.ServerTLSSecret {
		return Result{}, nil
	}
	if c.Metadata.Namespace != "" {
		namespace = c.Metadata.Namespace
	}
	obj := c.Metadata.ref("Certificate", namespace)
	// What the Policies match today: the issued Secret, else the previous spec.
	current := findServerCertificate(objs, namespace, c.Spec.SecretName).leaf
	if current == nil && oldRaw != nil {
		var old certificateView
		if err := json.Unmarshal(oldRaw, &old); err == nil {
			current = old.template()
		}
	}
	next := c.template()
	var broken []string
	var needed []string
	for _, praw := range objects.List(objs, "Policy", namespace) {
		var p policyView
		if json.Unmarshal(praw, &p) != nil || p.Spec.EgressMTLS == nil || !p.Spec.EgressMTLS.VerifyServer || p.Spec.EgressMTLS.SSLName == "" {
			continue
		}
		name := p.Spec.EgressMTLS.SSLName
		if CheckHost(next, name) || (current != nil && !CheckHost(current, name)) {
			continue
		}
		broken = append(broken, fmt.Sprintf("Policy/%s/%s (sslName %s)", namespace, p.Metadata.Name, name))
		needed = append(needed, name)
	}
	if len(broken) == 0 {
		return Result{}, nil
	}
	sort.Strings(broken)
	sort.Strings(needed)
	msg := conflict(obj, "spec.dnsNames", "names covering the sslName of every Policy that uses this certificate: "+strings.Join(broken, ", "),
		fmt.Sprintf("[%s]", strings.Join(c.Spec.DNSNames, ", ")),
		fmt.Sprintf("keep %s in spec.dnsNames, or change those Policies' sslName first", strings.Join(needed, ", ")))
	if oldRaw == nil {
		// A new Certificate breaks nothing that works today: warn.
		return Result{Warnings: []string{msg}}, nil
	}
	return Result{Conflicts: []string{msg}}, nil
}

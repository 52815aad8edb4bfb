package nginx_test

import (
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/patches"
)

// validation is the validator's answer for one variant.
type validation struct {
	conflicts []string
	warnings  []string
}

// validate runs the webhook's Policy validation on the variant's objects: the Policy as NIC saw it
// and the namespace's Secrets as the cluster holds them (kubernetes.io/tls Secrets with tls.key; a
// Secret the variant deletes is absent). Stripping private keys the way the webhook's cache does
// is left to the validator. This is the one place that calls the validator.
func validate(r *run, now time.Time) (validation, error) {
	objs := patches.NewObjectSet(namespace, r.objects...)
	res, err := patches.ValidatePolicy(r.policyJSON, namespace, patches.DefaultSettings(), objs, now)
	return validation{conflicts: res.Conflicts, warnings: res.Warnings}, err
}

package nginx_test

import (
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/patches"
)

// validation is the validator's answer for one variant.
type validation struct {
	conflicts []string
	warnings  []string
}

// validate runs the webhook's Policy validation on the variant's objects, as the webhook sees them
// (Secrets from the informer cache, without private keys).
func validate(r *run, now time.Time) (validation, error) {
	objs := objects.NewObjectSet(namespace, r.objects...)
	res, err := patches.ValidatePolicy(r.policyJSON, namespace, aigw.DefaultSettings(), objs, now)
	return validation{conflicts: res.Conflicts, warnings: res.Warnings}, err
}

package nginx_test

import (
	"encoding/json"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// validation is the validator's answer for one variant.
type validation struct {
	conflicts []string
	warnings  []string
}

// validate runs the webhook's Policy rules on the variant's objects, as the webhook sees them:
// Secrets through the cache's transform (private keys dropped, the key verdict recorded).
func validate(r *run, now time.Time) (validation, error) {
	objs := objects.NewObjectSet(namespace)
	for _, raw := range r.objects {
		objs.Add(namespace, cached(raw))
	}
	fs, err := rules.Policy(r.policyJSON, namespace, aigw.DefaultSettings(), objs, now)
	return validation{conflicts: fs.Errors(), warnings: fs.Warnings()}, err
}

func cached(raw []byte) []byte {
	var sec corev1.Secret
	if json.Unmarshal(raw, &sec) != nil || sec.Kind != "Secret" {
		return raw
	}
	obj, err := webhook.StripPrivateKeys(&sec)
	if err != nil {
		return raw
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return raw
	}
	return out
}

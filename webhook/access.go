package webhook

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// Access answers whether the user of an admission request may read a kind of object in a
// namespace, with a SubjectAccessReview: admission consults objects outside the request's
// namespace only for a user who could read them directly, so a tenant who references another
// namespace's Policy learns nothing about it that the API server would not tell them. Answers
// are cached for TTL (a reference checked on every apply must not cost a review each time).
type Access struct {
	Client client.Client // creates SubjectAccessReviews
	TTL    time.Duration
	Max    int // cached answers kept at most (the cache is emptied when full)
	Now    func() time.Time

	mu      sync.Mutex
	answers map[string]accessAnswer
}

type accessAnswer struct {
	allowed bool
	expires time.Time
}

// NewAccess caches answers for 10 s, at most 10000 of them.
func NewAccess(c client.Client) *Access {
	return &Access{Client: c, TTL: 10 * time.Second, Max: 10000}
}

// resources maps the kinds the rules read to their API group and resource.
var resources = map[string][2]string{
	"Policy":      {"k8s.nginx.org", "policies"},
	"Secret":      {"", "secrets"},
	"Certificate": {"cert-manager.io", "certificates"},
}

// MayRead is nil when user may get (and list) objects of kind in namespace, else the reason, which
// names only the user's own permission. A review that fails counts as a refusal.
func (a *Access) MayRead(ctx context.Context, user authenticationv1.UserInfo, kind, namespace string) error {
	gr, ok := resources[kind]
	if !ok {
		return fmt.Errorf("the webhook does not read %ss", kind)
	}
	if user.Username == "" {
		return fmt.Errorf("the admission request names no user, and only a user who may list %s there gets them checked", gr[1])
	}
	key := accessKey(user, gr[0], gr[1], namespace)
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	a.mu.Lock()
	ans, cached := a.answers[key]
	a.mu.Unlock()
	if !cached || now().After(ans.expires) {
		allowed, err := a.review(ctx, user, gr[0], gr[1], namespace)
		if err != nil {
			log.FromContext(ctx).Info("SubjectAccessReview failed; the reference is not checked", "namespace", namespace, "resource", gr[1], "error", err.Error())
			return fmt.Errorf("whether the requesting user may list %s there could not be reviewed", gr[1])
		}
		ans = accessAnswer{allowed: allowed, expires: now().Add(a.TTL)}
		a.mu.Lock()
		if a.answers == nil || len(a.answers) >= a.Max {
			a.answers = map[string]accessAnswer{}
		}
		a.answers[key] = ans
		a.mu.Unlock()
	}
	if !ans.allowed {
		return fmt.Errorf("the requesting user %s may not list %s in namespace %s, and the webhook reads there only for users who may", user.Username, gr[1], namespace)
	}
	return nil
}

// review asks the API server whether user may list (which implies reading every object) the
// resource in namespace.
func (a *Access) review(ctx context.Context, user authenticationv1.UserInfo, group, resource, namespace string) (bool, error) {
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: namespace, Verb: "list", Group: group, Resource: resource},
	}}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := a.Client.Create(ctx, sar); err != nil {
		return false, err
	}
	return sar.Status.Allowed && !sar.Status.Denied, nil
}

func accessKey(user authenticationv1.UserInfo, group, resource, namespace string) string {
	groups := append([]string(nil), user.Groups...)
	sort.Strings(groups)
	var extra []string
	for k, v := range user.Extra {
		extra = append(extra, k+"="+strings.Join(v, ","))
	}
	sort.Strings(extra)
	return strings.Join([]string{user.Username, user.UID, strings.Join(groups, ","), strings.Join(extra, ";"), group, resource, namespace}, "\x00")
}

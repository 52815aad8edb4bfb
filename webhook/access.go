package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/lru"
)

// DefaultAccessAnswers is how many SubjectAccessReview answers are cached. An answer takes about
// 225 bytes of heap whatever the user's groups and extras (its key is a SHA-256 digest;
// BenchmarkAccessCacheEntry), so 4096 answers take about 900 KiB of the chart's 256 Mi memory
// limit, and hold one answer each for 4096 (user, kind, namespace) reads made within the TTL.
const DefaultAccessAnswers = 4096

// Access answers whether the user of an admission request may read a kind of object in a
// namespace, with a SubjectAccessReview: admission consults objects outside the request's
// namespace only for a user who could read them directly, so a tenant who references another
// namespace's Policy learns nothing about it that the API server would not tell them. Answers
// are cached for TTL (a reference checked on every apply must not cost a review each time), at
// most Max of them: past Max the least recently used answer is dropped.
type Access struct {
	Client client.Client // creates SubjectAccessReviews
	TTL    time.Duration
	Max    int // cached answers kept at most
	Now    func() time.Time

	once    sync.Once
	answers *lru.Cache[accessKey, accessAnswer]
	// inflight merges concurrent misses of one key into one review: a burst of requests from one
	// user naming one namespace costs one SubjectAccessReview, not one each.
	inflight singleflight.Group
}

type accessAnswer struct {
	allowed bool
	expires time.Time
}

// NewAccess caches answers for 10 s, at most DefaultAccessAnswers of them.
func NewAccess(c client.Client) *Access {
	return &Access{Client: c, TTL: 10 * time.Second, Max: DefaultAccessAnswers}
}

// MayRead is nil when user may get (and list) objects of kind in namespace, else the reason, which
// names only the user's own permission. A review that fails counts as a refusal.
func (a *Access) MayRead(ctx context.Context, user authenticationv1.UserInfo, kind, namespace string) error {
	// The kinds the rules read are the cached kinds of internal/kinds.
	k := kinds.Named(kind)
	if k == nil || k.Cache == nil {
		return fmt.Errorf("the webhook does not read %ss", clip(kind))
	}
	gr := [2]string{k.Group, k.Resource}
	if user.Username == "" {
		return fmt.Errorf("the admission request names no user, and only a user who may list %s there gets them checked", gr[1])
	}
	key := newAccessKey(user, gr[0], gr[1], namespace)
	allowed, cached := a.cached(key)
	if !cached {
		v, err, _ := a.inflight.Do(string(key[:]), func() (any, error) {
			// Not the first caller's cancellation: the callers merged into this review wait on it too.
			allowed, err := a.review(context.WithoutCancel(ctx), user, gr[0], gr[1], namespace)
			if err == nil {
				a.cache().Put(key, accessAnswer{allowed: allowed, expires: a.now().Add(a.TTL)}, 1)
			}
			return allowed, err
		})
		if err != nil {
			log.FromContext(ctx).Info("SubjectAccessReview failed; the reference is not checked", "namespace", clip(namespace), "resource", gr[1], "error", clip(err.Error()))
			return fmt.Errorf("whether the requesting user may list %s there could not be reviewed", gr[1])
		}
		allowed = v.(bool)
	}
	if !allowed {
		return fmt.Errorf("the requesting user %s may not list %s in namespace %s, and the webhook reads there only for users who may", clip(user.Username), gr[1], clip(namespace))
	}
	return nil
}

func (a *Access) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Access) cache() *lru.Cache[accessKey, accessAnswer] {
	a.once.Do(func() { a.answers = lru.New[accessKey, accessAnswer](int64(a.Max)) })
	return a.answers
}

// cached is the answer for key while it has not expired.
func (a *Access) cached(key accessKey) (allowed, ok bool) {
	ans, ok := a.cache().Get(key)
	if !ok {
		return false, false
	}
	if a.now().After(ans.expires) {
		a.cache().Remove(key)
		return false, false
	}
	return ans.allowed, true
}

// Len is the number of answers cached.
func (a *Access) Len() int {
	_, n := a.cache().Size()
	return n
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

// accessKey identifies one question to the API server: the SHA-256 of an encoding in which every
// string is length-prefixed and every list counted, so that two different identities never share
// a key (groups ["a,b"] and ["a", "b"], or extras whose values hold separators, stay apart), and
// the key's size does not grow with the user's groups and extras.
type accessKey [sha256.Size]byte

// newAccessKey encodes the user as the SubjectAccessReview sees it: groups as a set (sorted),
// extras by sorted key with each key's values in the order given.
func newAccessKey(user authenticationv1.UserInfo, group, resource, namespace string) accessKey {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	count := func(c int) { h.Write(n[:binary.PutUvarint(n[:], uint64(c))]) }
	str := func(s string) { count(len(s)); h.Write([]byte(s)) }
	str(user.Username)
	str(user.UID)
	groups := append([]string(nil), user.Groups...)
	sort.Strings(groups)
	count(len(groups))
	for _, g := range groups {
		str(g)
	}
	keys := make([]string, 0, len(user.Extra))
	for k := range user.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	count(len(keys))
	for _, k := range keys {
		str(k)
		count(len(user.Extra[k]))
		for _, v := range user.Extra[k] {
			str(v)
		}
	}
	str(group)
	str(resource)
	str(namespace)
	var key accessKey
	h.Sum(key[:0])
	return key
}

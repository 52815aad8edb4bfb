package webhook

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
)

// DefaultAccessAnswers is how many SubjectAccessReview answers are cached. An answer takes about
// 210 bytes of heap whatever the user's groups and extras (its key is a SHA-256 digest;
// BenchmarkAccessCacheEntry), so 4096 answers take about 850 KiB of the chart's 256 Mi memory
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

	mu      sync.Mutex
	answers map[accessKey]*list.Element // of *accessAnswer, in lru
	lru     list.List                   // most recently used first
}

type accessAnswer struct {
	key     accessKey
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
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	allowed, cached := a.cached(key, now())
	if !cached {
		var err error
		allowed, err = a.review(ctx, user, gr[0], gr[1], namespace)
		if err != nil {
			log.FromContext(ctx).Info("SubjectAccessReview failed; the reference is not checked", "namespace", clip(namespace), "resource", gr[1], "error", clip(err.Error()))
			return fmt.Errorf("whether the requesting user may list %s there could not be reviewed", gr[1])
		}
		a.store(key, allowed, now().Add(a.TTL))
	}
	if !allowed {
		return fmt.Errorf("the requesting user %s may not list %s in namespace %s, and the webhook reads there only for users who may", clip(user.Username), gr[1], clip(namespace))
	}
	return nil
}

// cached is the answer for key while it has not expired.
func (a *Access) cached(key accessKey, now time.Time) (allowed, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.answers[key]
	if !ok {
		return false, false
	}
	ans := e.Value.(*accessAnswer)
	if now.After(ans.expires) {
		a.lru.Remove(e)
		delete(a.answers, key)
		return false, false
	}
	a.lru.MoveToFront(e)
	return ans.allowed, true
}

func (a *Access) store(key accessKey, allowed bool, expires time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.answers == nil {
		a.answers = map[accessKey]*list.Element{}
	}
	if e, ok := a.answers[key]; ok {
		ans := e.Value.(*accessAnswer)
		ans.allowed, ans.expires = allowed, expires
		a.lru.MoveToFront(e)
		return
	}
	for a.lru.Len() > 0 && a.lru.Len() >= a.Max {
		oldest := a.lru.Back()
		a.lru.Remove(oldest)
		delete(a.answers, oldest.Value.(*accessAnswer).key)
	}
	if a.Max <= 0 {
		return
	}
	a.answers[key] = a.lru.PushFront(&accessAnswer{key: key, allowed: allowed, expires: expires})
}

// Len is the number of answers cached.
func (a *Access) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lru.Len()
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

package webhook

import (
	"context"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

type listCountingCache struct {
	answeringCache
	lists, gets *int
}

func (c listCountingCache) List(ctx context.Context, l client.ObjectList, opts ...client.ListOption) error {
	*c.lists++
	return c.answeringCache.List(ctx, l, opts...)
}

func (c listCountingCache) Get(ctx context.Context, k client.ObjectKey, o client.Object, opts ...client.GetOption) error {
	*c.gets++
	return c.answeringCache.Get(ctx, k, o, opts...)
}

func teamRequest() admission.Request {
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{UID: "1", Namespace: "team"}}
}

// The rules list a namespace once per referenced object; one request lists each kind and
// namespace from the cache once, and the repeats cost no lookup.
func TestRequestListsEachNamespaceOnce(t *testing.T) {
	var lists, gets int
	o := &cacheObjects{reader: listCountingCache{lists: &lists, gets: &gets}, maxLookups: 5}
	v := o.ForRequest(context.Background(), teamRequest())
	for range 200 {
		v.List("Certificate", "team")
	}
	if lists != 1 {
		t.Errorf("%d Lists of Certificates in team for one request, want 1", lists)
	}
	for range 4 {
		v.Get("Policy", "team", "p")
	}
	if gets != 4 {
		t.Errorf("%d Gets after 200 repeated Lists within a budget of 5 lookups, want 4 (a repeat costs no lookup)", gets)
	}
	if err := v.Failed(); err != nil {
		t.Errorf("failed: %v", err)
	}
}

// Once the API server has given up on the answer (the request's context is done), no lookup is
// made and the request fails instead of being judged on what was read so far.
func TestLookupsStopWhenTheRequestEnds(t *testing.T) {
	var lists, gets int
	o := &cacheObjects{reader: listCountingCache{lists: &lists, gets: &gets}}
	ctx, cancel := context.WithCancel(context.Background())
	v := o.ForRequest(ctx, teamRequest())
	v.Get("Policy", "team", "p")
	cancel()
	if _, ok := v.Get("Policy", "team", "q"); ok {
		t.Error("Get answered after the request ended")
	}
	if l := v.List("Certificate", "team"); l != nil {
		t.Errorf("List answered after the request ended: %d items", len(l))
	}
	if gets != 1 || lists != 0 {
		t.Errorf("cache consulted after the request ended: %d Gets (want 1, before), %d Lists (want 0)", gets, lists)
	}
	if err := v.Failed(); err == nil {
		t.Error("the request did not fail after its context ended")
	}
}

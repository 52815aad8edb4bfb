package objects

import (
	"fmt"
	"slices"
	"testing"
)

func policy(ns, name string) []byte {
	return fmt.Appendf(nil, `{"apiVersion":"k8s.nginx.org/v1","kind":"Policy","metadata":{"namespace":%q,"name":%q}}`, ns, name)
}

func secret(ns, name string) []byte {
	return fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Secret","metadata":{"namespace":%q,"name":%q}}`, ns, name)
}

// A lookup in one namespace examines only the objects of that kind there: check builds one set
// from a whole cluster and looks up each namespace, so a scan would make it quadratic.
func TestListVisitsOnlyTheKindAndNamespaceAsked(t *testing.T) {
	s := NewObjectSet("")
	const namespaces = 1000
	for i := range namespaces {
		ns := fmt.Sprintf("tenant-%d", i)
		s.Add("", policy(ns, "egress"))
		s.Add("", policy(ns, "other"))
		for j := range 5 {
			s.Add("", secret(ns, fmt.Sprintf("s%d", j)))
		}
	}
	got := s.List("Policy", "tenant-500")
	if len(got) != 2 || string(got[0]) != string(policy("tenant-500", "egress")) || string(got[1]) != string(policy("tenant-500", "other")) {
		t.Fatalf("List(Policy, tenant-500) = %q, want its two Policies in the order added", got)
	}
	if v := s.visited.Load(); v != 2 {
		t.Errorf("List(Policy, tenant-500) examined %d keys of %d, want only the 2 it returns", v, len(s.byKey))
	}
	s.visited.Store(0)
	if got := s.List("Certificate", "tenant-500"); len(got) != 0 || s.visited.Load() != 0 {
		t.Errorf("List of a kind never added returned %d and examined %d keys", len(got), s.visited.Load())
	}
	if got := s.List("Secret", ""); len(got) != 5*namespaces {
		t.Errorf("List(Secret, all namespaces) returned %d, want %d", len(got), 5*namespaces)
	}
}

// A later object of the same kind, namespace and name replaces the earlier one in place; the
// default namespace applies to objects that name none.
func TestAddReplacesAndDefaultsNamespace(t *testing.T) {
	s := NewObjectSet("ai-gateway")
	s.Add("ai-gateway", []byte(`{"apiVersion":"k8s.nginx.org/v1","kind":"Policy","metadata":{"name":"a"}}`))
	s.Add("", policy("ai-gateway", "b"))
	newer := []byte(`{"apiVersion":"k8s.nginx.org/v1","kind":"Policy","metadata":{"name":"a","labels":{"x":"y"}}}`)
	s.Add("ai-gateway", newer)
	got := s.List("Policy", "ai-gateway")
	if len(got) != 2 || string(got[0]) != string(newer) {
		t.Errorf("List = %q, want the replaced Policy a first, then b", got)
	}
	if raw, ok := s.Get("Policy", "ai-gateway", "a"); !ok || string(raw) != string(newer) {
		t.Errorf("Get(Policy a) = %q, %v", raw, ok)
	}
	var nilSet *ObjectSet
	if nilSet.List("Policy", "") != nil {
		t.Error("a nil set lists nothing")
	}
	if names := s.List("Policy", ""); !slices.EqualFunc(names, got, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Errorf("List across namespaces = %q", names)
	}
}

// An object added encoded is encoded at each lookup, listed in its place, and replaced by a later
// Add of the same key (and the other way round) without being listed twice.
func TestAddEncoded(t *testing.T) {
	s := NewObjectSet("")
	encodes := 0
	secret := []byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"tls","namespace":"a"}}`)
	s.AddEncoded("Secret", "a", "tls", func() []byte { encodes++; return secret })
	s.Add("", []byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"other","namespace":"a"}}`))
	if raw, ok := s.Get("Secret", "a", "tls"); !ok || string(raw) != string(secret) {
		t.Errorf("Get = %q, %v", raw, ok)
	}
	if got := s.List("Secret", "a"); len(got) != 2 || string(got[0]) != string(secret) {
		t.Errorf("List = %q, want the encoded Secret first, then the other", got)
	}
	if encodes != 2 {
		t.Errorf("encoded %d times for a Get and a List, want 2", encodes)
	}
	newer := []byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"tls","namespace":"a","labels":{"x":"y"}}}`)
	s.Add("", newer)
	if got := s.List("Secret", "a"); len(got) != 2 || string(got[0]) != string(newer) {
		t.Errorf("after Add of the same key: List = %q", got)
	}
	s.AddEncoded("Secret", "a", "tls", func() []byte { return secret })
	if got := s.List("Secret", ""); len(got) != 2 || string(got[0]) != string(secret) {
		t.Errorf("after AddEncoded of the same key: List = %q", got)
	}
}

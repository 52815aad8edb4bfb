// Package objects gives mutations and rules read access to the other objects they consult, and
// decodes objects as the API server does.
package objects

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Objects gives the patches and validations read access to the other objects they consult: the
// webhook serves them from its informer cache, the CLI from the manifests it was given.
// Lookups return raw JSON, as the API server would send it (Secrets without private keys).
type Objects interface {
	// Get returns the object of kind ("Policy", "Secret", "Certificate", ...) namespace/name.
	Get(kind, namespace, name string) ([]byte, bool)
	// List returns every object of kind in namespace ("" for all namespaces).
	List(kind, namespace string) [][]byte
}

// ObjectSet is an in-memory Objects built from manifests. Its lookups are indexed by kind and
// namespace: a List costs what it returns, not the size of the set (check holds a whole cluster).
type ObjectSet struct {
	byKey map[string][]byte
	// encoded holds the objects the caller keeps in another form, encoded at each lookup.
	encoded map[string]func() []byte
	// byKind holds the keys of each kind, per namespace, in the order they were first added.
	byKind map[string]*kindIndex
	// visited counts the keys List has examined (tests assert it does not scan).
	visited atomic.Int64
}

type kindIndex struct {
	namespaces []string            // in the order first seen
	keys       map[string][]string // by namespace
}

// NewObjectSet indexes raw JSON objects by kind, namespace and name; defaultNamespace applies to
// objects that name none.
func NewObjectSet(defaultNamespace string, objects ...[]byte) *ObjectSet {
	s := &ObjectSet{byKey: map[string][]byte{}, byKind: map[string]*kindIndex{}}
	for _, raw := range objects {
		s.Add(defaultNamespace, raw)
	}
	return s
}

// Add indexes one more object (a later object of the same key replaces an earlier one).
func (s *ObjectSet) Add(defaultNamespace string, raw []byte) {
	var m struct {
		Kind     string `json:"kind"`
		Metadata Meta   `json:"metadata"`
	}
	if Decode(raw, &m) != nil || m.Kind == "" {
		return
	}
	ns := m.Metadata.Namespace
	if ns == "" {
		ns = defaultNamespace
	}
	k := objectKey(m.Kind, ns, m.Metadata.Name)
	if _, ok := s.encoded[k]; ok {
		delete(s.encoded, k)
	} else if _, ok := s.byKey[k]; !ok {
		s.indexKey(m.Kind, ns, k)
	}
	s.byKey[k] = raw
}

// AddEncoded indexes an object its caller keeps in another form, encoded to JSON at each lookup
// (check keeps Secrets typed: their certificates as bytes, a quarter smaller than as base64 in
// JSON, and not held twice). encode must be safe for concurrent use.
func (s *ObjectSet) AddEncoded(kind, namespace, name string, encode func() []byte) {
	k := objectKey(kind, namespace, name)
	if _, ok := s.byKey[k]; ok {
		delete(s.byKey, k)
	} else if _, ok := s.encoded[k]; !ok {
		s.indexKey(kind, namespace, k)
	}
	if s.encoded == nil {
		s.encoded = map[string]func() []byte{}
	}
	s.encoded[k] = encode
}

// raw is the JSON of the object under key k.
func (s *ObjectSet) raw(k string) ([]byte, bool) {
	if raw, ok := s.byKey[k]; ok {
		return raw, true
	}
	if encode, ok := s.encoded[k]; ok {
		return encode(), true
	}
	return nil, false
}

func (s *ObjectSet) indexKey(kind, namespace, key string) {
	if s.byKind == nil {
		s.byKind = map[string]*kindIndex{}
	}
	ki := s.byKind[kind]
	if ki == nil {
		ki = &kindIndex{keys: map[string][]string{}}
		s.byKind[kind] = ki
	}
	if _, ok := ki.keys[namespace]; !ok {
		ki.namespaces = append(ki.namespaces, namespace)
	}
	ki.keys[namespace] = append(ki.keys[namespace], key)
}

func objectKey(kind, namespace, name string) string { return kind + "/" + namespace + "/" + name }

func (s *ObjectSet) Get(kind, namespace, name string) ([]byte, bool) {
	if s == nil {
		return nil, false
	}
	return s.raw(objectKey(kind, namespace, name))
}

func (s *ObjectSet) List(kind, namespace string) [][]byte {
	if s == nil {
		return nil
	}
	ki := s.byKind[kind]
	if ki == nil {
		return nil
	}
	namespaces := ki.namespaces
	if namespace != "" {
		namespaces = []string{namespace}
	}
	var out [][]byte
	for _, ns := range namespaces {
		for _, k := range ki.keys[ns] {
			s.visited.Add(1)
			if raw, ok := s.raw(k); ok {
				out = append(out, raw)
			}
		}
	}
	return out
}

// Get and List tolerate a nil Objects (nothing known).
func Get(objs Objects, kind, namespace, name string) ([]byte, bool) {
	if objs == nil {
		return nil, false
	}
	return objs.Get(kind, namespace, name)
}

func List(objs Objects, kind, namespace string) [][]byte {
	if objs == nil {
		return nil
	}
	return objs.List(kind, namespace)
}

// Unavailable says why lookups of a kind in a namespace cannot be answered: the requesting user
// may not read them, or the webhook does not watch them there. Such a reference is reported as
// one that cannot be checked, never as missing, and the message names nothing found there.
type Unavailable struct {
	Kind      string // "Policy", "Secret", "Certificate"
	Namespace string
	Reason    string
	// NotServed: the API server does not serve the kind (its CRD is not installed), so no object
	// of it exists anywhere, which is itself an answer for rules that ask "is there any".
	NotServed bool
	// Capped: the objects are more than the reader reads for one request (Reason names the bound).
	Capped bool
}

func (u *Unavailable) Error() string {
	return fmt.Sprintf("%s objects in namespace %s cannot be checked: %s", u.Kind, u.Namespace, u.Reason)
}

// RouteIndex is implemented by Objects that find the routes sending to a Service without reading
// the others (the webhook's cache indexes them by the Services their backendRefs name).
type RouteIndex interface {
	// RoutesTo returns the routes of kind in namespace some backendRef of which names Service
	// serviceNamespace/service (routes naming others may come too). The error is an *Unavailable
	// with Capped when they are more than the reader reads for one request.
	RoutesTo(kind, namespace, serviceNamespace, service string) ([][]byte, error)
}

// RoutesTo is objs' RoutesTo, or every route of kind in namespace when objs has no RouteIndex
// (the caller still picks the routes to the Service from them).
func RoutesTo(objs Objects, kind, namespace, serviceNamespace, service string) ([][]byte, error) {
	if ri, ok := objs.(RouteIndex); ok {
		return ri.RoutesTo(kind, namespace, serviceNamespace, service)
	}
	return List(objs, kind, namespace), nil
}

// Guarded is implemented by Objects that do not answer every lookup (the webhook's cache as seen
// by one admission request).
type Guarded interface {
	// Available is nil when lookups of kind in namespace are answered, an *Unavailable when they
	// are withheld.
	Available(kind, namespace string) error
}

// Available is nil when objs answers lookups of kind in namespace (always, unless objs is Guarded).
func Available(objs Objects, kind, namespace string) error {
	if g, ok := objs.(Guarded); ok {
		return g.Available(kind, namespace)
	}
	return nil
}

// AsUnavailable returns err's *Unavailable, or nil.
func AsUnavailable(err error) *Unavailable {
	var u *Unavailable
	if errors.As(err, &u) {
		return u
	}
	return nil
}

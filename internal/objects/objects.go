// Package objects gives mutations and rules read access to the other objects they consult, and
// decodes objects as the API server does.
package objects

import (
	"errors"
	"fmt"
	"strings"
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

// ObjectSet is an in-memory Objects built from manifests.
type ObjectSet struct {
	byKey map[string][]byte
	order []string
}

// NewObjectSet indexes raw JSON objects by kind, namespace and name; defaultNamespace applies to
// objects that name none.
func NewObjectSet(defaultNamespace string, objects ...[]byte) *ObjectSet {
	s := &ObjectSet{byKey: map[string][]byte{}}
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
	if _, ok := s.byKey[k]; !ok {
		s.order = append(s.order, k)
	}
	s.byKey[k] = raw
}

func objectKey(kind, namespace, name string) string { return kind + "/" + namespace + "/" + name }

func (s *ObjectSet) Get(kind, namespace, name string) ([]byte, bool) {
	if s == nil {
		return nil, false
	}
	raw, ok := s.byKey[objectKey(kind, namespace, name)]
	return raw, ok
}

func (s *ObjectSet) List(kind, namespace string) [][]byte {
	if s == nil {
		return nil
	}
	prefix := kind + "/"
	if namespace != "" {
		prefix += namespace + "/"
	}
	var out [][]byte
	for _, k := range s.order {
		if strings.HasPrefix(k, prefix) {
			out = append(out, s.byKey[k])
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
}

func (u *Unavailable) Error() string {
	return fmt.Sprintf("%s objects in namespace %s cannot be checked: %s", u.Kind, u.Namespace, u.Reason)
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

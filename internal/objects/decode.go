package objects

import (
	"fmt"

	kjson "sigs.k8s.io/json"
)

// Decode reads raw JSON into v as the API server reads objects: field names are matched
// case-sensitively (a "Spec" key is not spec), and the last of duplicate keys wins. Unknown fields
// are ignored here; the API server has already pruned or refused them.
func Decode(raw []byte, v any) error {
	return kjson.UnmarshalCaseSensitivePreserveInts(raw, v)
}

// Meta is the part of metadata mutations and rules read.
type Meta struct {
	Name            string            `json:"name"`
	GenerateName    string            `json:"generateName"`
	Namespace       string            `json:"namespace"`
	ResourceVersion string            `json:"resourceVersion"`
	Labels          map[string]string `json:"labels"`
	Annotations     map[string]string `json:"annotations"`
}

// Ref names an object in messages: Kind/namespace/name (generateName* before the name is known).
// namespace applies when the object names none.
func (m Meta) Ref(kind, namespace string) string {
	name := m.Name
	if name == "" && m.GenerateName != "" {
		name = m.GenerateName + "*"
	}
	if m.Namespace != "" {
		namespace = m.Namespace
	}
	if namespace == "" {
		return kind + "/" + name
	}
	return fmt.Sprintf("%s/%s/%s", kind, namespace, name)
}

// In returns the object's namespace, or namespace when the object names none.
func (m Meta) In(namespace string) string {
	if m.Namespace != "" {
		return m.Namespace
	}
	return namespace
}

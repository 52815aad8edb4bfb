package checker

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// item is a custom resource as check holds it: its JSON as listed and trimmed, and what the scope
// and the indexes read without decoding it. A check decodes the items of its namespace when it
// reads them: a whole cluster is then held as bytes, a fraction of its decoded maps, and the
// rules' lookups share the same bytes.
type item struct {
	raw             []byte
	namespace, name string
	labels          map[string]string
}

func newItem(u *unstructured.Unstructured) (item, error) {
	raw, err := u.MarshalJSON()
	return item{raw: raw, namespace: u.GetNamespace(), name: u.GetName(), labels: u.GetLabels()}, err
}

// obj decodes the item, a new object at each call (the namespaces are checked in parallel).
func (it *item) obj() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	_ = u.UnmarshalJSON(it.raw) // encoded by newItem
	return u
}

package probe

import (
	"context"
	"encoding/json"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// virtualServer is the part of a VirtualServer that says which Policy applies to which upstream.
type virtualServer struct {
	Metadata objects.Meta `json:"metadata"`
	Spec     struct {
		Upstreams []struct {
			Name    string `json:"name"`
			Service string `json:"service"`
			Port    int32  `json:"port"`
			TLS     struct {
				Enable bool `json:"enable"`
			} `json:"tls"`
		} `json:"upstreams"`
		Policies []policyRef `json:"policies"`
		Routes   []struct {
			Policies []policyRef     `json:"policies"`
			Action   json.RawMessage `json:"action"`
			Splits   json.RawMessage `json:"splits"`
			Matches  json.RawMessage `json:"matches"`
		} `json:"routes"`
	} `json:"spec"`
}

type policyRef struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

type upstream struct {
	Service  string
	Port     int32
	PortName string // an Ingress backend may name the Service port instead
}

// use is a Policy applied to an aigw upstream (one with tls.enable).
type use struct {
	policy   policyRef
	upstream upstream
}

// maxUsesPerObject bounds the Policy × upstream pairs taken from one VirtualServer or Ingress: a
// tenant's object naming many Policies and many upstreams would otherwise make the pairs grow
// with the square of its size. The pairs past it are not probed (Plan.NotProbed says so).
const maxUsesPerObject = 256

// uses pairs each Policy the VirtualServer references with the TLS upstreams it may apply to: a
// server-level Policy to all of them (NIC applies spec.policies to the routes without policies of
// their own; probing an upstream a route overrides costs a handshake, never a wrong finding about
// another Policy's upstream), a route's Policy to the upstreams its action, splits and matches
// pass to. At most maxUsesPerObject pairs; truncated says some were left out (or ctx ended).
func (vs *virtualServer) uses(ctx context.Context) (out []use, truncated bool) {
	tlsUp := map[string]upstream{}
	var order []string
	for _, u := range vs.Spec.Upstreams {
		if _, dup := tlsUp[u.Name]; !dup && u.TLS.Enable && u.Service != "" {
			tlsUp[u.Name] = upstream{Service: u.Service, Port: u.Port}
			order = append(order, u.Name)
		}
	}
	seen := map[use]bool{}
	// add reports false once no more pair can be taken.
	add := func(p policyRef, name string) bool {
		up, ok := tlsUp[name]
		if !ok || p.Name == "" {
			return true
		}
		u := use{p, up}
		if seen[u] {
			return true
		}
		if len(out) == maxUsesPerObject || ctx.Err() != nil {
			truncated = true
			return false
		}
		seen[u] = true
		out = append(out, u)
		return true
	}
	for _, p := range vs.Spec.Policies {
		for _, name := range order {
			if !add(p, name) {
				return out, true
			}
		}
	}
	for _, r := range vs.Spec.Routes {
		var names []string
		for _, raw := range []json.RawMessage{r.Action, r.Splits, r.Matches} {
			names = passes(raw, names, 0)
		}
		for _, p := range r.Policies {
			for _, n := range names {
				if !add(p, n) {
					return out, true
				}
			}
		}
	}
	return out, truncated
}

// passes collects the upstream names under raw's "pass" and "proxy.upstream" keys, at any depth
// up to a bound (splits and matches nest actions).
func passes(raw json.RawMessage, into []string, depth int) []string {
	if len(raw) == 0 || depth > 6 {
		return into
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		for k, v := range obj {
			var s string
			if (k == "pass" || k == "upstream") && json.Unmarshal(v, &s) == nil {
				into = append(into, s)
				continue
			}
			into = passes(v, into, depth+1)
		}
		return into
	}
	var arr []json.RawMessage
	if json.Unmarshal(raw, &arr) == nil {
		for _, v := range arr {
			into = passes(v, into, depth+1)
		}
	}
	return into
}

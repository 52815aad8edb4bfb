package rules

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// routeCounter is an ObjectSet with a route index, as the webhook's cache has one: it counts the
// Lists of routes (which read every route of a namespace) and the routes RoutesTo returns.
type routeCounter struct {
	*objects.ObjectSet
	listed   map[string]int
	lookups  map[string]int
	returned int
}

func (r *routeCounter) List(kind, namespace string) [][]byte {
	r.listed[kind]++
	return r.ObjectSet.List(kind, namespace)
}

func (r *routeCounter) RoutesTo(kind, namespace, serviceNamespace, service string) ([][]byte, error) {
	r.lookups[kind+" "+serviceNamespace+"/"+service]++
	var out [][]byte
	for _, raw := range r.ObjectSet.List(kind, namespace) {
		if slices.Contains(RouteServices(raw, namespace), serviceNamespace+"/"+service) {
			out = append(out, raw)
		}
	}
	r.returned += len(out)
	return out, nil
}

func btpRoute(name, service string, port int) []byte {
	return fmt.Appendf(nil, `{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":%q,"namespace":"ai-gateway"},`+
		`"spec":{"rules":[{"backendRefs":[{"name":%q,"port":%d}]}]}}`, name, service, port)
}

// A BackendTLSPolicy's ports are judged from the routes to the Services it targets, found through
// the reader's route index: the routes of the namespace that send elsewhere are never listed, and
// targets naming the same Service share one lookup. The verdict is the one validate -f reaches
// from every route of the namespace.
func TestBTPTargetsReadOnlyTheRoutesToTheirService(t *testing.T) {
	objs := [][]byte{
		[]byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"aigw","namespace":"ai-gateway"},"spec":{"ports":[{"name":"https","port":443},{"name":"metrics","port":9090}]}}`),
		[]byte(`{"apiVersion":"gateway.networking.k8s.io/v1","kind":"BackendTLSPolicy","metadata":{"name":"aigw-legacy","namespace":"ai-gateway","creationTimestamp":"2026-01-01T00:00:00Z"},` +
			`"spec":{"targetRefs":[{"group":"","kind":"Service","name":"aigw","sectionName":"metrics"}]}}`),
		btpRoute("ai", "aigw", 9090),
	}
	for i := range 500 {
		objs = append(objs, btpRoute(fmt.Sprintf("noise-%d", i), "other", 443))
	}
	policy := []byte(`{"apiVersion":"gateway.networking.k8s.io/v1","kind":"BackendTLSPolicy","metadata":{"name":"aigw-mtls","namespace":"ai-gateway","labels":{"aigw":"mtls"}},` +
		`"spec":{"targetRefs":[{"group":"","kind":"Service","name":"aigw"},{"group":"","kind":"Service","name":"aigw","sectionName":"https"},{"group":"","kind":"Service","name":"aigw","sectionName":"metrics"}],` +
		`"validation":{"wellKnownCACertificates":"System","hostname":"aigw.ai-gateway.svc.cluster.local"}}}`)
	s, now := aigw.DefaultSettings(), time.Now()
	want, err := BackendTLSPolicy(policy, "ai-gateway", s, objects.NewObjectSet("ai-gateway", objs...), now)
	if err != nil {
		t.Fatal(err)
	}
	r := &routeCounter{ObjectSet: objects.NewObjectSet("ai-gateway", objs...), listed: map[string]int{}, lookups: map[string]int{}}
	got, err := BackendTLSPolicy(policy, "ai-gateway", s, r, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Errors(), want.Errors()) || !slices.Equal(got.Warnings(), want.Warnings()) {
		t.Errorf("through the route index: %q %q;\nfrom every route: %q %q", got.Errors(), got.Warnings(), want.Errors(), want.Warnings())
	}
	if !strings.Contains(strings.Join(got.Errors(), "\n"), string(BTPConflicted.ID)) {
		t.Errorf("want %s (the older policy on metrics, which route ai sends to), got %q", BTPConflicted.ID, got.Errors())
	}
	for _, k := range routeKinds {
		if r.listed[k] > 0 {
			t.Errorf("%d Lists of every %s of the namespace, want none (only the routes to aigw)", r.listed[k], k)
		}
		if n := r.lookups[k+" ai-gateway/aigw"]; n != 1 {
			t.Errorf("%d lookups of the %ss to aigw for 3 targets naming it, want 1", n, k)
		}
	}
	if r.returned != 1 {
		t.Errorf("%d routes read, want 1 (route ai; the 500 routes to Service other are not)", r.returned)
	}
}

// A reader that reads no more routes than its bound says so, and the policy's ports are then not
// judged: a warning naming the bound, never a silent admission nor a refusal on part of the routes.
func TestBTPTargetsPastTheRouteBoundAreUnjudged(t *testing.T) {
	objs := [][]byte{
		[]byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"aigw","namespace":"ai-gateway"},"spec":{"ports":[{"name":"https","port":443},{"name":"metrics","port":9090}]}}`),
		btpRoute("ai", "aigw", 443),
	}
	policy := []byte(`{"apiVersion":"gateway.networking.k8s.io/v1","kind":"BackendTLSPolicy","metadata":{"name":"aigw-mtls","namespace":"ai-gateway","labels":{"aigw":"mtls"}},` +
		`"spec":{"targetRefs":[{"group":"","kind":"Service","name":"aigw","sectionName":"metrics"}],` +
		`"validation":{"wellKnownCACertificates":"System","hostname":"aigw.ai-gateway.svc.cluster.local"}}}`)
	capped := cappedRoutes{objects.NewObjectSet("ai-gateway", objs...)}
	got, err := BackendTLSPolicy(policy, "ai-gateway", aigw.DefaultSettings(), capped, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(got.Warnings(), "\n")
	if strings.Contains(strings.Join(got.Errors(), "\n"), string(BTPSectionNameUnused.ID)) ||
		!strings.Contains(w, string(BTPConflictUnjudged.ID)) || !strings.Contains(w, "more than 256 routes send to Service ai-gateway/aigw") {
		t.Errorf("want only %s naming the bound, got errors %q warnings %q", BTPConflictUnjudged.ID, got.Errors(), got.Warnings())
	}
}

// cappedRoutes answers every route lookup as past a bound of 256 routes.
type cappedRoutes struct{ *objects.ObjectSet }

func (c cappedRoutes) RoutesTo(kind, namespace, serviceNamespace, service string) ([][]byte, error) {
	return nil, &objects.Unavailable{Kind: kind, Namespace: namespace, Capped: true,
		Reason: fmt.Sprintf("more than 256 routes send to Service %s/%s: not judged", serviceNamespace, service)}
}

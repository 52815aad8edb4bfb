package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules/fixtures"
)

// Fuzz targets for each handler's request decoding. Each target takes an operation, the object
// set the handler looks objects up in, and the raw object and old object of an admission request,
// seeded with the real requests of the fixtures under patches/testdata and internal/rules/testdata,
// each with its own objects (and the corpus in testdata/fuzz). For every input:
//   - the handler does not panic (called without controller-runtime's panic recovery);
//   - its answer is well formed: allowed, or refused with a Result carrying a code and a message;
//   - sent as an AdmissionReview through controller-runtime's HTTP handler (as the API server
//     sends it), the answer is HTTP 200 with a review for the same uid, equally well formed, and
//     any patch is a JSON Patch;
//   - for objects the API server could have sent (valid JSON, keys as it spells them) a patch
//     applies to the object, and admitting the result again yields no patch (idempotent).
//
// CI runs each for a short bounded time (make fuzz); go test runs the seeds.

func FuzzMutatePod(f *testing.F) {
	fuzzHandler(f, PathMutatePod, podKind, podRes, "pod")
}

func FuzzMutateConfigMap(f *testing.F) {
	fuzzHandler(f, PathMutateConfigMap, metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
		metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"}, "configmap")
}

func FuzzMutateVirtualServer(f *testing.F) {
	fuzzHandler(f, PathMutateVirtualServer, vsKind, vsRes, "virtualserver")
}

func FuzzMutateVirtualServerRoute(f *testing.F) {
	fuzzHandler(f, PathMutateVirtualServerRoute,
		metav1.GroupVersionKind{Group: "k8s.nginx.org", Version: "v1", Kind: "VirtualServerRoute"},
		metav1.GroupVersionResource{Group: "k8s.nginx.org", Version: "v1", Resource: "virtualserverroutes"}, "virtualserverroute")
}

func FuzzValidatePolicy(f *testing.F) {
	fuzzHandler(f, PathValidatePolicy, polKind, polRes, "policy")
}

func FuzzValidateVirtualServer(f *testing.F) {
	fuzzHandler(f, PathValidateVirtualServer, vsKind, vsRes, "policy-via-virtualserver")
}

func FuzzValidateVirtualServerRoute(f *testing.F) {
	fuzzHandler(f, PathValidateVirtualServerRoute,
		metav1.GroupVersionKind{Group: "k8s.nginx.org", Version: "v1", Kind: "VirtualServerRoute"},
		metav1.GroupVersionResource{Group: "k8s.nginx.org", Version: "v1", Resource: "virtualserverroutes"}, "policy-via-virtualserverroute")
}

func FuzzMutateIngress(f *testing.F) {
	fuzzHandler(f, PathMutateIngress, ingKind, ingRes, "ingress")
}

func FuzzValidateIngress(f *testing.F) {
	fuzzHandler(f, PathValidateIngress, ingKind, ingRes, "policy-via-ingress")
}

var (
	ingKind = metav1.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}
	ingRes  = metav1.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}
)

func FuzzValidateCertificate(f *testing.F) {
	fuzzHandler(f, PathValidateCertificate,
		metav1.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"},
		metav1.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}, "certificate")
}

var fuzzOps = []admissionv1.Operation{admissionv1.Create, admissionv1.Update, admissionv1.Delete, admissionv1.Connect, ""}

// fuzzSeed is one seed: the operation, the index of the object set the handler looks objects up
// in, the object and the old object.
type fuzzSeed struct {
	op, set  uint8
	obj, old []byte
	refused  *bool // the fixture's verdict, for the request its fixture test sends
}

func (s fuzzSeed) key() string { return fmt.Sprintf("%d/%d/%q/%q", s.op, s.set, s.obj, s.old) }

// fuzzSeeds are the fixtures of internal/rules/testdata/<dir> (patches/testdata/<dir> for
// mutations), rendered as the fixture tests render them: each object is sent as a CREATE, and as
// an UPDATE of its <case>.old.yaml when there is one (else of itself), judged against its own
// objects (objects.yaml or <case>.objects.yaml); plus malformed requests every handler must
// refuse cleanly. sets[0] is the benchmark's objects, used by the malformed seeds and the corpus
// in testdata/fuzz; the fuzzer may pair any object set with any input.
func fuzzSeeds(tb testing.TB, dir string, mutation bool) (sets []objects.Objects, seeds []fuzzSeed) {
	tb.Helper()
	d := filepath.Join("..", "internal", "rules", "testdata", dir)
	if mutation {
		d = filepath.Join("..", "patches", "testdata", dir)
	}
	sets = []objects.Objects{benchObjects(tb)}
	index := map[string]uint8{}
	for _, c := range fixtures.Cases(tb, d, fixtures.PKI(tb)) {
		key := string(bytes.Join(c.Objects, []byte("\n---\n")))
		set, ok := index[key]
		if !ok {
			set = uint8(len(sets))
			index[key] = set
			sets = append(sets, objects.NewObjectSet("ai-gateway", c.Objects...))
		}
		_, err := os.Stat(c.Path + ".deny.txt")
		refused := err == nil
		create, update := fuzzSeed{0, set, c.Object, nil, &refused}, fuzzSeed{1, set, c.Object, c.Old, nil}
		if c.Old != nil {
			create.refused, update.refused = nil, &refused
		} else {
			update.old = c.Object
		}
		seeds = append(seeds, create, update)
	}
	if len(sets) > 256 {
		tb.Fatalf("%d object sets for %s: more than a uint8 selects", len(sets), dir)
	}
	for _, bad := range []string{``, `null`, `{}`, `[]`, `"pod"`, `{"metadata":`, `{"metadata":{"labels":{"aigw":"mtls"}},"spec":[]}`,
		`{"metadata":{"labels":{"aigw":"mtls"}},"spec":null,"data":null}`, `{"metadata":{"labels":["aigw"]}}`,
		`{"metadata":{"labels":{"aigw":"mtls"},"annotations":{"mtls.aigw.io/container":"nope"}},"spec":{"containers":[{"name":1}]}}`} {
		seeds = append(seeds, fuzzSeed{0, 0, []byte(bad), nil, nil})
	}
	return sets, seeds
}

func fuzzHandler(f *testing.F, path string, kind metav1.GroupVersionKind, res metav1.GroupVersionResource, dir string) {
	sets, seeds := fuzzSeeds(f, dir, strings.HasPrefix(path, "/mutate-"))
	handlers := make([]admission.Handler, len(sets))
	webhooks := make([]*admission.Webhook, len(sets))
	for i, set := range sets {
		h := Handlers(DefaultOptions(), set)[path]
		if v, ok := h.(*Validator); ok && i > 0 {
			v.Now = func() time.Time { return fixtures.Now } // the fixtures' certificates are judged at their date
		}
		handlers[i] = h
		webhooks[i] = (&admission.Webhook{Handler: h}).WithRecoverPanic(false)
	}
	verdicts := map[string]bool{}
	for _, s := range seeds {
		f.Add(s.op, s.set, s.obj, s.old)
		if s.refused != nil {
			verdicts[s.key()] = *s.refused
		}
	}
	f.Fuzz(func(t *testing.T, op, set uint8, obj, old []byte) {
		h, wh := handlers[int(set)%len(handlers)], webhooks[int(set)%len(handlers)]
		req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			UID: "fuzz-uid", Kind: kind, Resource: res, Name: "fuzzed", Namespace: "ai-gateway",
			Operation: fuzzOps[int(op)%len(fuzzOps)],
			Object:    runtime.RawExtension{Raw: obj}, OldObject: runtime.RawExtension{Raw: old},
		}}
		resp := h.Handle(context.Background(), req)
		checkResponse(t, "handler", resp.AdmissionResponse, resp.Patches != nil)
		// A fixture's own request, with its own objects, gets the fixture's verdict.
		if refused, ok := verdicts[fuzzSeed{op, set, obj, old, nil}.key()]; ok && resp.Allowed == refused {
			t.Fatalf("fixture seed: allowed=%v, but the fixture says refused=%v: %v", resp.Allowed, refused, resp.Result)
		}
		if len(resp.Patches) > 0 {
			if _, err := json.Marshal(resp.Patches); err != nil {
				t.Fatalf("patch does not encode: %v", err)
			}
		}

		// The same request as the API server sends it. RawExtension only carries JSON.
		if (len(obj) > 0 && !json.Valid(obj)) || (len(old) > 0 && !json.Valid(old)) {
			return
		}
		review := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Request: &req.AdmissionRequest}
		body, err := json.Marshal(review)
		if err != nil {
			return
		}
		r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		wh.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("HTTP %d: %s", w.Code, w.Body)
		}
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out.Response == nil {
			t.Fatalf("answer is not an AdmissionReview (%v): %s", err, w.Body)
		}
		if out.Response.UID != req.UID {
			t.Fatalf("answer for uid %q, asked %q", out.Response.UID, req.UID)
		}
		checkResponse(t, "review", *out.Response, false)
		if len(out.Response.Patch) == 0 {
			return
		}
		if out.Response.PatchType == nil || *out.Response.PatchType != admissionv1.PatchTypeJSONPatch {
			t.Fatalf("patch without patchType JSONPatch")
		}
		patch, err := jsonpatchapply.DecodePatch(out.Response.Patch)
		if err != nil {
			t.Fatalf("patch is not a JSON Patch: %v\n%s", err, out.Response.Patch)
		}
		if !apiServerShaped(obj) {
			return
		}
		patched, err := patch.Apply(obj)
		if err != nil {
			t.Fatalf("patch does not apply: %v\nobject %s\npatch %s", err, obj, out.Response.Patch)
		}
		req.Object.Raw = patched
		again := h.Handle(context.Background(), req)
		if len(again.Patches) > 0 {
			t.Fatalf("not idempotent: second patch %v\nobject %s\nfirst patch %s", again.Patches, obj, out.Response.Patch)
		}
	})
}

// checkResponse: allowed, or refused with a code and a message; a handler never patches a
// refused object.
func checkResponse(t *testing.T, where string, r admissionv1.AdmissionResponse, hasPatches bool) {
	t.Helper()
	if r.Allowed {
		return
	}
	if r.Result == nil || r.Result.Code == 0 || strings.TrimSpace(r.Result.Message) == "" {
		t.Fatalf("%s: refused without a code and a message: %+v", where, r.Result)
	}
	if hasPatches || len(r.Patch) > 0 {
		t.Fatalf("%s: refused with a patch", where)
	}
}

// apiServerShaped reports whether raw is an object the API server could send: valid JSON with no
// repeated key and no key that differs only in case from a field the handlers read (encoding/json
// would fill the field from it, the API server never writes it).
func apiServerShaped(raw []byte) bool {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	if canonical, err := json.Marshal(v); err != nil || !sameMembers(raw, canonical) {
		return false
	}
	if _, ok := v.(map[string]any); !ok {
		return false
	}
	return keysAsSpelled(v)
}

// sameMembers: no member was lost by decoding into a map (a repeated key keeps only one).
func sameMembers(raw, canonical []byte) bool { return countMembers(raw) == countMembers(canonical) }

// countMembers counts the object members in a JSON text (tokens followed by ':').
func countMembers(raw []byte) int {
	d := json.NewDecoder(bytes.NewReader(raw))
	n := 0
	var inObject []bool
	expectKey := false
	for {
		tok, err := d.Token()
		if err != nil {
			return n
		}
		switch tok := tok.(type) {
		case json.Delim:
			switch tok {
			case '{':
				inObject = append(inObject, true)
				expectKey = true
				continue
			case '[':
				inObject = append(inObject, false)
			case '}', ']':
				inObject = inObject[:len(inObject)-1]
			}
		default:
			if expectKey {
				n++
				expectKey = false
				continue
			}
		}
		expectKey = len(inObject) > 0 && inObject[len(inObject)-1]
	}
}

var readFields = []string{"metadata", "spec", "name", "generateName", "namespace", "labels", "annotations", "data",
	"volumes", "containers", "volumeMounts", "mountPath", "subPath", "secret", "secretName", "items", "key", "path",
	"upstreams", "routes", "subroutes", "tls", "enable", "policies", "action", "pass", "proxy", "upstream", "splits",
	"matches", "route", "egressMTLS", "dnsNames", "commonName", "isCA"}

func keysAsSpelled(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			for _, f := range readFields {
				if k != f && strings.EqualFold(k, f) {
					return false
				}
			}
			if !keysAsSpelled(e) {
				return false
			}
		}
	case []any:
		for _, e := range v {
			if !keysAsSpelled(e) {
				return false
			}
		}
	}
	return true
}

// TestWriteFuzzCorpus (AIGW_WRITE_FUZZ_CORPUS=1) writes the malformed seeds and the benchmark's
// realistic requests as corpus files under testdata/fuzz, in go test's format.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("AIGW_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set AIGW_WRITE_FUZZ_CORPUS=1 to rewrite testdata/fuzz")
	}
	write := func(target, name string, op uint8, obj, old []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// The object set is 0, the benchmark's objects.
		content := fmt.Sprintf("go test fuzz v1\nuint8(%d)\nuint8(0)\n[]byte(%s)\n[]byte(%s)\n", op, strconv.Quote(string(obj)), strconv.Quote(string(old)))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	realistic := map[string]string{"FuzzMutatePod": benchPod, "FuzzMutateVirtualServer": benchVirtualServer,
		"FuzzValidatePolicy": benchPolicy, "FuzzValidateVirtualServer": benchVirtualServer}
	targets := []string{"FuzzMutatePod", "FuzzMutateConfigMap", "FuzzMutateVirtualServer", "FuzzMutateVirtualServerRoute",
		"FuzzValidatePolicy", "FuzzValidateVirtualServer", "FuzzValidateCertificate"}
	for _, target := range targets {
		if raw, ok := realistic[target]; ok {
			write(target, "realistic-create", 0, []byte(raw), nil)
			write(target, "realistic-update", 1, []byte(raw), []byte(raw))
		}
		write(target, "empty-object", 0, nil, nil)
		write(target, "truncated", 0, []byte(`{"metadata":{"labels":{"aigw":"mtls"}`), nil)
		write(target, "labels-as-list", 0, []byte(`{"metadata":{"labels":["aigw","mtls"]}}`), nil)
		write(target, "spec-as-list", 0, []byte(`{"metadata":{"labels":{"aigw":"mtls"}},"spec":[],"data":[]}`), nil)
		write(target, "update-old-garbage", 1, []byte(`{"metadata":{"labels":{"aigw":"mtls"}}}`), []byte(`{"spec":`))
		write(target, "deep-nesting", 0, []byte(`{"metadata":{"labels":{"aigw":"mtls"}},"spec":`+strings.Repeat("[", 2000)+strings.Repeat("]", 2000)+`}`), nil)
	}
}

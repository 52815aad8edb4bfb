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

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"
)

// Fuzz targets for each handler's request decoding (issue 7). Each target takes an operation and
// the raw object and old object of an admission request, seeded with the real requests of the
// fixtures under patches/testdata and internal/rules/testdata (and the corpus in testdata/fuzz). For every input:
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

// fuzzSeeds are the fixtures of internal/rules/testdata/<dir> (patches/testdata/<dir> for mutations) as JSON: each object is sent as a CREATE,
// and as an UPDATE of its <case>.old.yaml when there is one (else of itself); plus malformed
// requests every handler must refuse cleanly.
func fuzzSeeds(tb testing.TB, dir string) [][3][]byte {
	var seeds [][3][]byte
	files, _ := filepath.Glob(filepath.Join("..", "internal", "rules", "testdata", dir, "*.yaml"))
	if len(files) == 0 {
		files, _ = filepath.Glob(filepath.Join("..", "patches", "testdata", dir, "*.yaml"))
	}
	for _, file := range files {
		base := filepath.Base(file)
		if base == "objects.yaml" || strings.HasSuffix(base, ".objects.yaml") || strings.HasSuffix(base, ".old.yaml") {
			continue
		}
		obj := fixtureJSON(tb, file)
		old := obj
		if b, err := os.ReadFile(strings.TrimSuffix(file, ".yaml") + ".old.yaml"); err == nil {
			if j, err := yaml.YAMLToJSON(b); err == nil {
				old = j
			}
		}
		seeds = append(seeds, [3][]byte{{0}, obj, nil}, [3][]byte{{1}, obj, old})
	}
	if len(seeds) == 0 {
		tb.Fatalf("no fixtures for %s in ../internal/rules/testdata or ../patches/testdata", dir)
	}
	for _, bad := range []string{``, `null`, `{}`, `[]`, `"pod"`, `{"metadata":`, `{"metadata":{"labels":{"aigw":"mtls"}},"spec":[]}`,
		`{"metadata":{"labels":{"aigw":"mtls"}},"spec":null,"data":null}`, `{"metadata":{"labels":["aigw"]}}`,
		`{"metadata":{"labels":{"aigw":"mtls"},"annotations":{"mtls.aigw.io/container":"nope"}},"spec":{"containers":[{"name":1}]}}`} {
		seeds = append(seeds, [3][]byte{{0}, []byte(bad), nil})
	}
	return seeds
}

func fixtureJSON(tb testing.TB, file string) []byte {
	b, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		tb.Fatalf("%s: %v", file, err)
	}
	return j
}

func fuzzHandler(f *testing.F, path string, kind metav1.GroupVersionKind, res metav1.GroupVersionResource, fixtures string) {
	h := Handlers(DefaultOptions(), benchObjects(f))[path]
	for _, s := range fuzzSeeds(f, fixtures) {
		f.Add(s[0][0], s[1], s[2])
	}
	wh := (&admission.Webhook{Handler: h}).WithRecoverPanic(false)
	f.Fuzz(func(t *testing.T, op uint8, obj, old []byte) {
		req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			UID: "fuzz-uid", Kind: kind, Resource: res, Name: "fuzzed", Namespace: "ai-gateway",
			Operation: fuzzOps[int(op)%len(fuzzOps)],
			Object:    runtime.RawExtension{Raw: obj}, OldObject: runtime.RawExtension{Raw: old},
		}}
		resp := h.Handle(context.Background(), req)
		checkResponse(t, "handler", resp.AdmissionResponse, resp.Patches != nil)
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
		content := fmt.Sprintf("go test fuzz v1\nuint8(%d)\n[]byte(%s)\n[]byte(%s)\n", op, strconv.Quote(string(obj)), strconv.Quote(string(old)))
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

package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
)

func podHandler(mode aigw.Mode) admission.Handler {
	o := DefaultOptions()
	o.Settings.Mode = mode
	return Handlers(o, nil)[PathMutatePod]
}

func request(op admissionv1.Operation, kind, namespace string, raw string) admission.Request {
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       "1",
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: kind},
		Operation: op,
		Namespace: namespace,
		Object:    runtime.RawExtension{Raw: []byte(raw)},
	}}
}

func apply(t *testing.T, raw string, resp admission.Response) map[string]any {
	t.Helper()
	b, _ := json.Marshal(resp.Patches)
	p, err := jsonpatchapply.DecodePatch(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	return m
}

// A field that k8s.io/api v0.37 does not know, sent straight to the handler, is still there after
// the patch: the handler never re-serialises a typed object.
func TestHandlerKeepsFieldsUnknownToTheAPITypes(t *testing.T) {
	raw := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"aigw","labels":{"aigw":"mtls"}},
	  "spec":{"hostnameFromTheFuture":"x","containers":[{"name":"aigw","image":"aigw","sidecarMagic":{"on":true}}]},
	  "futureTopLevel":[1,2]}`
	resp := podHandler(aigw.ModeEnforce).Handle(context.Background(), request(admissionv1.Create, "Pod", "ai-gateway", raw))
	if !resp.Allowed || len(resp.Patches) == 0 {
		t.Fatalf("want allowed with a patch, got %+v", resp)
	}
	out := apply(t, raw, resp)
	spec := out["spec"].(map[string]any)
	c := spec["containers"].([]any)[0].(map[string]any)
	if spec["hostnameFromTheFuture"] != "x" || c["sidecarMagic"] == nil || out["futureTopLevel"] == nil {
		t.Errorf("unknown fields lost: %v", out)
	}
	if len(spec["volumes"].([]any)) != 2 || len(c["volumeMounts"].([]any)) != 2 {
		t.Errorf("mounts not injected: %v", out)
	}
}

func TestHandlerNeverPatchesPodUpdates(t *testing.T) {
	raw := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"aigw","labels":{"aigw":"mtls"}},"spec":{"containers":[{"name":"aigw"}]}}`
	resp := podHandler(aigw.ModeEnforce).Handle(context.Background(), request(admissionv1.Update, "Pod", "ai-gateway", raw))
	if !resp.Allowed || len(resp.Patches) != 0 {
		t.Fatalf("UPDATE must be allowed unpatched, got %+v", resp)
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "roll out") {
		t.Errorf("want one rollout warning, got %q", resp.Warnings)
	}
}

func TestHandlerModes(t *testing.T) {
	raw := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"aigw","labels":{"aigw":"mtls"}},
	  "spec":{"containers":[{"name":"aigw"}],"volumes":[{"name":"internal-ca-volume","emptyDir":{}}]}}`
	enforce := podHandler(aigw.ModeEnforce).Handle(context.Background(), request(admissionv1.Create, "Pod", "ai-gateway", raw))
	if enforce.Allowed || !strings.Contains(enforce.Result.Message, "spec.volumes[name=internal-ca-volume]") {
		t.Errorf("enforce: want denied naming the field, got %+v", enforce)
	}
	warn := podHandler(aigw.ModeWarn).Handle(context.Background(), request(admissionv1.Create, "Pod", "ai-gateway", raw))
	if !warn.Allowed || len(warn.Patches) != 0 || len(warn.Warnings) != 1 || !strings.Contains(warn.Warnings[0], "spec.volumes[name=internal-ca-volume]") {
		t.Errorf("warn: want allowed unchanged with the conflict as a warning, got %+v", warn)
	}
}

func TestHandlerSkipsExcludedNamespaces(t *testing.T) {
	raw := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"aigw","labels":{"aigw":"mtls"}},"spec":{"containers":[{"name":"aigw"}]}}`
	resp := podHandler(aigw.ModeEnforce).Handle(context.Background(), request(admissionv1.Create, "Pod", "kube-system", raw))
	if !resp.Allowed || len(resp.Patches) != 0 {
		t.Errorf("kube-system must be left alone, got %+v", resp)
	}
}

func TestHandlerRefusesMalformedRequests(t *testing.T) {
	for name, req := range map[string]admission.Request{
		"not json":     request(admissionv1.Create, "Pod", "ns", `{"metadata":`),
		"wrong shape":  request(admissionv1.Create, "Pod", "ns", `{"metadata":{"labels":["aigw"]}}`),
		"no object":    request(admissionv1.Create, "Pod", "ns", ``),
		"wrong kind":   request(admissionv1.Create, "Service", "ns", `{}`),
		"spec as list": request(admissionv1.Create, "Pod", "ns", `{"metadata":{"labels":{"aigw":"mtls"}},"spec":[]}`),
	} {
		t.Run(name, func(t *testing.T) {
			resp := podHandler(aigw.ModeEnforce).Handle(context.Background(), req)
			if resp.Allowed || resp.Result == nil || resp.Result.Code != 400 || resp.Result.Message == "" {
				t.Errorf("want a 400 denial with a message, got %+v", resp)
			}
		})
	}
}

// The same for a VirtualServer: fields a newer NIC adds survive the patch.
func TestVirtualServerHandlerKeepsUnknownFields(t *testing.T) {
	raw := `{"apiVersion":"k8s.nginx.org/v1","kind":"VirtualServer","metadata":{"name":"vs","labels":{"aigw":"mtls"}},
	  "spec":{"host":"a.example.com","futureSpec":{"x":1},
	    "upstreams":[{"name":"aigw","service":"aigw","port":80,"futureUpstream":"keep"}],
	    "routes":[{"path":"/","futureRoute":[1],"action":{"pass":"aigw"}}]}}`
	h := Handlers(DefaultOptions(), nil)[PathMutateVirtualServer]
	req := request(admissionv1.Create, "VirtualServer", "ai-gateway", raw)
	resp := h.Handle(context.Background(), req)
	if !resp.Allowed || len(resp.Patches) == 0 {
		t.Fatalf("want allowed with a patch, got %+v", resp)
	}
	out := apply(t, raw, resp)
	spec := out["spec"].(map[string]any)
	up := spec["upstreams"].([]any)[0].(map[string]any)
	route := spec["routes"].([]any)[0].(map[string]any)
	if spec["futureSpec"] == nil || up["futureUpstream"] != "keep" || route["futureRoute"] == nil {
		t.Errorf("unknown fields lost: %v", spec)
	}
	if up["tls"] == nil || route["policies"] == nil {
		t.Errorf("not wired: %v", spec)
	}
}

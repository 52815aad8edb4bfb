package ingress

import "testing"

// A Service is aigw when the Policy's sslName is one of its in-cluster DNS names.
func TestServiceNamed(t *testing.T) {
	for _, c := range []struct {
		host, svc, ns string
		want          bool
	}{
		{"aigw.ai-gateway.svc.cluster.local", "aigw", "ai-gateway", true},
		{"aigw.ai-gateway.svc.example.internal", "aigw", "ai-gateway", true}, // another cluster domain
		{"aigw.ai-gateway.svc", "aigw", "ai-gateway", true},
		{"aigw.ai-gateway", "aigw", "ai-gateway", true},
		{"aigw", "aigw", "ai-gateway", true},
		{"AIGW.ai-gateway.svc.cluster.local", "aigw", "ai-gateway", true},
		{"aigw.ai-gateway.svc.cluster.local", "web", "ai-gateway", false},
		{"aigw.ai-gateway.svc.cluster.local", "aigw", "team-a", false}, // another namespace's aigw
		{"aigw.example.com", "aigw", "ai-gateway", false},
		{"aigw.ai-gateway.pod.cluster.local", "aigw", "ai-gateway", false},
		{"", "aigw", "ai-gateway", false},
		{"aigw-canary.ai-gateway.svc", "aigw", "ai-gateway", false},
	} {
		if got := ServiceNamed(c.host, c.svc, c.ns); got != c.want {
			t.Errorf("ServiceNamed(%q, %q, %q) = %v, want %v", c.host, c.svc, c.ns, got, c.want)
		}
	}
}

// The annotation decides when it names any Service; else the sslName does.
func TestAigwServices(t *testing.T) {
	ing, err := Decode([]byte(`{"metadata":{"name":"g","namespace":"ai-gateway"},"spec":{
		"defaultBackend":{"service":{"name":"web"}},
		"rules":[{"http":{"paths":[{"backend":{"service":{"name":"aigw"}}},{"backend":{"service":{"name":"dashboard"}}}]}}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	sel, missing := ing.AigwServices("", "aigw.ai-gateway.svc.cluster.local", "ai-gateway")
	if len(sel) != 1 || sel[0] != "aigw" || missing != nil {
		t.Errorf("by sslName: got %v, %v", sel, missing)
	}
	sel, missing = ing.AigwServices(" dashboard, nope ", "aigw.ai-gateway.svc.cluster.local", "ai-gateway")
	if len(sel) != 1 || sel[0] != "dashboard" || len(missing) != 1 || missing[0] != "nope" {
		t.Errorf("by annotation: got %v, %v", sel, missing)
	}
	if sel, _ := ing.AigwServices("", "", "ai-gateway"); len(sel) != 0 {
		t.Errorf("no sslName: got %v, want none", sel)
	}
}

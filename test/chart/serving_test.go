package chart_test

import (
	"strconv"
	"strings"
	"testing"
)

// checkServingAndMetrics: the grace period covers the shutdown delay; with metrics.secure the
// webhook may create TokenReviews and SubjectAccessReviews (nothing else), scrapers get a
// metrics-reader ClusterRole (bound to metrics.readers), and the ServiceMonitor scrapes HTTPS
// with a token, verifying the serving certificate.
func checkServingAndMetrics(t *testing.T, r rendering) {
	t.Helper()
	d := r.one(t, "Deployment")
	delay, _ := strconv.Atoi(r.value("serving.shutdownDelaySeconds", "10"))
	if got, _, _ := unstructuredInt(d.Object, "spec", "template", "spec", "terminationGracePeriodSeconds"); got != int64(delay+30) {
		t.Errorf("terminationGracePeriodSeconds %d, want the shutdown delay %d + 30", got, delay)
	}

	secure := r.value("metrics.secure", "true") == "true"
	auth := r.named("ClusterRole", "", r.fullname()+"-metrics-auth")
	reader := r.named("ClusterRole", "", r.fullname()+"-metrics-reader")
	if secure != (auth != nil) || secure != (reader != nil) {
		t.Fatalf("metrics ClusterRoles rendered (auth %v, reader %v), want them only with metrics.secure", auth != nil, reader != nil)
	}
	if secure {
		rules := slice(auth.Object, "rules")
		var got []string
		for _, x := range rules {
			rule := x.(map[string]any)
			for _, g := range slice(rule, "apiGroups") {
				for _, res := range slice(rule, "resources") {
					for _, v := range slice(rule, "verbs") {
						got = append(got, v.(string)+" "+g.(string)+"/"+res.(string))
					}
				}
			}
		}
		if strings.Join(got, ",") != "create authentication.k8s.io/tokenreviews,create authorization.k8s.io/subjectaccessreviews" {
			t.Errorf("metrics-auth ClusterRole grants %v, want only create tokenreviews and subjectaccessreviews", got)
		}
		b := r.named("ClusterRoleBinding", "", r.fullname()+"-metrics-auth")
		if b == nil || str(b, "roleRef", "name") != auth.GetName() {
			t.Errorf("metrics-auth ClusterRole: no binding")
		} else if subj := slice(b.Object, "subjects"); len(subj) != 1 || subj[0].(map[string]any)["name"] != r.fullname() || subj[0].(map[string]any)["namespace"] != r.v.namespace {
			t.Errorf("metrics-auth binding subjects %v, want the webhook's ServiceAccount", subj)
		}
		rr := slice(reader.Object, "rules")
		if len(rr) != 1 || len(slice(rr[0].(map[string]any), "nonResourceURLs")) != 1 || slice(rr[0].(map[string]any), "nonResourceURLs")[0] != "/metrics" ||
			len(slice(rr[0].(map[string]any), "verbs")) != 1 || slice(rr[0].(map[string]any), "verbs")[0] != "get" {
			t.Errorf("metrics-reader ClusterRole rules %v, want get /metrics only", rr)
		}
		rb := r.named("ClusterRoleBinding", "", r.fullname()+"-metrics-reader")
		if wantReaders := r.value("metrics.readers[0].name", "") != ""; wantReaders != (rb != nil) {
			t.Errorf("metrics-reader binding rendered: %v, want it only with metrics.readers", rb != nil)
		} else if rb != nil {
			subj := slice(rb.Object, "subjects")
			if len(subj) != 1 || subj[0].(map[string]any)["name"] != r.value("metrics.readers[0].name", "") || subj[0].(map[string]any)["namespace"] != r.value("metrics.readers[0].namespace", "") {
				t.Errorf("metrics-reader binding subjects %v", subj)
			}
		}
	}

	for _, sm := range r.all("ServiceMonitor") {
		ep := slice(sm.Object, "spec", "endpoints")[0].(map[string]any)
		if !secure {
			if ep["scheme"] != "http" || ep["bearerTokenFile"] != nil {
				t.Errorf("ServiceMonitor without metrics.secure: %v", ep)
			}
			continue
		}
		tlsConfig, _ := ep["tlsConfig"].(map[string]any)
		if ep["scheme"] != "https" || ep["bearerTokenFile"] != "/var/run/secrets/kubernetes.io/serviceaccount/token" || tlsConfig == nil ||
			tlsConfig["serverName"] != r.fullname()+"."+r.v.namespace+".svc" || tlsConfig["insecureSkipVerify"] != nil {
			t.Errorf("ServiceMonitor endpoint %v: want https with the ServiceAccount token, verifying %s.%s.svc", ep, r.fullname(), r.v.namespace)
		}
		if ca, _ := tlsConfig["ca"].(map[string]any); ca == nil || ca["secret"].(map[string]any)["key"] != "ca.crt" {
			t.Errorf("ServiceMonitor tlsConfig.ca %v: want the serving Secret's ca.crt", tlsConfig["ca"])
		}
	}
}

func unstructuredInt(obj map[string]any, path ...string) (int64, bool, error) {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return 0, false, nil
		}
		cur = m[p]
	}
	switch v := cur.(type) {
	case int64:
		return v, true, nil
	case float64:
		return int64(v), true, nil
	case int:
		return int64(v), true, nil
	}
	return 0, false, nil
}

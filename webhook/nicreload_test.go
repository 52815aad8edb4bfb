package webhook

import (
	"strings"
	"testing"
)

func TestParseConfigMapRef(t *testing.T) {
	for in, want := range map[string]string{
		"nginx-ingress/nginx-ingress":    "nginx-ingress/nginx-ingress",
		"nginx/my-release-nginx-ingress": "nginx/my-release-nginx-ingress",
	} {
		got, err := ParseConfigMapRef(in)
		if err != nil || got.String() != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"", "nginx-ingress", "/name", "ns/", "a/b/c"} {
		_, err := ParseConfigMapRef(in)
		if err == nil || !strings.Contains(err.Error(), "expected namespace/name") || !strings.Contains(err.Error(), "found \""+in+"\"") {
			t.Errorf("%q: %v", in, err)
		}
	}
}

package checker

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestNICVersionFromImage(t *testing.T) {
	for _, c := range []struct {
		image, version  string
		affected, known bool
	}{
		{"nginx/nginx-ingress:5.5.4", "5.5.4", true, true},
		{"nginx/nginx-ingress:v5.5.4-ubi", "5.5.4", true, true},
		{"private-registry.nginx.com/nginx-ic/nginx-plus-ingress:5.0.0-alpine-fips", "5.0.0", true, true},
		{"registry.local:5000/nginx-ingress:3.4.0", "3.4.0", true, true},
		{"nginx/nginx-ingress:3.3.2", "3.3.2", false, true}, // no -ssl-dynamic-reload before 3.4.0
		{"nginx/nginx-ingress:5.5.5", "5.5.5", false, true},
		{"nginx/nginx-ingress:5.6.0@sha256:0123", "5.6.0", false, true},
		{"nginx/nginx-ingress:2026-lts-r1", "2026-lts-r1", true, true},
		{"nginx/nginx-ingress:2026-lts-r4-ubi", "2026-lts-r4", true, true},
		{"nginx/nginx-ingress:2026-lts-r5", "2026-lts-r5", false, true},
		{"nginx/nginx-ingress:edge", "", false, false},
		{"nginx/nginx-ingress@sha256:0123", "", false, false},
		{"registry.local:5000/nginx-ingress", "", false, false},
	} {
		v, affected, known := nicVersion(c.image)
		if v != c.version || affected != c.affected || known != c.known {
			t.Errorf("%s: got (%q, affected %v, known %v), want (%q, %v, %v)", c.image, v, affected, known, c.version, c.affected, c.known)
		}
	}
}

func TestNICContainersReadFlagsAsGoFlagDoes(t *testing.T) {
	podNS := []corev1.EnvVar{{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}
	for _, c := range []struct {
		name      string
		ctr       corev1.Container
		configMap string
		dynamic   bool
		found     bool
	}{
		{"NIC chart defaults", corev1.Container{Args: []string{"-nginx-configmaps=$(POD_NAMESPACE)/nic", "-ssl-dynamic-reload=true"}, Env: podNS}, "nginx/nic", true, true},
		{"flag absent: NIC's default", corev1.Container{Args: []string{"--nginx-configmaps", "nginx/nic"}}, "nginx/nic", true, true},
		{"disabled", corev1.Container{Args: []string{"-nginx-configmaps=a/b", "-ssl-dynamic-reload=false"}}, "a/b", false, true},
		{"last one wins", corev1.Container{Args: []string{"-nginx-configmaps=a/b", "-ssl-dynamic-reload=false", "--ssl-dynamic-reload"}}, "a/b", true, true},
		{"in command", corev1.Container{Command: []string{"/nginx-ingress", "-nginx-configmaps=a/b", "-ssl-dynamic-reload=0"}}, "a/b", false, true},
		{"literal env", corev1.Container{Args: []string{"-nginx-configmaps=$(NS)/b"}, Env: []corev1.EnvVar{{Name: "NS", Value: "x"}}}, "x/b", true, true},
		{"not NIC", corev1.Container{Args: []string{"-ssl-dynamic-reload=true", "-nginx-configmapsx=a/b"}}, "", false, false},
	} {
		got := nicContainers("Deployment", "nginx", "nic", corev1.PodSpec{Containers: []corev1.Container{c.ctr}})
		if !c.found {
			if len(got) != 0 {
				t.Errorf("%s: found %+v", c.name, got)
			}
			continue
		}
		if len(got) != 1 || got[0].configMap != c.configMap || got[0].dynamicReload != c.dynamic {
			t.Errorf("%s: got %+v, want ConfigMap %s, dynamic reload %v", c.name, got, c.configMap, c.dynamic)
		}
	}
}

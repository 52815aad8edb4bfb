package checker

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
)

// check reads http2 from NIC's ConfigMap and says, for the labelled Ingresses with
// nginx.org/grpc-services, whether NIC applies that annotation (http2 "true") or ignores it (NIC's
// default false, or a value NIC does not read as true).
func TestCheckSaysWhetherNICAppliesGRPCServices(t *testing.T) {
	nic := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx-ingress", Namespace: "nginx"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "nginx-ingress", Image: "nginx/nginx-ingress:5.5.4", Args: []string{"-nginx-configmaps=nginx/nginx-ingress", "-ssl-dynamic-reload=false"},
		}}}}},
	}
	grpcIngress := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "gateway", Namespace: "ai-gateway", Labels: map[string]string{"aigw": "mtls"},
		Annotations: map[string]string{"nginx.org/grpc-services": "aigw"}}}
	for _, tc := range []struct {
		name      string
		data      map[string]string // nil: no ConfigMap
		grpc      bool
		status    Status
		contains  string
		noHTTP2Ln bool
	}{
		{name: "http2 true", data: map[string]string{"http2": "true"}, grpc: true, status: StatusOK, contains: `sets http2: "true": NIC applies nginx.org/grpc-services of Ingress/ai-gateway/gateway`},
		{name: "http2 absent", data: map[string]string{}, grpc: true, status: StatusWarning, contains: "does not set http2 (NIC's default: false): NIC ignores nginx.org/grpc-services of Ingress/ai-gateway/gateway"},
		{name: "http2 not a bool", data: map[string]string{"http2": "on"}, grpc: true, status: StatusWarning, contains: `sets http2: "on" (false for NIC)`},
		{name: "no ConfigMap", grpc: true, status: StatusWarning, contains: "does not set http2"},
		{name: "no gRPC Ingress", data: map[string]string{}, noHTTP2Ln: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := []client.Object{nic.DeepCopy()}
			if tc.data != nil {
				objs = append(objs, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "nginx-ingress", Namespace: "nginx"}, Data: tc.data})
			}
			if tc.grpc {
				objs = append(objs, grpcIngress.DeepCopy())
			} else {
				plain := grpcIngress.DeepCopy()
				plain.Annotations = nil
				objs = append(objs, plain)
			}
			cl := fake.NewClientBuilder().WithScheme(coreScheme(t)).WithRESTMapper(restMapper()).WithObjects(objs...).Build()
			r, err := Run(context.Background(), cl, Options{Settings: aigw.DefaultSettings()})
			if err != nil {
				t.Fatal(err)
			}
			var lines []Check
			for _, ch := range r.Checks {
				if ch.Section == SectionNIC && strings.Contains(ch.Message, "http2") {
					lines = append(lines, ch)
				}
			}
			if tc.noHTTP2Ln {
				if len(lines) != 0 {
					t.Fatalf("want no http2 line without a gRPC Ingress, got %+v", lines)
				}
				return
			}
			if len(lines) != 1 || lines[0].Status != tc.status || !strings.Contains(lines[0].Message, tc.contains) {
				t.Fatalf("want one %s line containing %q, got %+v", tc.status, tc.contains, lines)
			}
		})
	}
}

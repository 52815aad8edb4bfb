package webhook

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var (
	btpKind = metav1.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "BackendTLSPolicy"}
	btpRes  = metav1.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "backendtlspolicies"}
)

func FuzzMutateBackendTLSPolicy(f *testing.F) {
	fuzzHandler(f, PathMutateBackendTLSPolicy, btpKind, btpRes, "backendtlspolicy")
}

func FuzzValidateBackendTLSPolicy(f *testing.F) {
	fuzzHandler(f, PathValidateBackendTLSPolicy, btpKind, btpRes, "backendtlspolicy")
}

func FuzzValidateGateway(f *testing.F) {
	fuzzHandler(f, PathValidateGateway,
		metav1.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "Gateway"},
		metav1.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}, "gateway")
}

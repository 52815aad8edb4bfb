package aigw

// The kinds of objects the webhook mutates, validates or reads, by "apiVersion kind".
const (
	KindPod                = "v1 Pod"
	KindConfigMap          = "v1 ConfigMap"
	KindPolicy             = "k8s.nginx.org/v1 Policy"
	KindVirtualServer      = "k8s.nginx.org/v1 VirtualServer"
	KindVirtualServerRoute = "k8s.nginx.org/v1 VirtualServerRoute"
	KindCertificate        = "cert-manager.io/v1 Certificate"
	KindIngress            = "networking.k8s.io/v1 Ingress"
	KindBackendTLSPolicy   = "gateway.networking.k8s.io/v1 BackendTLSPolicy"
	KindGateway            = "gateway.networking.k8s.io/v1 Gateway"
)

// Kind joins an apiVersion and a kind as the constants above spell them.
func Kind(apiVersion, kind string) string { return apiVersion + " " + kind }

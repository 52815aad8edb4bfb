package aigw

// Annotations of the two rollout helpers: the NIC reload after a CA change and the aigw restart
// after a certificate renewal.
const (
	// AnnotationCABundle is written on NGINX Ingress Controller's main ConfigMap: a digest of the
	// CA bundles the CA sync maintains. Changing it makes NIC reload nginx.
	AnnotationCABundle = "mtls.aigw.io/ca-bundle"
	// AnnotationRestartOnRenewal ("true") on a Deployment opts it into restarts when the
	// certificates its pods mount change.
	AnnotationRestartOnRenewal = "mtls.aigw.io/restart-on-renewal"
	// AnnotationCertificates is written on the pod template of such a Deployment: the
	// fingerprints of the mounted server certificate and CA.
	AnnotationCertificates = "mtls.aigw.io/certificates"
)

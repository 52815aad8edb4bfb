// Package patches turns an object's raw JSON into the JSON Patch operations that wire the NGINX
// Ingress Controller → AI gateway mTLS hop. It does no I/O and knows no Kubernetes client: the
// admission webhook and the offline CLI call the same functions.
package patches

// Package harness starts the real parts the end-to-end tests and the demo run against: a
// kube-apiserver and etcd (envtest) with the cert-manager, NGINX Ingress Controller and Gateway API CRDs, and
// the webhook serving over TLS on loopback.
package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/tools"
)

// K8sVersion is the version of the envtest binaries `make envtest` builds.
const K8sVersion = "1.37.2"

// RepoRoot is the module's root directory.
func RepoRoot() string { return tools.RepoRoot() }

// AssetsDir is where kube-apiserver and etcd are: $KUBEBUILDER_ASSETS, else the folder
// `make envtest` fills.
func AssetsDir() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "bin", "k8s", K8sVersion)
}

// NICCRDDir holds NGINX Ingress Controller's v5.5.4 CRDs: $NIC_CRDS_DIR, else the copy kept in
// test/crds/nginx (with its SOURCE.txt and NIC's licence).
func NICCRDDir() string {
	if d := os.Getenv("NIC_CRDS_DIR"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "test", "crds", "nginx")
}

// GatewayAPICRDDir holds the Gateway API v1.6.0 standard-channel CRDs (BackendTLSPolicy, Gateway,
// GatewayClass, HTTPRoute, ReferenceGrant) copied from the sigs.k8s.io/gateway-api module into
// test/crds/gateway-api (with its SOURCE.txt and licence).
func GatewayAPICRDDir() string {
	return filepath.Join(RepoRoot(), "test", "crds", "gateway-api")
}

// CertManagerCRDDir holds cert-manager's CRDs, shipped inside its Go module.
func CertManagerCRDDir() (string, error) {
	if d := os.Getenv("CERT_MANAGER_CRDS_DIR"); d != "" {
		return d, nil
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/cert-manager/cert-manager")
	cmd.Dir = RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locating cert-manager's module: %w", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "deploy", "crds"), nil
}

// ErrNoAssets means the envtest binaries are missing; `make envtest` builds them.
var ErrNoAssets = fmt.Errorf("%w: kube-apiserver and etcd not found: get them with `make envtest` (built from the Go module proxy into bin/k8s, about 5 minutes, once), or set KUBEBUILDER_ASSETS", tools.ErrMissing)

// SkipWithout reports whether a test may skip because err says the envtest binaries are missing:
// only with the opt-out (AIGW_TEST_ALLOW_MISSING=1); otherwise every missing tool fails the run.
func SkipWithout(err error) bool {
	return errors.Is(err, ErrNoAssets) && tools.AllowMissing()
}

// Env is a running control plane.
type Env struct {
	env    *envtest.Environment
	Config *rest.Config
	Client client.Client
}

// Start starts kube-apiserver and etcd and loads the CRDs.
func Start() (*Env, error) {
	assets := AssetsDir()
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return nil, ErrNoAssets
	}
	cm, err := CertManagerCRDDir()
	if err != nil {
		return nil, err
	}
	te := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{cm, NICCRDDir(), GatewayAPICRDDir()},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := te.Start()
	if err != nil {
		_ = te.Stop() // kube-apiserver and etcd may be running although loading the CRDs failed
		return nil, fmt.Errorf("starting envtest: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		_ = te.Stop()
		return nil, err
	}
	return &Env{env: te, Config: cfg, Client: c}, nil
}

// Stop stops the control plane.
func (e *Env) Stop() error { return e.env.Stop() }

// Scheme knows the core types and cert-manager's.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = certmanagerv1.AddToScheme(s)
	return s
}

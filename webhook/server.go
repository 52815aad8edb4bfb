package webhook

import (
	"context"
	"crypto/tls"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/aigw-mtls/aigw-mtls-webhook/patches"
)

// Serving paths (kubebuilder convention, SPEC "Serving").
const (
	PathMutatePod       = "/mutate-v1-pod"
	PathMutateConfigMap = "/mutate-v1-configmap"
)

// Options configure the webhook server.
type Options struct {
	Settings          patches.Settings
	CertDir           string
	Host              string
	Port              int
	MetricsAddr       string
	HealthAddr        string
	ExcludeNamespaces []string
}

// DefaultOptions are the serve command's defaults.
func DefaultOptions() Options {
	return Options{
		Settings:          patches.DefaultSettings(),
		CertDir:           "/tmp/k8s-webhook-server/serving-certs",
		Port:              9443,
		MetricsAddr:       ":8080",
		HealthAddr:        ":8081",
		ExcludeNamespaces: []string{"kube-system", "kube-node-lease"},
	}
}

// TLSConfig is applied to the serving TLS config: TLS 1.2 at least, and HTTP/1.1 only, so the
// server is not exposed to HTTP/2 rapid-reset floods.
func TLSConfig(c *tls.Config) {
	c.MinVersion = tls.VersionTLS12
	c.NextProtos = []string{"http/1.1"}
}

// Handlers returns the admission handlers by serving path.
func Handlers(o Options) map[string]admission.Handler {
	excluded := map[string]bool{}
	for _, ns := range o.ExcludeNamespaces {
		excluded[ns] = true
	}
	return map[string]admission.Handler{
		PathMutatePod:       &Mutator{Kind: "Pod", Patch: patches.PatchPod, Settings: o.Settings, CreateOnly: true, Excluded: excluded},
		PathMutateConfigMap: &Mutator{Kind: "ConfigMap", Patch: patches.PatchConfigMap, Settings: o.Settings, Excluded: excluded},
	}
}

// NewManager builds the controller-runtime manager that serves the webhooks, metrics and probes.
// The serving certificate in CertDir is watched and reloaded when it changes.
func NewManager(cfg *rest.Config, o Options) (manager.Manager, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	srv := crwebhook.NewServer(crwebhook.Options{
		Host:    o.Host,
		Port:    o.Port,
		CertDir: o.CertDir,
		TLSOpts: []func(*tls.Config){TLSConfig},
	})
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		WebhookServer:          srv,
		Metrics:                metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress: o.HealthAddr,
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	// GetWebhookServer adds the server to the manager's runnables.
	for path, h := range Handlers(o) {
		mgr.GetWebhookServer().Register(path, (&admission.Webhook{Handler: h}).WithRecoverPanic(true))
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("webhook", srv.StartedChecker()); err != nil {
		return nil, err
	}
	return mgr, nil
}

// Run serves until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	mgr, err := NewManager(cfg, o)
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
}

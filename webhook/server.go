package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
)

// Options configure the webhook server.
type Options struct {
	Settings          aigw.Settings
	CertDir           string
	Host              string
	Port              int
	MetricsAddr       string
	HealthAddr        string
	ExcludeNamespaces []string
	// LeaderElect elects one replica to run the controllers (the CA sync); every replica serves
	// admission.
	LeaderElect bool
	// Namespace holds the leader-election lease (default: the pod's namespace).
	Namespace string
	// CASyncSource is the cert-manager CA Secret the CA sync copies into the nginx.org/ca Secret
	// (Settings.CASecret) of its namespace; empty disables the CA sync.
	CASyncSource string
	// CASyncNamespaces are where the CA sync runs and whose bundles the NIC reload counts; empty
	// or "*": every namespace the Secret cache holds.
	CASyncNamespaces []string
	// NICConfigMap (namespace/name) is NGINX Ingress Controller's main ConfigMap, annotated
	// NICReloadDelay after the CA sync changed a bundle so that NIC reloads nginx; empty: off.
	NICConfigMap   string
	NICReloadDelay time.Duration
	// NICReloadMinInterval is the least time between two annotations of NICConfigMap: changes
	// within it are folded into the next one (0: none).
	NICReloadMinInterval time.Duration
	// RestartNamespaces are where Deployments annotated mtls.aigw.io/restart-on-renewal are
	// rolled out when their certificates change; empty: off.
	RestartNamespaces []string
	// SecretNamespaces are the namespaces whose labelled Secrets are cached (empty: every
	// namespace, which needs cluster-wide read access to Secrets).
	SecretNamespaces []string
	// OneSecretInformer holds the Secrets of SecretNamespaces with one cluster-wide watch of the
	// labelled Secrets instead of one watch per namespace: it needs read access to Secrets in every
	// namespace (a ClusterRole), and keeps of the Secrets elsewhere only their names. The CA sync
	// and the NIC reload then run in SecretNamespaces when CASyncNamespaces is empty or "*". The
	// watch's initial list and relists still carry every labelled Secret of the cluster, keys
	// included, through the process (500 per page) before the cache drops them.
	OneSecretInformer bool
	// NamespacesPerRequest is how many namespaces other than its own one admission request may
	// have reviewed (SubjectAccessReviews) and read; references past it are reported as not
	// checked (see DefaultNamespacesPerRequest). 0: none.
	NamespacesPerRequest int
	// ExpirySeries is the most certificate expiry series a scrape exports (see
	// DefaultExpirySeries); the Secrets past it are counted in
	// aigw_mtls_certificate_expiry_series_omitted.
	ExpirySeries int
	// ClientCAName is a file in CertDir holding the CA that signs the API server's client
	// certificate: set, the server requires and verifies a client certificate on every connection
	// (the file is reloaded when it changes).
	ClientCAName string
	// ClientAllowedSubjects are the names (common name or DNS name) a client certificate must carry,
	// besides being signed by the client CA; "*" accepts any it signed. Used with ClientCAName.
	ClientAllowedSubjects []string
	// GatewayAPI turns on what the Gateway API (NGINX Gateway Fabric) side needs from the manager:
	// the cache of the labelled ConfigMaps (the CA ConfigMaps BackendTLSPolicies reference), and
	// the CA sync's ConfigMap (key ca.crt) beside its nginx.org/ca Secret.
	GatewayAPI bool
	// Serving bounds requests and delays shutdown (see ServingLimits).
	Serving ServingLimits
	// Probe is the live TLS probe of the aigw endpoints (ProbeLoop); off by default.
	Probe ProbeOptions
	// MetricsSecure serves metrics over HTTPS (the serving certificate in CertDir) to callers the
	// API server authenticates (TokenReview) and authorizes (SubjectAccessReview: get on the
	// non-resource URL /metrics); false serves them over plain HTTP to anyone.
	MetricsSecure bool
}

// DefaultOptions are the serve command's defaults.
func DefaultOptions() Options {
	return Options{
		Settings:             aigw.DefaultSettings(),
		CertDir:              "/tmp/k8s-webhook-server/serving-certs",
		Port:                 9443,
		MetricsAddr:          ":8080",
		HealthAddr:           ":8081",
		ExcludeNamespaces:    []string{"kube-system", "kube-node-lease"},
		NamespacesPerRequest: DefaultNamespacesPerRequest,
		ExpirySeries:         DefaultExpirySeries,
		CASyncSource:         "aigw-ca",
		NICReloadDelay:       5 * time.Second,
		NICReloadMinInterval: time.Minute,
		Serving:              DefaultServingLimits(),
		MetricsSecure:        true,
		Probe:                DefaultProbeOptions(),

		ClientAllowedSubjects: DefaultClientAllowedSubjects,
	}
}

// TLSConfig is applied to the serving TLS config (webhooks and metrics): TLS 1.2 at least, TLS 1.2
// with forward-secret AEAD suites only (Go would otherwise negotiate CBC-SHA1 suites), and
// HTTP/1.1 only, so the server is not exposed to HTTP/2 rapid-reset floods. TLS 1.3's suites are
// all AEAD.
func TLSConfig(c *tls.Config) {
	c.MinVersion = tls.VersionTLS12
	c.CipherSuites = AEADCipherSuites
	c.NextProtos = []string{"http/1.1"}
}

// AEADCipherSuites are the TLS 1.2 suites the server accepts.
var AEADCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// NewManager builds the controller-runtime manager that serves the webhooks, metrics and probes.
// The serving certificate in CertDir is watched and reloaded when it changes.
func NewManager(cfg *rest.Config, o Options) (manager.Manager, error) {
	// The restart on renewal reads the Secrets its Deployments mount from the cache: when the
	// Secret cache is limited to namespaces, it must hold theirs.
	if len(o.SecretNamespaces) > 0 {
		o.SecretNamespaces = append([]string{}, o.SecretNamespaces...)
		for _, ns := range o.RestartNamespaces {
			if !slices.Contains(o.SecretNamespaces, ns) {
				o.SecretNamespaces = append(o.SecretNamespaces, ns)
			}
		}
	}
	o.CASyncNamespaces = caSyncNamespaces(o)
	srv := NewServer(o.Host, o.Port, o.CertDir, o.Serving, TLSConfig)
	// Client authentication of the API server (its admission kubeconfig): see docs/security.md, "Direct callers".
	srv.ClientCAName = o.ClientCAName
	srv.ClientAllowedSubjects = o.ClientAllowedSubjects
	metricsOpts := metricsserver.Options{BindAddress: o.MetricsAddr}
	if o.MetricsSecure {
		metricsOpts.SecureServing = true
		metricsOpts.CertDir = o.CertDir
		metricsOpts.TLSOpts = []func(*tls.Config){TLSConfig}
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  cacheScheme,
		WebhookServer:           srv,
		Cache:                   cacheOptions(o),
		Metrics:                 metricsOpts,
		HealthProbeBindAddress:  o.HealthAddr,
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        "aigw-mtls-webhook",
		LeaderElectionNamespace: o.Namespace,
		// Several managers may run in one process (tests, the demo); names are unique per manager.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	synced := &atomic.Bool{}
	objs := newCacheObjects(mgr, o)
	certExpiry.watch(mgr.GetCache(), o.Settings, o.ExpirySeries)
	// GetWebhookServer adds the server to the manager's runnables.
	for path, h := range Handlers(o, objs) {
		mgr.GetWebhookServer().Register(path, (&admission.Webhook{Handler: h}).WithRecoverPanic(true))
	}
	if err := mgr.Add(everyReplica(func(ctx context.Context) error {
		return objs.informers.run(ctx, synced)
	})); err != nil {
		return nil, err
	}
	events := mgr.GetEventRecorder("aigw-mtls-webhook")
	if o.CASyncSource != "" {
		sync := &CASync{Client: mgr.GetClient(), API: mgr.GetAPIReader(), Cache: mgr.GetCache(), Source: o.CASyncSource, Settings: o.Settings, Events: events, ConfigMap: o.GatewayAPI,
			Namespaces: o.CASyncNamespaces}
		if err := sync.SetupWithManager(mgr); err != nil {
			return nil, err
		}
	}
	if err := setupRollouts(mgr, o, events); err != nil {
		return nil, err
	}
	if o.Probe.Enabled {
		if err := o.Probe.validate(); err != nil {
			return nil, err
		}
		if err := mgr.Add(&ProbeLoop{Options: o.Probe, Settings: o.Settings, Objects: objs, API: mgr.GetAPIReader(), Events: events, Ready: synced.Load, GatewayAPI: o.GatewayAPI}); err != nil {
			return nil, err
		}
	}
	if err := (&PolicyAudit{Objects: objs, Settings: o.Settings, Events: events, informers: objs.informers}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("webhook", srv.StartedChecker()); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("shutdown", srv.DrainingChecker()); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("informers", func(*http.Request) error {
		if !synced.Load() {
			return errors.New("informer cache not synced yet")
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return mgr, nil
}

// Run serves until ctx ends (SIGTERM), then keeps serving for the shutdown delay, with readiness
// failed and every response closing its connection, before the manager stops. The kubelet sends
// SIGTERM while the endpoint controller and kube-proxy are still removing the pod from the
// Service: without the delay, the API server's connections and the Service rules of that moment
// lead to a closed port, and labelled creates fail closed.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	mgr, err := NewManager(cfg, o)
	if err != nil {
		return err
	}
	srv, _ := mgr.GetWebhookServer().(*Server)
	mgrCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	go func() {
		select {
		case <-mgrCtx.Done():
			return
		case <-ctx.Done():
		}
		if srv != nil {
			srv.Drain()
		}
		log.FromContext(ctx).Info("shutting down after the shutdown delay", "delay", o.Serving.ShutdownDelay.String())
		select {
		case <-mgrCtx.Done():
		case <-time.After(o.Serving.ShutdownDelay):
		}
		stop()
	}()
	return mgr.Start(mgrCtx)
}

// everyReplica is a runnable that runs on every replica, not only on the elected leader: each
// replica serves admission from its own cache, so each must start it (and become ready).
type everyReplica func(context.Context) error

func (f everyReplica) Start(ctx context.Context) error { return f(ctx) }
func (everyReplica) NeedLeaderElection() bool          { return false }

// caSyncNamespaces are where the CA sync and the NIC reload run: o.CASyncNamespaces, where empty or
// "*" means every namespace the Secret cache holds, which with one cluster-wide Secret watch is
// SecretNamespaces (the watch also sees, as names only, the Secrets everywhere else).
func caSyncNamespaces(o Options) []string {
	if o.OneSecretInformer && len(o.SecretNamespaces) > 0 && (len(o.CASyncNamespaces) == 0 || slices.Contains(o.CASyncNamespaces, "*")) {
		return o.SecretNamespaces
	}
	return o.CASyncNamespaces
}

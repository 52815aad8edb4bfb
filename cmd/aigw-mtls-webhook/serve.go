package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

type serveConfig struct {
	o          webhook.Options
	settings   *settingsFlags
	kubeconfig string
	exclude    string
	restart    string
	secretNS   string
	caSyncNS   string
	subjects   string
	zap        zap.Options
}

func newServeFlags(stderr io.Writer) (*flag.FlagSet, *serveConfig) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &serveConfig{o: webhook.DefaultOptions()}
	c.settings = bindSettings(fs)
	fs.StringVar(&c.o.CertDir, "cert-dir", c.o.CertDir, "directory holding the serving tls.crt and tls.key (reloaded when they change)")
	fs.IntVar(&c.o.Port, "webhook-port", c.o.Port, "webhook HTTPS port")
	fs.StringVar(&c.o.MetricsAddr, "metrics-bind-address", c.o.MetricsAddr, "Prometheus metrics address (0 disables)")
	fs.BoolVar(&c.o.MetricsSecure, "metrics-secure", c.o.MetricsSecure, "serve metrics over HTTPS (the serving certificate) to callers authenticated by TokenReview and authorized by SubjectAccessReview (get /metrics); false: plain HTTP, no authentication")
	fs.DurationVar(&c.o.Serving.ReadTimeout, "request-read-timeout", c.o.Serving.ReadTimeout, "time an admission request (headers and body) may take to arrive; slower clients are cut off")
	fs.IntVar(&c.o.Serving.MaxInFlight, "max-in-flight", c.o.Serving.MaxInFlight, "admission requests handled at once; more are answered 429 with Retry-After (0: no limit)")
	fs.Int64Var(&c.o.Serving.MaxBodyBytesInFlight, "max-body-bytes-in-flight", c.o.Serving.MaxBodyBytesInFlight, "request body bytes handled at once: each request reserves its bytes as they arrive; one whose Content-Length does not fit waits for room up to half the API server's timeout (at most 5s), then is answered 429 with Retry-After (0: no budget). A request costs ~4-8x its body on the heap: keep it near a sixteenth of the memory limit")
	fs.IntVar(&c.o.Serving.MaxConnections, "max-connections", c.o.Serving.MaxConnections, "open connections served at once; a new one past it closes one doing no work (idle, or silent 2 s since it was opened), else waits until one closes (0: no bound)")
	fs.DurationVar(&c.o.Serving.ShutdownDelay, "shutdown-delay", c.o.Serving.ShutdownDelay, "after SIGTERM, keep serving this long (not ready, closing connections) while the pod leaves the Service's endpoints")
	fs.StringVar(&c.o.HealthAddr, "health-probe-bind-address", c.o.HealthAddr, "health (/healthz) and readiness (/readyz) address")
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig (default: in-cluster config, then $KUBECONFIG)")
	fs.BoolVar(&c.o.LeaderElect, "leader-elect", false, "elect one replica to run the CA sync and the Policy audit (every replica serves admission)")
	fs.StringVar(&c.o.Namespace, "leader-election-namespace", "", "namespace of the leader-election lease (default $POD_NAMESPACE)")
	fs.StringVar(&c.o.CASyncSource, "ca-sync-source-secret", c.o.CASyncSource, "cert-manager CA Secret copied into the nginx.org/ca Secret (--ca-secret) of its namespace; empty disables the CA sync")
	fs.StringVar(&c.caSyncNS, "ca-sync-namespaces", "", "namespaces where the CA sync runs and whose CA bundles --nic-configmap follows (comma list); empty or *: every namespace (a tenant who may create the source Secret in a namespace then gets a CA bundle there)")
	fs.BoolVar(&c.o.GatewayAPI, "gateway-api", c.o.GatewayAPI, "Gateway API (NGINX Gateway Fabric): cache the labelled ConfigMaps (the CA BackendTLSPolicies reference), the BackendTLSPolicies, and the Services' ports, routes' backendRefs and ReferenceGrants (the ports a BackendTLSPolicy is judged on), and let the CA sync keep a ConfigMap named --ca-secret (key ca.crt) too")
	fs.StringVar(&c.exclude, "exclude-namespaces", strings.Join(c.o.ExcludeNamespaces, ","), "namespaces never mutated or validated (comma list); $POD_NAMESPACE, the webhook's own, is always added")
	fs.StringVar(&c.o.NICConfigMap, "nic-configmap", "", "NGINX Ingress Controller's main ConfigMap (namespace/name, as its -nginx-configmaps): annotated after the CA sync changes a CA bundle, so NIC reloads nginx; empty disables")
	fs.DurationVar(&c.o.NICReloadDelay, "nic-reload-delay", c.o.NICReloadDelay, "wait after a CA bundle change before annotating --nic-configmap (NIC writes the Secret to disk first)")
	fs.DurationVar(&c.o.NICReloadMinInterval, "nic-reload-min-interval", c.o.NICReloadMinInterval, "least time between two annotations of --nic-configmap (each reloads nginx and cuts long streams); changes within it are folded into the next (0: none)")
	fs.StringVar(&c.restart, "restart-on-renewal-namespaces", "", "namespaces where Deployments annotated mtls.aigw.io/restart-on-renewal=true roll out when their mounted certificates change (comma list); empty disables")
	fs.StringVar(&c.secretNS, "secret-namespaces", "", "namespaces whose labelled Secrets the webhook reads (comma list); empty: every namespace (needs cluster-wide read access to Secrets)")
	fs.BoolVar(&c.o.OneSecretInformer, "one-secret-informer", false, "hold the Secrets of --secret-namespaces with one cluster-wide watch of the labelled Secrets instead of one per namespace (faster start and less memory past ~100 namespaces); needs read access to Secrets in every namespace, and keeps of those elsewhere only their names")
	fs.IntVar(&c.o.ExpirySeries, "max-expiry-series", c.o.ExpirySeries, "most aigw_mtls_certificate_expiry_timestamp_seconds series a scrape exports, one per labelled Secret in namespace/name order; the rest are counted in aigw_mtls_certificate_expiry_series_omitted")
	fs.IntVar(&c.o.NamespacesPerRequest, "namespaces-per-request", c.o.NamespacesPerRequest, "namespaces other than its own one admission request may have the requesting user's access reviewed in (a SubjectAccessReview each) and read; references past it are admitted with a warning that they were not checked (0: none)")
	fs.StringVar(&c.o.ClientCAName, "client-ca-name", "", "file in --cert-dir holding the CA of the API server's client certificate (reloaded when it changes): set, every connection must present a certificate it signed")
	fs.StringVar(&c.subjects, "client-allowed-subjects", strings.Join(c.o.ClientAllowedSubjects, ","), "with --client-ca-name: names (certificate common name or DNS name, comma list) the API server's client certificate must carry; other certificates the CA signed are refused; * accepts any it signed")
	fs.BoolVar(&c.o.Probe.Enabled, "probe", c.o.Probe.Enabled, "probe the aigw endpoints of the labelled egressMTLS Policies with the TLS handshake nginx makes (no private key: it presents no client certificate), on the elected replica; reports Events on the Policy (HandshakeVerified, HandshakeFailed) and the aigw_mtls_probe_* metrics. Needs get/list on Services, EndpointSlices, VirtualServers and Ingresses, and a route to the aigw pods")
	fs.DurationVar(&c.o.Probe.Interval, "probe-interval", c.o.Probe.Interval, "time between two probe cycles, jittered by up to a tenth either way; a cycle is cut off at half of it")
	fs.DurationVar(&c.o.Probe.Timeout, "probe-timeout", c.o.Probe.Timeout, "bound on each probe handshake (connection and TLS)")
	fs.IntVar(&c.o.Probe.MaxEndpoints, "probe-max-endpoints", c.o.Probe.MaxEndpoints, "ready endpoints probed per Policy and aigw Service port (the first in address order)")
	fs.IntVar(&c.o.Probe.MaxTargets, "probe-max-targets", c.o.Probe.MaxTargets, "Policy (or BackendTLSPolicy) and aigw Service port pairs probed per cycle (the namespaces, and the Policies of each, taking turns; at most a quarter of them for one namespace); the rest are logged as left out")
	c.zap.BindFlags(fs)
	return fs, c
}

func serve(args []string, stderr io.Writer) int {
	fs, c := newServeFlags(stderr)
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	s, err := c.settings.settings()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	o := c.o
	o.Settings = s
	if o.ExpirySeries < 0 {
		fmt.Fprintf(stderr, "--max-expiry-series %d: expected 0 or more\n", o.ExpirySeries)
		return 2
	}
	if o.NamespacesPerRequest < 0 {
		fmt.Fprintf(stderr, "--namespaces-per-request %d: expected 0 or more\n", o.NamespacesPerRequest)
		return 2
	}
	o.ExcludeNamespaces = splitList(c.exclude)
	o.RestartNamespaces = splitList(c.restart)
	o.SecretNamespaces = splitList(c.secretNS)
	o.CASyncNamespaces = splitList(c.caSyncNS)
	o.ClientAllowedSubjects = splitList(c.subjects)
	if own := os.Getenv("POD_NAMESPACE"); own != "" {
		o.ExcludeNamespaces = append(o.ExcludeNamespaces, own)
		if o.Namespace == "" {
			o.Namespace = own
		}
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&c.zap)))

	cfg, err := restConfig(c.kubeconfig)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if err := webhook.Run(ctrl.SetupSignalHandler(), cfg, o); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// parseExit is the exit code for a flag parsing error: 0 for -h, 2 otherwise.
func parseExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return ctrl.GetConfig()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Package chart_test checks the Helm chart charts/aigw-mtls-webhook: helm lint and helm template
// for the value sets a user would change, the values schema, config/ (kustomize) in step with the
// chart's default rendering, and the rendering applied to a real API server (envtest), where the
// chart's webhook configurations route admission to the webhook and the binary, started with the
// chart's own arguments as the chart's ServiceAccount, becomes ready under the chart's RBAC.
package chart_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/tools"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

const (
	defaultRelease   = "aigw-mtls-webhook"
	defaultNamespace = "aigw-mtls-system"
)

func chartDir() string { return filepath.Join(harness.RepoRoot(), "charts", "aigw-mtls-webhook") }

// helmBinary is $HELM, else bin/helm (`make helm` builds it), else helm on the PATH.
func helmBinary(t *testing.T) string {
	t.Helper()
	return tools.Helm.Need(t)
}

// runHelm runs helm; helm template renders for the Kubernetes version the tests run (a helm built
// by go install assumes 1.20, below the chart's kubeVersion) unless args name one.
func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	if len(args) > 0 && args[0] == "template" && !slices.Contains(args, "--kube-version") {
		args = append(args, "--kube-version", harness.K8sVersion)
	}
	cmd := exec.Command(helmBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), fmt.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// valueSet is a helm install a user would make.
type valueSet struct {
	name      string
	release   string
	namespace string
	set       []string
	// apiVersions are the --api-versions the cluster serves besides helm's defaults.
	apiVersions []string
}

// placeholderControlPlane is the networkPolicy.webhookFrom every value set renders with unless it
// sets the network exposure itself (the chart renders nothing without one): TEST-NET-1 (RFC 5737),
// never routed, so config/default, rendered with it, is closed until its user names the control
// plane's addresses.
const placeholderControlPlane = "192.0.2.0/24"

func (v valueSet) args() []string {
	var a []string
	if !v.setsExposure() {
		a = append(a, "--set", "networkPolicy.webhookFrom[0].ipBlock.cidr="+placeholderControlPlane)
	}
	for _, s := range v.set {
		a = append(a, "--set", s)
	}
	for _, api := range v.apiVersions {
		a = append(a, "--api-versions", api)
	}
	return a
}

// setsExposure: the value set chooses who reaches the webhook port itself.
func (v valueSet) setsExposure() bool {
	for _, s := range v.set {
		if strings.HasPrefix(s, "networkPolicy.webhookFrom") || strings.HasPrefix(s, "networkPolicy.allowAnySource") || strings.HasPrefix(s, "networkPolicy.enabled") {
			return true
		}
	}
	return false
}

var valueSets = []valueSet{
	{name: "defaults", release: defaultRelease, namespace: defaultNamespace},
	{name: "pki-disabled", release: defaultRelease, namespace: defaultNamespace, set: []string{"pki.enabled=false"}},
	{name: "failure-policy-ignore", release: defaultRelease, namespace: defaultNamespace, set: []string{"failurePolicy=Ignore", "timeoutSeconds=10"}},
	{name: "replicas-3", release: defaultRelease, namespace: defaultNamespace, set: []string{"replicas=3"}},
	{name: "replicas-1", release: defaultRelease, namespace: defaultNamespace, set: []string{"replicas=1"}},
	{name: "memory-1Gi", release: defaultRelease, namespace: defaultNamespace, set: []string{"resources.limits.memory=1Gi", "goMemLimitPercent=90"}},
	{name: "other-names", release: "mtls", namespace: "mtls-system", set: []string{
		"mode=warn",
		"selector.key=example.com/mtls", "selector.value=on",
		"excludeNamespaces={monitoring,flux-system}",
		"wiring.caSecret=nic-ca", "wiring.serverTLSSecret=gw-server", "wiring.clientTLSSecret=gw-client",
		"wiring.policy=gw-mtls", "wiring.container=gateway",
		"pki.namespace=gateway", "pki.ca.secretName=gw-ca",
		"pki.server.dnsNames={gw.gateway.svc.cluster.local,gw.example.com}",
		"pki.privateKey.algorithm=ECDSA", "pki.privateKey.size=384",
		"image.repository=registry.example.com/aigw-mtls-webhook", "image.tag=v9.9.9",
		"priorityClassName=system-cluster-critical",
		"podAnnotations.example\\.com/team=platform",
		"nodeSelector.kubernetes\\.io/os=linux",
	}},
	{name: "ca-sync-everywhere", release: defaultRelease, namespace: defaultNamespace, set: []string{"caSync.namespaces={*}"}},
	{name: "ca-sync-precreated", release: defaultRelease, namespace: defaultNamespace, set: []string{"caSync.precreateSecret=true", "caSync.namespaces={ai-gateway,ai-gateway-staging}"}},
	{name: "ca-sync-own-ca", release: defaultRelease, namespace: defaultNamespace, set: []string{"pki.enabled=false", "caSync.sourceSecret=corp-ca", "caSync.namespaces={ai-gateway,ai-gateway-staging}"}},
	{name: "cluster-wide-secrets", release: defaultRelease, namespace: defaultNamespace, set: []string{"access.clusterWideSecrets=true", "access.checkClusterRole=true"}},
	{name: "secret-namespaces", release: defaultRelease, namespace: defaultNamespace, set: []string{"access.secretNamespaces={ai-gateway,gateway}", "networkPolicy.metricsNamespace=", "clientAuth.caConfigMap=apiserver-client-ca",
		"clientAuth.allowedSubjects={kube-apiserver,apiserver-webhook-client}", "access.namespacesPerRequest=4"}},
	{name: "one-secret-informer", release: defaultRelease, namespace: defaultNamespace, set: []string{"access.secretNamespaces={ai-gateway,tenant-a,tenant-b}", "access.oneSecretInformer=true"}},
	{name: "probe", release: defaultRelease, namespace: defaultNamespace, set: []string{"probe.enabled=true", "probe.interval=1m", "probe.maxEndpoints=4"}},
	{name: "network-policy-any-source", release: defaultRelease, namespace: defaultNamespace, set: []string{"networkPolicy.allowAnySource=true", "clientAuth.caConfigMap=apiserver-client-ca"}},
	{name: "network-policy-off", release: defaultRelease, namespace: defaultNamespace, set: []string{"networkPolicy.enabled=false", "networkPolicy.allowAnySource=true"}},
	{name: "kubeadm-control-plane", release: defaultRelease, namespace: defaultNamespace, set: []string{"networkPolicy.webhookFrom[0].ipBlock.cidr=10.0.0.0/24",
		"networkPolicy.webhookFrom[1].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=kube-system",
		"networkPolicy.webhookFrom[1].podSelector.matchLabels.k8s-app=konnectivity-agent"}},
	{name: "image-digest", release: defaultRelease, namespace: defaultNamespace, set: []string{"image.repository=registry.example.com/aigw-mtls-webhook", "image.tag=v9.9.9",
		"image.digest=sha256:" + strings.Repeat("0123456789abcdef", 4)}},
	{name: "service-monitor", release: defaultRelease, namespace: defaultNamespace, set: []string{"serviceMonitor.enabled=true", "serviceMonitor.labels.release=prometheus",
		"metrics.readers[0].kind=ServiceAccount", "metrics.readers[0].name=prometheus", "metrics.readers[0].namespace=monitoring"}},
	{name: "metrics-plain", release: defaultRelease, namespace: defaultNamespace, set: []string{"metrics.secure=false", "serviceMonitor.enabled=true",
		"serviceMonitor.labels.release=prometheus", "serving.readTimeout=5s", "serving.maxInFlight=50", "serving.shutdownDelaySeconds=20",
		"serving.maxBodyBytesInFlight=67108864", "serving.maxConnections=128"}},
	{name: "rollouts-and-alerts", release: defaultRelease, namespace: defaultNamespace, set: []string{
		"nicReload.configMap=gateway/nginx-ingress", "nicReload.delay=10s", "nicReload.minInterval=30s", "restartOnRenewal.namespaces={ai-gateway,ai-gateway-staging}",
		"prometheusRule.enabled=true", "prometheusRule.labels.release=prometheus",
	}},
	{name: "gateway-api", release: defaultRelease, namespace: defaultNamespace, set: []string{"gatewayAPI.enabled=true"}},
	{name: "grafana-dashboard", release: defaultRelease, namespace: defaultNamespace, set: []string{"grafanaDashboard.enabled=true",
		"grafanaDashboard.label=example.com/dashboard", "grafanaDashboard.labelValue=aigw", "grafanaDashboard.folder=AI gateway", "grafanaDashboard.namespace=monitoring"}},
	{name: "pod-policy", release: defaultRelease, namespace: defaultNamespace, set: []string{"podInjection.engine=policy"}, apiVersions: []string{servesPodPolicies}},
	{name: "pod-policy-other-names", release: "mtls", namespace: "mtls-system", set: []string{"podInjection.engine=policy", "mode=warn", "failurePolicy=Ignore",
		"selector.key=example.com/mtls", "selector.value=on", "excludeNamespaces={monitoring}", "wiring.container=gateway", "wiring.caMountPath=/var/run/ca",
		"gatewayAPI.enabled=true"}, apiVersions: []string{servesPodPolicies}},
	{name: "gateway-api-ca-sync-everywhere", release: defaultRelease, namespace: defaultNamespace, set: []string{"gatewayAPI.enabled=true", "caSync.namespaces={*}"}},
}

func valueSetNamed(name string) valueSet {
	for _, v := range valueSets {
		if v.name == name {
			return v
		}
	}
	panic("no value set " + name)
}

// render runs helm template and returns its text and its objects in helm's install order.
func render(t *testing.T, v valueSet) (string, []*unstructured.Unstructured) {
	t.Helper()
	args := append([]string{"template", v.release, chartDir(), "--namespace", v.namespace}, v.args()...)
	out, err := runHelm(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decode(out)
	if err != nil {
		t.Fatalf("%s: %v", v.name, err)
	}
	return out, objs
}

// decode splits YAML documents into objects (numbers as int64, as the API machinery has them).
func decode(text string) ([]*unstructured.Unstructured, error) {
	return harness.DecodeYAML([]byte(text))
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}

// rendering indexes a rendering's objects by kind and name.
type rendering struct {
	v    valueSet
	objs []*unstructured.Unstructured
}

func (r rendering) all(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r.objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func (r rendering) one(t *testing.T, kind string) *unstructured.Unstructured {
	t.Helper()
	all := r.all(kind)
	if len(all) != 1 {
		t.Fatalf("%s: want one %s, got %d", r.v.name, kind, len(all))
	}
	return all[0]
}

func (r rendering) named(kind, namespace, name string) *unstructured.Unstructured {
	for _, o := range r.all(kind) {
		if o.GetNamespace() == namespace && o.GetName() == name {
			return o
		}
	}
	return nil
}

func str(o *unstructured.Unstructured, path ...string) string {
	s, _, _ := unstructured.NestedString(o.Object, path...)
	return s
}

func slice(o map[string]any, path ...string) []any {
	s, _, _ := unstructured.NestedSlice(o, path...)
	return s
}

func mapAt(o map[string]any, path ...string) map[string]any {
	m, _, _ := unstructured.NestedMap(o, path...)
	return m
}

// container is the Deployment's only container.
func container(t *testing.T, d *unstructured.Unstructured) map[string]any {
	t.Helper()
	cs := slice(d.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("want one container, got %d", len(cs))
	}
	return cs[0].(map[string]any)
}

// flags parses the container's args (--name=value, or --name alone for true).
func flags(t *testing.T, d *unstructured.Unstructured) map[string]string {
	t.Helper()
	args := slice(container(t, d), "args")
	if len(args) == 0 || args[0] != "serve" {
		t.Fatalf("container args must start with serve: %v", args)
	}
	out := map[string]string{}
	for _, a := range args[1:] {
		s := a.(string)
		if !strings.HasPrefix(s, "--") {
			t.Fatalf("argument %q: want --name=value", s)
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(s, "--"), "=")
		if !ok {
			v = "true"
		}
		if _, dup := out[k]; dup {
			t.Errorf("flag --%s given twice", k)
		}
		out[k] = v
	}
	return out
}

func TestLint(t *testing.T) {
	for _, v := range valueSets {
		if len(v.apiVersions) > 0 {
			// helm lint has no --api-versions: it lints as a cluster serving helm's defaults only,
			// where the chart refuses these values (TestPodPolicyEngineNeedsTheAPI).
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			args := append([]string{"lint", "--strict", chartDir(), "--namespace", v.namespace}, v.args()...)
			out, err := runHelm(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ERROR]") {
				t.Errorf("helm lint --strict:\n%s", out)
			}
		})
	}
}

// TestRenderings checks what every value set renders.
func TestRenderings(t *testing.T) {
	for _, v := range valueSets {
		t.Run(v.name, func(t *testing.T) {
			_, objs := render(t, v)
			r := rendering{v: v, objs: objs}
			checkCommon(t, r)
			checkDeployment(t, r)
			checkWebhooks(t, r)
			checkServingCertificate(t, r)
			checkPKI(t, r)
			checkRBAC(t, r)
			checkServingAndMetrics(t, r)
			checkWritePolicies(t, r)
			checkNetworkPolicy(t, r)
		})
	}
}

// checkCommon: labels, namespaces, no Secret of the chart's own.
func checkCommon(t *testing.T, r rendering) {
	t.Helper()
	clusterScoped := map[string]bool{"ClusterRole": true, "ClusterRoleBinding": true, "MutatingWebhookConfiguration": true, "ValidatingWebhookConfiguration": true,
		"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true, "MutatingAdmissionPolicy": true, "MutatingAdmissionPolicyBinding": true}
	for _, o := range r.objs {
		id := o.GetKind() + "/" + o.GetName()
		l := o.GetLabels()
		for _, k := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "app.kubernetes.io/component", "app.kubernetes.io/part-of", "helm.sh/chart"} {
			if l[k] == "" {
				t.Errorf("%s: label %s missing", id, k)
			}
		}
		if l["app.kubernetes.io/instance"] != r.v.release {
			t.Errorf("%s: app.kubernetes.io/instance %q, want the release %q", id, l["app.kubernetes.io/instance"], r.v.release)
		}
		// Every namespaced object names its namespace, so config/ applies without -n.
		if clusterScoped[o.GetKind()] != (o.GetNamespace() == "") {
			t.Errorf("%s: namespace %q", id, o.GetNamespace())
		}
		// The CA sync writes the nginx.org/ca Secret; the chart creates none but, with
		// caSync.precreateSecret, that one (checkWritePolicies).
		if o.GetKind() == "Secret" && (!r.precreate() || o.GetName() != r.wiring("caSecret")) {
			t.Errorf("the chart renders a Secret %s: the CA sync owns %s, cert-manager the others", o.GetName(), r.wiring("caSecret"))
		}
	}
	if pr := r.all("PrometheusRule"); len(pr) != map[bool]int{true: 1}[slices.Contains(r.v.set, "prometheusRule.enabled=true")] {
		t.Errorf("PrometheusRule rendered %d times, want it only with prometheusRule.enabled", len(pr))
	}
	sm := r.all("ServiceMonitor")
	if want := slices.Contains(r.v.set, "serviceMonitor.enabled=true"); want != (len(sm) == 1) {
		t.Errorf("ServiceMonitor rendered %d times, want it only with serviceMonitor.enabled", len(sm))
	}
	if len(sm) == 1 {
		ep := slice(sm[0].Object, "spec", "endpoints")
		if len(ep) != 1 || ep[0].(map[string]any)["port"] != "metrics" {
			t.Errorf("ServiceMonitor endpoints: %v", ep)
		}
		if sm[0].GetLabels()["release"] != "prometheus" {
			t.Errorf("ServiceMonitor labels: %v", sm[0].GetLabels())
		}
	}
}

// wiring is the value of a wiring.* key in this value set (else the default).
func (r rendering) wiring(key string) string { return r.value("wiring."+key, defaultWiring[key]) }

func (r rendering) value(key, def string) string {
	for _, s := range r.v.set {
		if k, v, ok := strings.Cut(s, "="); ok && k == key {
			return v
		}
	}
	return def
}

// defaultWiring is the product's defaults (aigw.DefaultSettings) under the chart's value names.
var defaultWiring = func() map[string]string {
	d := aigw.DefaultSettings()
	return map[string]string{
		"container": d.Container, "caSecret": d.CASecret, "caKey": d.CAKey, "caVolume": d.CAVolume,
		"caMountPath": d.CAMountPath, "serverTLSSecret": d.ServerTLSSecret, "serverTLSVolume": d.ServerTLSVolume,
		"serverTLSMountPath": d.ServerTLSMountPath, "serverCertFile": d.ServerCertFile, "serverKeyFile": d.ServerKeyFile,
		"clientTLSSecret": d.ClientTLSSecret, "policy": d.Policy, "configKey": d.ConfigKey,
	}
}()

// wiringFlags maps the chart's wiring values to the flags of serve.
var wiringFlags = map[string]string{
	"container": "container", "caSecret": "ca-secret", "caKey": "ca-key", "caVolume": "ca-volume",
	"caMountPath": "ca-mount-path", "serverTLSSecret": "server-tls-secret", "serverTLSVolume": "server-tls-volume",
	"serverTLSMountPath": "server-tls-mount-path", "serverCertFile": "server-cert-file", "serverKeyFile": "server-key-file",
	"clientTLSSecret": "client-tls-secret", "policy": "policy", "configKey": "config-key",
}

func (r rendering) excluded() []string {
	out := []string{"kube-system", "kube-node-lease", r.v.namespace}
	if extra := r.value("excludeNamespaces", ""); extra != "" {
		out = append(out, strings.Split(strings.Trim(extra, "{}"), ",")...)
	}
	return out
}

func (r rendering) replicas() int {
	n := 2
	fmt.Sscan(r.value("replicas", "2"), &n)
	return n
}

func (r rendering) fullname() string {
	if r.v.release == defaultRelease {
		return defaultRelease
	}
	return r.v.release + "-aigw-mtls-webhook"
}

func checkDeployment(t *testing.T, r rendering) {
	t.Helper()
	d := r.one(t, "Deployment")
	if got, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas"); int(got) != r.replicas() {
		t.Errorf("replicas: %d, want %d", got, r.replicas())
	}
	pod := mapAt(d.Object, "spec", "template", "spec")
	c := container(t, d)

	// Restricted security context, on the pod and the container.
	for path, want := range map[string]any{
		"runAsNonRoot": true, "runAsUser": int64(65532), "seccompProfile.type": "RuntimeDefault",
	} {
		if got, _, _ := unstructured.NestedFieldNoCopy(pod, append([]string{"securityContext"}, strings.Split(path, ".")...)...); got != want {
			t.Errorf("pod securityContext.%s: %v, want %v", path, got, want)
		}
	}
	for path, want := range map[string]any{
		"runAsNonRoot": true, "runAsUser": int64(65532), "readOnlyRootFilesystem": true,
		"allowPrivilegeEscalation": false, "seccompProfile.type": "RuntimeDefault",
	} {
		if got, _, _ := unstructured.NestedFieldNoCopy(c, append([]string{"securityContext"}, strings.Split(path, ".")...)...); got != want {
			t.Errorf("container securityContext.%s: %v, want %v", path, got, want)
		}
	}
	if drop := slice(c, "securityContext", "capabilities", "drop"); len(drop) != 1 || drop[0] != "ALL" {
		t.Errorf("capabilities.drop: %v, want [ALL]", drop)
	}

	// Requests and limits.
	for _, k := range []string{"requests", "limits"} {
		res := mapAt(c, "resources", k)
		if res["cpu"] == nil || res["memory"] == nil {
			t.Errorf("resources.%s: %v, want cpu and memory", k, res)
		}
	}

	// Probes on the health port.
	ports := map[string]int64{}
	for _, p := range slice(c, "ports") {
		pm := p.(map[string]any)
		ports[pm["name"].(string)] = pm["containerPort"].(int64)
	}
	if ports["webhook"] != 9443 || ports["metrics"] != 8080 || ports["health"] != 8081 {
		t.Errorf("container ports: %v", ports)
	}
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
		if got := mapAt(c, probe, "httpGet"); got["path"] != path || got["port"] != "health" {
			t.Errorf("%s: %v, want GET %s on port health", probe, got, path)
		}
	}

	// The serving Secret mounted as a directory at /certs (never subPath, or renewals never arrive).
	mounts := slice(c, "volumeMounts")
	var certVolume string
	for _, m := range mounts {
		mm := m.(map[string]any)
		if _, ok := mm["subPath"]; ok {
			t.Errorf("volumeMount %v uses subPath: cert-manager's renewals would not reach it", mm)
		}
		if mm["mountPath"] == "/certs" {
			certVolume = mm["name"].(string)
		}
	}
	if certVolume == "" {
		t.Fatalf("no volumeMount at /certs: %v", mounts)
	}
	var certSecret, clientCA string
	for _, v := range slice(pod, "volumes") {
		vm := v.(map[string]any)
		if vm["name"] != certVolume {
			continue
		}
		certSecret = str(&unstructured.Unstructured{Object: vm}, "secret", "secretName")
		// With clientAuth.caConfigMap: the serving Secret and the client CA projected together.
		for _, src := range slice(vm, "projected", "sources") {
			sm := src.(map[string]any)
			if s := str(&unstructured.Unstructured{Object: sm}, "secret", "name"); s != "" {
				certSecret = s
			}
			if cm := str(&unstructured.Unstructured{Object: sm}, "configMap", "name"); cm != "" {
				clientCA = cm
			}
		}
	}
	if want := r.value("clientAuth.caConfigMap", ""); clientCA != want {
		t.Errorf("/certs holds the client CA of ConfigMap %q, want %q", clientCA, want)
	}
	if want := r.fullname() + "-serving-tls"; certSecret != want {
		t.Errorf("/certs comes from Secret %q, want %q", certSecret, want)
	}

	// Spread across nodes.
	tsc := slice(pod, "topologySpreadConstraints")
	if len(tsc) != 1 || tsc[0].(map[string]any)["topologyKey"] != "kubernetes.io/hostname" || tsc[0].(map[string]any)["whenUnsatisfiable"] != "ScheduleAnyway" {
		t.Errorf("topologySpreadConstraints: %v", tsc)
	}
	if pod["serviceAccountName"] != r.fullname() {
		t.Errorf("serviceAccountName %v, want %s", pod["serviceAccountName"], r.fullname())
	}
	if want := r.value("priorityClassName", ""); (pod["priorityClassName"] == nil && want != "") || (want != "" && pod["priorityClassName"] != want) {
		t.Errorf("priorityClassName %v, want %q", pod["priorityClassName"], want)
	}
	// GOMEMLIMIT: goMemLimitPercent of the memory limit, the rest for what the runtime does not count.
	limit := resource.MustParse(r.value("resources.limits.memory", "256Mi"))
	percent, _ := strconv.ParseInt(r.value("goMemLimitPercent", "80"), 10, 64)
	wantLimit := strconv.FormatInt(limit.Value()*percent/100, 10)
	if env := slice(c, "env"); len(env) != 1 || env[0].(map[string]any)["name"] != "GOMEMLIMIT" || env[0].(map[string]any)["value"] != wantLimit {
		t.Errorf("env: want GOMEMLIMIT %s (%d%% of %s), got %v", wantLimit, percent, limit.String(), env)
	}

	// The arguments: every default of the product, the chart's names.
	f := flags(t, d)
	want := map[string]string{
		"cert-dir": "/certs", "webhook-port": "9443", "metrics-bind-address": ":8080", "health-probe-bind-address": ":8081",
		"mode":                      r.value("mode", "enforce"),
		"leader-elect":              "true",
		"leader-election-namespace": r.v.namespace,
		"exclude-namespaces":        strings.Join(r.excluded(), ","),
		"selector":                  r.value("selector.key", "aigw") + "=" + r.value("selector.value", "mtls"),
		"ca-sync-source-secret":     r.caSyncSource(),
		"secret-namespaces":         f["secret-namespaces"], // checkRBAC: equal to the Roles' namespaces
		"zap-log-level":             "info", "zap-encoder": "json",
		"metrics-secure":           r.value("metrics.secure", "true"),
		"max-expiry-series":        r.value("metrics.maxExpirySeries", strconv.Itoa(webhook.DefaultExpirySeries)),
		"request-read-timeout":     r.value("serving.readTimeout", "10s"),
		"max-in-flight":            r.value("serving.maxInFlight", "200"),
		"max-body-bytes-in-flight": r.value("serving.maxBodyBytesInFlight", "16777216"),
		"max-connections":          r.value("serving.maxConnections", "256"),
		"shutdown-delay":           r.value("serving.shutdownDelaySeconds", "10") + "s",
		// The chart's default is the product's.
		"namespaces-per-request": r.value("access.namespacesPerRequest", strconv.Itoa(webhook.DefaultNamespacesPerRequest)),
	}
	for key, flag := range wiringFlags {
		want[flag] = r.wiring(key)
	}
	if cm := r.value("nicReload.configMap", ""); cm != "" {
		want["nic-configmap"], want["nic-reload-delay"] = cm, r.value("nicReload.delay", "5s")
		want["nic-reload-min-interval"] = r.value("nicReload.minInterval", "1m")
	}
	// The CA sync runs, and the NIC reload counts bundles, only where the chart lets it write.
	if r.caSyncSource() != "" {
		want["ca-sync-namespaces"] = strings.Trim(r.value("caSync.namespaces", ""), "{}")
		if want["ca-sync-namespaces"] == "" {
			want["ca-sync-namespaces"] = r.value("pki.namespace", "ai-gateway")
		}
	}
	if ns := r.value("restartOnRenewal.namespaces", ""); ns != "" {
		want["restart-on-renewal-namespaces"] = strings.Trim(ns, "{}")
	}
	if r.value("clientAuth.caConfigMap", "") != "" {
		want["client-ca-name"] = "client-ca.crt"
		want["client-allowed-subjects"] = strings.Trim(r.value("clientAuth.allowedSubjects", "kube-apiserver"), "{}")
	}
	if r.gatewayAPI() {
		want["gateway-api"] = "true"
	}
	if r.oneSecretInformer() {
		want["one-secret-informer"] = "true"
	}
	if r.value("probe.enabled", "false") == "true" {
		want["probe"], want["probe-interval"], want["probe-timeout"] = "true", r.value("probe.interval", "5m"), r.value("probe.timeout", "2s")
		want["probe-max-endpoints"], want["probe-max-targets"] = r.value("probe.maxEndpoints", "16"), r.value("probe.maxTargets", "64")
	}
	for k, v := range want {
		if got, ok := f[k]; !ok || got != v {
			t.Errorf("--%s=%q, want %q", k, got, v)
		}
	}
	for k := range f {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected flag --%s", k)
		}
	}
	image := r.value("image.repository", "aigw-mtls-webhook") + ":" + r.value("image.tag", chartAppVersion(t))
	if digest := r.value("image.digest", ""); digest != "" {
		image = r.value("image.repository", "aigw-mtls-webhook") + "@" + digest // the tag is not used
	}
	if c["image"] != image {
		t.Errorf("image %v, want %s", c["image"], image)
	}

	// Service → the webhook port; the selector picks the pods.
	svc := r.one(t, "Service")
	podLabels := mapAt(d.Object, "spec", "template", "metadata", "labels")
	for k, v := range mapAt(svc.Object, "spec", "selector") {
		if podLabels[k] != v {
			t.Errorf("Service selector %s=%v does not match the pod labels %v", k, v, podLabels)
		}
	}
	var https map[string]any
	for _, p := range slice(svc.Object, "spec", "ports") {
		if pm := p.(map[string]any); pm["name"] == "https" {
			https = pm
		}
	}
	if https == nil || https["port"] != int64(443) || https["targetPort"] != "webhook" {
		t.Errorf("Service port https: %v, want 443 → webhook", https)
	}

	// PodDisruptionBudget with more than one replica.
	pdbs := r.all("PodDisruptionBudget")
	if (r.replicas() > 1) != (len(pdbs) == 1) {
		t.Errorf("%d PodDisruptionBudgets for %d replicas", len(pdbs), r.replicas())
	}
	if len(pdbs) == 1 {
		if got, _, _ := unstructured.NestedInt64(pdbs[0].Object, "spec", "minAvailable"); got != 1 {
			t.Errorf("PodDisruptionBudget minAvailable %d, want 1", got)
		}
	}
}

func (r rendering) caSyncSource() string {
	if s := r.value("caSync.sourceSecret", ""); s != "" {
		return s
	}
	if r.value("pki.enabled", "true") == "false" {
		return ""
	}
	return r.value("pki.ca.secretName", "aigw-ca")
}

func chartAppVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir(), "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "appVersion:"); ok {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	t.Fatal("no appVersion in Chart.yaml")
	return ""
}

func (r rendering) gatewayAPI() bool { return r.value("gatewayAPI.enabled", "false") == "true" }

func checkWebhook(t *testing.T, r rendering, kind string, hook *unstructured.Unstructured, w webhookSpec) {
	t.Helper()
	id := kind + " " + w.name
	svc := mapAt(hook.Object, "clientConfig", "service")
	if svc["name"] != r.fullname() || svc["namespace"] != r.v.namespace || svc["path"] != w.path || svc["port"] != int64(443) {
		t.Errorf("%s: clientConfig.service %v, want %s/%s:443%s", id, svc, r.v.namespace, r.fullname(), w.path)
	}
	fp := w.failurePolicy
	if fp == "" {
		fp = r.value("failurePolicy", "Fail")
	}
	timeout, _, _ := unstructured.NestedInt64(hook.Object, "timeoutSeconds")
	if str(hook, "failurePolicy") != fp || str(hook, "sideEffects") != kinds.SideEffects || str(hook, "matchPolicy") != "Equivalent" ||
		fmt.Sprint(timeout) != r.value("timeoutSeconds", "5") {
		t.Errorf("%s: failurePolicy %q sideEffects %q matchPolicy %q timeoutSeconds %d, want %s %s Equivalent %s",
			id, str(hook, "failurePolicy"), str(hook, "sideEffects"), str(hook, "matchPolicy"), timeout, fp, kinds.SideEffects, r.value("timeoutSeconds", "5"))
	}
	if v := slice(hook.Object, "admissionReviewVersions"); len(v) != 1 || v[0] != "v1" {
		t.Errorf("%s: admissionReviewVersions %v", id, v)
	}
	if reinvoke := str(hook, "reinvocationPolicy"); reinvoke != w.reinvocation {
		t.Errorf("%s: reinvocationPolicy %q, want %q", id, reinvoke, w.reinvocation)
	}
	sel := mapAt(hook.Object, "objectSelector", "matchLabels")
	key, value := r.value("selector.key", "aigw"), r.value("selector.value", "mtls")
	if len(sel) != 1 || sel[key] != value {
		t.Errorf("%s: objectSelector %v, want %s=%s", id, sel, key, value)
	}
	exprs := slice(hook.Object, "namespaceSelector", "matchExpressions")
	if len(exprs) != 1 {
		t.Fatalf("%s: namespaceSelector %v", id, exprs)
	}
	e := exprs[0].(map[string]any)
	var values []string
	for _, v := range e["values"].([]any) {
		values = append(values, v.(string))
	}
	if e["key"] != "kubernetes.io/metadata.name" || e["operator"] != "NotIn" || !slices.Equal(values, r.excluded()) {
		t.Errorf("%s: namespaceSelector %v, want kubernetes.io/metadata.name NotIn %v", id, e, r.excluded())
	}
	rules := slice(hook.Object, "rules")
	if len(rules) != 1 {
		t.Fatalf("%s: rules %v", id, rules)
	}
	rule := rules[0].(map[string]any)
	want := map[string][]string{"apiGroups": {w.group}, "apiVersions": {w.version}, "resources": {w.resource}, "operations": w.operations}
	for k, v := range want {
		var got []string
		for _, x := range rule[k].([]any) {
			got = append(got, x.(string))
		}
		if !slices.Equal(got, v) {
			t.Errorf("%s: rules[0].%s %v, want %v", id, k, got, v)
		}
	}
}

// checkServingCertificate: self-signed Issuer → CA → CA Issuer → serving Certificate for the Service.
func checkServingCertificate(t *testing.T, r rendering) {
	t.Helper()
	ns, full := r.v.namespace, r.fullname()
	ss := r.named("Issuer", ns, full+"-selfsigned")
	ca := r.named("Certificate", ns, full+"-ca")
	caIssuer := r.named("Issuer", ns, full+"-ca")
	serving := r.named("Certificate", ns, full+"-serving")
	if ss == nil || ca == nil || caIssuer == nil || serving == nil {
		t.Fatalf("the webhook's issuing chain is incomplete: selfsigned Issuer %v, CA %v, CA Issuer %v, serving %v", ss != nil, ca != nil, caIssuer != nil, serving != nil)
	}
	if mapAt(ss.Object, "spec", "selfSigned") == nil {
		t.Errorf("Issuer %s: want selfSigned", ss.GetName())
	}
	if isCA, _, _ := unstructured.NestedBool(ca.Object, "spec", "isCA"); !isCA || str(ca, "spec", "issuerRef", "name") != ss.GetName() {
		t.Errorf("Certificate %s: want isCA issued by %s", ca.GetName(), ss.GetName())
	}
	if str(caIssuer, "spec", "ca", "secretName") != str(ca, "spec", "secretName") {
		t.Errorf("Issuer %s signs with %q, the CA is in %q", caIssuer.GetName(), str(caIssuer, "spec", "ca", "secretName"), str(ca, "spec", "secretName"))
	}
	if str(serving, "spec", "issuerRef", "name") != caIssuer.GetName() || str(serving, "spec", "secretName") != full+"-serving-tls" {
		t.Errorf("serving Certificate: issuer %q secret %q", str(serving, "spec", "issuerRef", "name"), str(serving, "spec", "secretName"))
	}
	var names []string
	for _, n := range slice(serving.Object, "spec", "dnsNames") {
		names = append(names, n.(string))
	}
	if want := []string{full + "." + ns + ".svc", full + "." + ns + ".svc.cluster.local"}; !slices.Equal(names, want) {
		t.Errorf("serving Certificate dnsNames %v, want %v", names, want)
	}
}

// checkPKI: the aigw PKI when enabled, nothing in its namespace otherwise.
func checkPKI(t *testing.T, r rendering) {
	t.Helper()
	ns := r.value("pki.namespace", "ai-gateway")
	if r.value("pki.enabled", "true") == "false" {
		for _, o := range r.objs {
			if (o.GetKind() == "Certificate" || o.GetKind() == "Issuer") && o.GetNamespace() != r.v.namespace {
				t.Errorf("pki.enabled=false renders %s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
			}
		}
		if n := len(r.all("Certificate")); n != 2 {
			t.Errorf("pki.enabled=false: %d Certificates, want the webhook's 2", n)
		}
		return
	}
	key, value := r.value("selector.key", "aigw"), r.value("selector.value", "mtls")
	caName := r.value("pki.ca.secretName", "aigw-ca")
	ca := r.named("Certificate", ns, caName)
	caIssuer := r.named("Issuer", ns, caName)
	ss := r.named("Issuer", ns, caName+"-selfsigned")
	server := r.named("Certificate", ns, r.wiring("serverTLSSecret"))
	client := r.named("Certificate", ns, r.wiring("clientTLSSecret"))
	if ca == nil || caIssuer == nil || ss == nil || server == nil || client == nil {
		t.Fatalf("aigw PKI incomplete in %s: CA %v, CA Issuer %v, self-signed Issuer %v, server %v, client %v", ns, ca != nil, caIssuer != nil, ss != nil, server != nil, client != nil)
	}
	if isCA, _, _ := unstructured.NestedBool(ca.Object, "spec", "isCA"); !isCA || str(ca, "spec", "commonName") != "Internal CA" || str(ca, "spec", "issuerRef", "name") != ss.GetName() {
		t.Errorf("CA Certificate: %v", ca.Object["spec"])
	}
	if str(caIssuer, "spec", "ca", "secretName") != caName {
		t.Errorf("CA Issuer signs with %q, want %q", str(caIssuer, "spec", "ca", "secretName"), caName)
	}
	for _, c := range []*unstructured.Unstructured{ca, server, client} {
		if c.GetLabels()[key] != value {
			t.Errorf("Certificate %s: label %s=%s missing (the webhook caches only labelled Certificates)", c.GetName(), key, value)
		}
		if got := mapAt(c.Object, "spec", "secretTemplate", "labels"); len(got) != 1 || got[key] != value {
			t.Errorf("Certificate %s: secretTemplate labels %v, want %s=%s", c.GetName(), got, key, value)
		}
		if str(c, "spec", "secretName") != c.GetName() {
			t.Errorf("Certificate %s: secretName %q", c.GetName(), str(c, "spec", "secretName"))
		}
		alg := r.value("pki.privateKey.algorithm", "RSA")
		if str(c, "spec", "privateKey", "algorithm") != alg {
			t.Errorf("Certificate %s: privateKey %v, want %s", c.GetName(), mapAt(c.Object, "spec", "privateKey"), alg)
		}
		for _, d := range []string{"duration", "renewBefore"} {
			if str(c, "spec", d) == "" {
				t.Errorf("Certificate %s: %s missing", c.GetName(), d)
			}
		}
	}
	for _, c := range []*unstructured.Unstructured{server, client} {
		if str(c, "spec", "issuerRef", "name") != caName {
			t.Errorf("Certificate %s issued by %q, want the CA Issuer %q", c.GetName(), str(c, "spec", "issuerRef", "name"), caName)
		}
	}
	usages := func(c *unstructured.Unstructured) []string {
		var u []string
		for _, x := range slice(c.Object, "spec", "usages") {
			u = append(u, x.(string))
		}
		slices.Sort(u)
		return u
	}
	if got := usages(server); !slices.Equal(got, []string{"digital signature", "key encipherment", "server auth"}) {
		t.Errorf("server Certificate usages %v", got)
	}
	if got := usages(client); !slices.Equal(got, []string{"client auth", "digital signature", "key encipherment"}) {
		t.Errorf("client Certificate usages %v", got)
	}
	if str(client, "spec", "commonName") != "nginx-ingress-client" {
		t.Errorf("client Certificate commonName %q", str(client, "spec", "commonName"))
	}
	var dns []string
	for _, n := range slice(server.Object, "spec", "dnsNames") {
		dns = append(dns, n.(string))
	}
	want := []string{"aigw." + ns + ".svc.cluster.local", "aigw." + ns + ".svc"}
	if v := r.value("pki.server.dnsNames", ""); v != "" {
		want = strings.Split(strings.Trim(v, "{}"), ",")
	}
	if !slices.Equal(dns, want) {
		t.Errorf("server Certificate dnsNames %v, want %v", dns, want)
	}
	if str(server, "spec", "commonName") != want[0] {
		t.Errorf("server Certificate commonName %q, want %q", str(server, "spec", "commonName"), want[0])
	}
}

// checkRBAC: Policies and Certificates read cluster wide, Secrets only in the namespaces served
// (cluster wide only with access.clusterWideSecrets or caSync.namespaces={*}); Secret writes only
// where the CA sync writes, update/patch/delete only of the CA Secret by name, create limited to
// it by the ValidatingAdmissionPolicy; leases in the release namespace; nothing `check` alone needs.
func checkRBAC(t *testing.T, r rendering) {
	t.Helper()
	cr := r.named("ClusterRole", "", r.fullname())
	if cr == nil {
		t.Fatalf("no ClusterRole %s", r.fullname())
	}
	cluster := grants(cr)
	for _, g := range []grant{
		{"k8s.nginx.org", "policies", "watch"}, {"cert-manager.io", "certificates", "watch"},
		{"", "events", "create"}, {"events.k8s.io", "events", "create"},
		{"authorization.k8s.io", "subjectaccessreviews", "create"},
	} {
		if _, ok := cluster[g]; !ok {
			t.Errorf("ClusterRole: %s %s/%s missing", g.verb, g.group, g.resource)
		}
	}
	everywhere := r.value("caSync.namespaces", "") == "{*}"
	clusterSecrets := r.secretsReadClusterWide()
	for g := range cluster {
		read := g.verb == "get" || g.verb == "list" || g.verb == "watch"
		allowed := (read && cacheReads(r)[g]) || probeReads(r)[g] ||
			(g.resource == "events" && (g.verb == "create" || g.verb == "patch")) ||
			(g.resource == "subjectaccessreviews" && g.verb == "create") ||
			(everywhere && g.group == "" && g.resource == "secrets" && g.verb != "deletecollection") ||
			(everywhere && r.gatewayAPI() && g.group == "" && g.resource == "configmaps" && (g.verb == "create" || g.verb == "update"))
		if !allowed || g.verb == "*" || g.resource == "*" {
			t.Errorf("ClusterRole grants %s %s/%s", g.verb, g.group, g.resource)
		}
	}
	if _, ok := cluster[grant{"", "secrets", "list"}]; ok != clusterSecrets {
		t.Errorf("ClusterRole lists Secrets: %v, want it only with access.clusterWideSecrets, access.oneSecretInformer or caSync.namespaces={*}", ok)
	}
	// Whenever the ServiceAccount may create Secrets, the admission policy limits it to the CA Secret.
	if r.caSyncSource() != "" {
		vap := r.named("ValidatingAdmissionPolicy", "", r.fullname()+"-secret-writes")
		bind := r.named("ValidatingAdmissionPolicyBinding", "", r.fullname()+"-secret-writes")
		if vap == nil || bind == nil {
			t.Errorf("CA sync on: no ValidatingAdmissionPolicy (and binding) %s-secret-writes", r.fullname())
		} else {
			expr := fmt.Sprint(slice(vap.Object, "spec", "validations"))
			if !strings.Contains(expr, `"`+r.wiring("caSecret")+`"`) || !strings.Contains(expr, "nginx.org/ca") {
				t.Errorf("ValidatingAdmissionPolicy validations %s: want name %s and type nginx.org/ca", expr, r.wiring("caSecret"))
			}
			if cond := fmt.Sprint(slice(vap.Object, "spec", "matchConditions")); !strings.Contains(cond, "system:serviceaccount:"+r.v.namespace+":"+r.fullname()) {
				t.Errorf("ValidatingAdmissionPolicy matchConditions %s: want the ServiceAccount", cond)
			}
		}
	}
	if _, ok := cluster[grant{"", "secrets", "create"}]; ok != everywhere {
		t.Errorf("ClusterRole Secret create: %v, want it only with caSync.namespaces={*}", ok)
	}
	// Whenever the ServiceAccount may create ConfigMaps (Gateway API), the policy limits it to the CA
	// ConfigMap.
	cmVAP := r.named("ValidatingAdmissionPolicy", "", r.fullname()+"-configmap-writes")
	if want := r.caSyncSource() != "" && r.gatewayAPI(); (cmVAP != nil) != want ||
		(r.named("ValidatingAdmissionPolicyBinding", "", r.fullname()+"-configmap-writes") != nil) != want {
		t.Errorf("ValidatingAdmissionPolicy (and binding) %s-configmap-writes rendered: %v, want %v", r.fullname(), cmVAP != nil, want)
	} else if want {
		if expr := fmt.Sprint(slice(cmVAP.Object, "spec", "validations")); !strings.Contains(expr, `"`+r.wiring("caSecret")+`"`) {
			t.Errorf("ConfigMap ValidatingAdmissionPolicy validations %s: want name %s", expr, r.wiring("caSecret"))
		}
	}
	if _, ok := cluster[grant{"", "configmaps", "create"}]; ok != (everywhere && r.gatewayAPI()) {
		t.Errorf("ClusterRole ConfigMap create: %v, want it only with gatewayAPI.enabled and caSync.namespaces={*}", ok)
	}
	if everywhere && r.gatewayAPI() {
		if names := cluster[grant{"", "configmaps", "update"}]; !slices.Equal(names, []string{r.wiring("caSecret")}) {
			t.Errorf("ClusterRole ConfigMap update limited to %v, want [%s]", names, r.wiring("caSecret"))
		}
	}
	if everywhere {
		if names := cluster[grant{"", "secrets", "update"}]; !slices.Equal(names, []string{r.wiring("caSecret")}) {
			t.Errorf("ClusterRole Secret update limited to %v, want [%s]", names, r.wiring("caSecret"))
		}
	}
	// Roles: leases in the release namespace; Secret reads in each namespace served; Secret writes
	// in each CA sync namespace.
	var caSyncNamespaces, restartNamespaces, secretNamespaces []string
	for _, role := range r.all("Role") {
		g := grants(role)
		switch {
		case strings.HasSuffix(role.GetName(), "-leader-election"):
			if role.GetNamespace() != r.v.namespace {
				t.Errorf("leader-election Role in %s", role.GetNamespace())
			}
			for _, v := range []string{"get", "create", "update"} {
				if _, ok := g[grant{"coordination.k8s.io", "leases", v}]; !ok {
					t.Errorf("leader-election Role: %s leases missing", v)
				}
			}
		case strings.HasSuffix(role.GetName(), "-secrets"):
			secretNamespaces = append(secretNamespaces, role.GetNamespace())
			_, get := g[grant{"", "secrets", "get"}]
			_, list := g[grant{"", "secrets", "list"}]
			_, watch := g[grant{"", "secrets", "watch"}]
			if len(g) != 3 || !get || !list || !watch {
				t.Errorf("secrets Role %s grants %v, want get, list, watch on secrets", role.GetNamespace(), g)
			}
		case strings.HasSuffix(role.GetName(), "-ca-sync"):
			caSyncNamespaces = append(caSyncNamespaces, role.GetNamespace())
			// caSync.precreateSecret: neither create nor delete (the chart creates the Secret).
			if names, ok := g[grant{"", "secrets", "create"}]; ok == r.precreate() || len(names) != 0 {
				t.Errorf("ca-sync Role: create secrets %v %v, want it exactly without caSync.precreateSecret", ok, names)
			}
			if _, ok := g[grant{"", "secrets", "delete"}]; ok == r.precreate() {
				t.Errorf("ca-sync Role: delete secrets %v, want it exactly without caSync.precreateSecret", ok)
			}
			for _, v := range []string{"get", "update", "patch", "delete"} {
				if names, ok := g[grant{"", "secrets", v}]; ok && !slices.Equal(names, []string{r.wiring("caSecret")}) || !ok && v != "delete" {
					t.Errorf("ca-sync Role: %s secrets %v limited to %v, want it limited to [%s]", v, ok, names, r.wiring("caSecret"))
				}
			}
			if _, ok := g[grant{"", "configmaps", "create"}]; ok != r.gatewayAPI() {
				t.Errorf("ca-sync Role: create configmaps %v, want it only with gatewayAPI.enabled", ok)
			}
			if names, ok := g[grant{"", "configmaps", "update"}]; ok != r.gatewayAPI() || (ok && !slices.Equal(names, []string{r.wiring("caSecret")})) {
				t.Errorf("ca-sync Role: update configmaps %v limited to %v, want it only with gatewayAPI.enabled, limited to [%s]", ok, names, r.wiring("caSecret"))
			}
		case strings.HasSuffix(role.GetName(), "-nic-reload"):
			// Only NIC's ConfigMap, by name: get and patch.
			ns, name, _ := strings.Cut(r.value("nicReload.configMap", ""), "/")
			if role.GetNamespace() != ns || len(g) != 2 || !slices.Equal(g[grant{"", "configmaps", "get"}], []string{name}) ||
				!slices.Equal(g[grant{"", "configmaps", "patch"}], []string{name}) {
				t.Errorf("nic-reload Role in %s grants %v, want get and patch of ConfigMap %s/%s only", role.GetNamespace(), g, ns, name)
			}
		case strings.HasSuffix(role.GetName(), "-restart-on-renewal"):
			restartNamespaces = append(restartNamespaces, role.GetNamespace())
			if len(g) != 4 {
				t.Errorf("restart-on-renewal Role grants %v", g)
			}
			for _, v := range []string{"get", "list", "watch", "patch"} {
				if names, ok := g[grant{"apps", "deployments", v}]; !ok || len(names) != 0 {
					t.Errorf("restart-on-renewal Role: %s deployments %v %v", v, ok, names)
				}
			}
		default:
			t.Errorf("unexpected Role %s", role.GetName())
		}
	}
	if want := strings.Trim(r.value("restartOnRenewal.namespaces", ""), "{}"); strings.Join(restartNamespaces, ",") != want {
		t.Errorf("restart-on-renewal Roles in %v, want %s", restartNamespaces, want)
	}
	if (r.value("nicReload.configMap", "") != "") != (r.named("Role", strings.Split(r.value("nicReload.configMap", "x/"), "/")[0], r.fullname()+"-nic-reload") != nil) {
		t.Errorf("nic-reload Role rendered without nicReload.configMap, or missing with it")
	}
	var want []string
	switch {
	case r.caSyncSource() == "" || everywhere:
	case r.value("caSync.namespaces", "") != "":
		want = strings.Split(strings.Trim(r.value("caSync.namespaces", ""), "{}"), ",")
	default:
		want = []string{r.value("pki.namespace", "ai-gateway")}
	}
	if !slices.Equal(caSyncNamespaces, want) {
		t.Errorf("ca-sync Roles in %v, want %v", caSyncNamespaces, want)
	}
	wantRead := []string{r.value("pki.namespace", "ai-gateway")}
	for _, ns := range want {
		if !slices.Contains(wantRead, ns) {
			wantRead = append(wantRead, ns)
		}
	}
	for _, ns := range restartNamespaces { // restart-on-renewal reads the Secrets its Deployments mount
		if !slices.Contains(wantRead, ns) {
			wantRead = append(wantRead, ns)
		}
	}
	if v := r.value("access.secretNamespaces", ""); v != "" {
		wantRead = strings.Split(strings.Trim(v, "{}"), ",")
	}
	if r.clusterWideSecrets() {
		wantRead = nil
	}
	// One watch of every namespace's Secrets (access.oneSecretInformer): the ClusterRole reads
	// them, no Role each; the served namespaces are still the flag's.
	wantRoles := wantRead
	if clusterSecrets {
		wantRoles = nil
	}
	if !slices.Equal(secretNamespaces, wantRoles) {
		t.Errorf("secrets Roles in %v, want %v", secretNamespaces, wantRoles)
	}
	if got := flags(t, r.one(t, "Deployment"))["secret-namespaces"]; got != strings.Join(wantRead, ",") {
		t.Errorf("--secret-namespaces=%s, want %s", got, strings.Join(wantRead, ","))
	}
	// check's ClusterRole (it lists Deployments and DaemonSets to find NGINX Ingress Controller, Events for its verdicts on Ingresses):
	// only with access.checkClusterRole, read only, bound to nobody.
	if crc := r.named("ClusterRole", "", r.fullname()+"-check"); crc != nil {
		g := grants(crc)
		_, deployments := g[grant{"apps", "deployments", "list"}]
		_, daemonSets := g[grant{"apps", "daemonsets", "list"}]
		if !deployments || !daemonSets {
			t.Errorf("check ClusterRole %v: want list of apps deployments and daemonsets", g)
		}
		// NGINX Ingress Controller's verdicts on Ingresses are Events.
		if _, events := g[grant{"", "events", "list"}]; !events {
			t.Errorf("check ClusterRole %v: want list of events", g)
		}
		for g := range grants(crc) {
			if g.verb != "get" && g.verb != "list" {
				t.Errorf("check ClusterRole grants %s %s/%s", g.verb, g.group, g.resource)
			}
		}
		if r.named("ClusterRoleBinding", "", r.fullname()+"-check") != nil {
			t.Errorf("the chart binds the check ClusterRole: it is for users to bind")
		}
	}
	// Every Role has its RoleBinding to the ServiceAccount.
	for _, role := range append(r.all("Role"), cr) {
		kind := "RoleBinding"
		if role.GetKind() == "ClusterRole" {
			kind = "ClusterRoleBinding"
		}
		b := r.named(kind, role.GetNamespace(), role.GetName())
		if b == nil || str(b, "roleRef", "name") != role.GetName() {
			t.Errorf("%s %s: no %s", role.GetKind(), role.GetName(), kind)
			continue
		}
		subj := slice(b.Object, "subjects")
		if len(subj) != 1 || subj[0].(map[string]any)["name"] != r.fullname() || subj[0].(map[string]any)["namespace"] != r.v.namespace {
			t.Errorf("%s %s subjects %v", kind, b.GetName(), subj)
		}
	}
}

// TestSchemaRejects: wrong types, unknown keys and values outside their enums fail at template time.
func TestSchemaRejects(t *testing.T) {
	for _, set := range []string{
		"replicas=abc",
		"replicas=0",
		"nope=1",
		"wiring.nope=1",
		"pki.ca.nope=1",
		"failurePolicy=Sometimes",
		"mode=audit",
		"timeoutSeconds=31",
		"wiring.caMountPath=etc/ca",
		"wiring.caSecret=Not_A_Name",
		"pki.privateKey.size=1000",
		"pki.enabled=maybe",
		"pki.ca.duration=90d",
		"excludeNamespaces=kube-public",
		"caSync.namespaces={bad_ns}",
		"nicReload.configMap=nginx-ingress",
		"nicReload.configMap=a/b/c",
		"nicReload.delay=5",
		"restartOnRenewal.namespaces={Bad}",
		"prometheusRule.enabled=yes",
		"prometheusRule.certificateExpiryDays=0",
		"gatewayAPI.enabled=maybe",
		"grafanaDashboard.enabled=yes",
		"grafanaDashboard.nope=1",
		"grafanaDashboard.label=",
		"grafanaDashboard.labelValue=not a value",
		"grafanaDashboard.namespace=Monitoring",
		"gatewayAPI.nope=1",
		"caSync.precreateSecret=maybe",
		"access.namespacesPerRequest=-1",
		"access.namespacesPerRequest=many",
		"image.digest=latest",
		"image.digest=sha256:abc",
		"networkPolicy.allowAnySource=yes",
		"clientAuth.allowedSubjects={}",
		"clientAuth.allowedSubjects={a\\,b}",
	} {
		t.Run(set, func(t *testing.T) {
			out, err := runHelm(t, "template", defaultRelease, chartDir(), "--namespace", defaultNamespace, "--set", set)
			if err == nil {
				t.Fatalf("helm template --set %s rendered", set)
			}
			if !strings.Contains(out, "values don't meet the specifications of the schema") {
				t.Errorf("helm template --set %s failed, but not on the schema:\n%s", set, out)
			}
		})
	}
}

// TestNotes renders NOTES.txt (helm template does not) by wrapping it into a template of a copy
// of the chart.
func TestNotes(t *testing.T) {
	helmBinary(t)
	for _, v := range []valueSet{valueSetNamed("defaults"), valueSetNamed("pki-disabled"), valueSetNamed("other-names"), valueSetNamed("rollouts-and-alerts"),
		valueSetNamed("network-policy-any-source"), valueSetNamed("secret-namespaces"), valueSetNamed("grafana-dashboard")} {
		t.Run(v.name, func(t *testing.T) {
			notes := renderNotes(t, v)
			r := rendering{v: v}
			want := []string{
				"Deployment/" + r.fullname(),
				"label",
				r.value("selector.key", "aigw") + "=" + r.value("selector.value", "mtls"),
				"pod template", "ConfigMap", "VirtualServer", "Policy " + r.wiring("policy"),
				"kubectl",
			}
			if r.value("pki.enabled", "true") == "true" {
				want = append(want, "Certificate/"+r.wiring("serverTLSSecret"), "Certificate/"+r.wiring("clientTLSSecret"), "Secret/"+r.wiring("caSecret"))
			} else {
				want = append(want, "no CA sync")
			}
			if cm := r.value("nicReload.configMap", ""); cm != "" {
				want = append(want, "ConfigMap/"+cm+" is annotated mtls.aigw.io/ca-bundle")
			}
			if ns := r.value("restartOnRenewal.namespaces", ""); ns != "" {
				want = append(want, "restart on renewal in "+strings.ReplaceAll(strings.Trim(ns, "{}"), ",", ", "))
			}
			if r.value("prometheusRule.enabled", "") == "true" {
				want = append(want, "PrometheusRule/"+r.fullname())
			}
			if r.value("grafanaDashboard.enabled", "") == "true" {
				want = append(want, "ConfigMap/"+r.fullname()+"-dashboard in "+r.value("grafanaDashboard.namespace", v.namespace),
					"label "+r.value("grafanaDashboard.label", "grafana_dashboard")+"="+r.value("grafanaDashboard.labelValue", "1"))
			}
			if r.value("networkPolicy.allowAnySource", "false") == "true" {
				want = append(want, "admits every source (networkPolicy.allowAnySource)")
			} else {
				want = append(want, "admits only networkPolicy.webhookFrom")
			}
			if cm := r.value("clientAuth.caConfigMap", ""); cm != "" {
				want = append(want, "ConfigMap/"+cm+" signed, naming "+strings.ReplaceAll(strings.Trim(r.value("clientAuth.allowedSubjects", "kube-apiserver"), "{}"), ",", ", "))
			} else {
				want = append(want, "no client authentication")
			}
			for _, w := range want {
				if !strings.Contains(notes, w) {
					t.Errorf("NOTES lack %q:\n%s", w, notes)
				}
			}
			if strings.Contains(notes, "<no value>") {
				t.Errorf("NOTES hold <no value>:\n%s", notes)
			}
		})
	}
}

func renderNotes(t *testing.T, v valueSet) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(chartDir())); err != nil {
		t.Fatal(err)
	}
	notes := filepath.Join(dir, "templates", "NOTES.txt")
	b, err := os.ReadFile(notes)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(notes); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.tmpl"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	wrapper := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ tpl (.Files.Get \"notes.tmpl\") . | toJson }}\n"
	if err := os.WriteFile(filepath.Join(dir, "templates", "zz-notes.yaml"), []byte(wrapper), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"template", v.release, dir, "--namespace", v.namespace, "--show-only", "templates/zz-notes.yaml"}, v.args()...)
	out, err := runHelm(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decode(out)
	if err != nil || len(objs) != 1 {
		t.Fatalf("notes: %v %d", err, len(objs))
	}
	return str(objs[0], "data", "notes")
}

// TestValuesDocumented: every key of values.yaml has its row in the chart's README values table,
// and every row names a key that exists.
func TestValuesDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(chartDir(), "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	// Kubernetes structures passed through as written are documented as one key.
	opaque := map[string]bool{"resources": true, "podSecurityContext": true, "securityContext": true}
	var keys []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		m, ok := v.(map[string]any)
		if !ok || len(m) == 0 || opaque[prefix] {
			keys = append(keys, prefix)
			return
		}
		for k, x := range m {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			walk(p, x)
		}
	}
	walk("", values)
	readme, err := os.ReadFile(filepath.Join(chartDir(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		if k, ok := strings.CutPrefix(line, "| `"); ok {
			k, _, _ = strings.Cut(k, "`")
			rows[k] = true
		}
	}
	for _, k := range keys {
		if !rows[k] {
			t.Errorf("values key %s has no row in charts/aigw-mtls-webhook/README.md", k)
		}
		delete(rows, k)
	}
	for k := range rows {
		t.Errorf("README documents %s, which values.yaml does not have", k)
	}
}

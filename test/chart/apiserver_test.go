package chart_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

const (
	fieldOwner = "helm"
	aigwNS     = "ai-gateway"
)

// TestChartOnAPIServer installs the chart on a real kube-apiserver (envtest, with cert-manager's
// and NIC's CRDs): every object of every value set is accepted, the default rendering is applied
// in helm's install order, the chart's webhook configurations route admission to the webhook, and
// the binary started with the chart's arguments, as the chart's ServiceAccount, runs under the
// chart's RBAC.
func TestChartOnAPIServer(t *testing.T) {
	t.Parallel() // an API server of its own; these tests mostly wait on it, so they run together
	helmBinary(t)
	env, err := harness.Start()
	if harness.SkipWithout(err) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx := t.Context()
	c := env.Client
	for _, ns := range []string{defaultNamespace, aigwNS, "mtls-system", "gateway", "ai-gateway-staging", "monitoring"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("every value set is accepted (server-side dry run)", func(t *testing.T) {
		for _, v := range valueSets {
			_, objs := render(t, v)
			for _, o := range objs {
				if o.GetKind() == "ServiceMonitor" || o.GetKind() == "PrometheusRule" {
					continue // the Prometheus Operator's CRDs are not loaded here
				}
				if err := apply(ctx, c, o, client.DryRunAll); err != nil {
					t.Errorf("%s: %s refused: %v", v.name, objectKey(o), err)
				}
			}
		}
	})

	_, objs := render(t, valueSetNamed("defaults"))
	t.Run("the default rendering is applied, webhook configurations first", func(t *testing.T) {
		// The worst order an install tool may choose: the webhook configurations before the
		// labelled aigw Certificates, while no replica can answer (helm itself happens to apply
		// them last, kubectl apply -k too; Argo CD and Flux have their own orders). Certificate
		// CREATE is Ignore, so the install goes through.
		isWebhookConfig := func(o *unstructured.Unstructured) bool {
			return strings.HasSuffix(o.GetKind(), "WebhookConfiguration")
		}
		for _, first := range []bool{true, false} {
			for _, o := range objs {
				if isWebhookConfig(o) != first {
					continue
				}
				if err := apply(ctx, c, o); err != nil {
					t.Fatalf("%s refused: %v", objectKey(o), err)
				}
			}
		}
		for _, o := range objs {
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(o.GroupVersionKind())
			if err := c.Get(ctx, client.ObjectKeyFromObject(o), got); err != nil {
				t.Errorf("%s: %v", objectKey(o), err)
			}
		}
		// An update of a labelled Certificate does go to the webhook, and fails closed.
		cert := &unstructured.Unstructured{}
		cert.SetGroupVersionKind(certificateGVK)
		if err := c.Get(ctx, client.ObjectKey{Namespace: aigwNS, Name: "aigw-server-tls"}, cert); err != nil {
			t.Fatal(err)
		}
		cert.SetAnnotations(map[string]string{"example.com/touched": "true"})
		err := c.Update(ctx, cert, client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), "certificates.mtls.aigw.io") {
			t.Errorf("a Certificate UPDATE with no webhook running: want refusal by certificates.mtls.aigw.io, got %v", err)
		}
	})

	t.Run("the chart's webhook configurations route admission to the webhook", func(t *testing.T) {
		o := webhook.DefaultOptions()
		o.ExcludeNamespaces = append(o.ExcludeNamespaces, defaultNamespace)
		o.CASyncSource = "" // the binary's CA sync is checked below, under the chart's RBAC
		hook, err := harness.StartWebhook(env.Config, o)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = hook.Stop() }()
		pointWebhooksAt(t, ctx, c, objs, hook.URL, hook.CABundle)
		if err := harness.WaitForPodMutation(ctx, c, aigwNS); err != nil {
			t.Fatal(err)
		}

		pod := sample(t, "aigw-pod.yaml")
		if err := c.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		if vols := volumeNames(t, ctx, c, pod); !strings.Contains(vols, "internal-ca-volume") || !strings.Contains(vols, "aigw-server-tls") {
			t.Errorf("the seed's pod came back with volumes %s, want internal-ca-volume and aigw-server-tls", vols)
		}

		cm := sample(t, "aigw-config.yaml")
		if err := c.Create(ctx, cm); err != nil {
			t.Fatal(err)
		}
		if got := str(cm, "data", "aigw.yaml"); !strings.Contains(got, "serverCertPath: /tls/server.crt") || !strings.Contains(got, "clientCertPath: /etc/internal-ca/ca.crt") {
			t.Errorf("the seed's ConfigMap came back without the TLS paths:\n%s", got)
		}

		{
			// The chart's aigw server Certificate (not issued here) is what the Policy is checked against.
			policy := sample(t, "aigw-policy.yaml")
			if err := c.Create(ctx, policy); err != nil {
				t.Errorf("the seed's Policy refused: %v", err)
			}
			wrong := sample(t, "aigw-policy.yaml")
			wrong.SetName("aigw-mtls-wrong-name")
			_ = unstructured.SetNestedField(wrong.Object, "aigw.example.com", "spec", "egressMTLS", "sslName")
			err := c.Create(ctx, wrong, client.DryRunAll)
			if err == nil || !strings.Contains(err.Error(), "aigw.ai-gateway.svc.cluster.local") {
				t.Errorf("a Policy whose sslName the chart's server Certificate does not cover: want refusal naming the certificate's names, got %v", err)
			}
		}

		{
			vs := sample(t, "aigw-virtualserver.yaml")
			if err := c.Create(ctx, vs); err != nil {
				t.Fatal(err)
			}
			if up := slice(vs.Object, "spec", "upstreams"); len(up) == 0 || fmt.Sprint(mapAt(up[0].(map[string]any), "tls")["enable"]) != "true" {
				t.Errorf("the seed's VirtualServer came back without tls.enable on its upstream: %v", up)
			}
			if routes := slice(vs.Object, "spec", "routes"); len(routes) == 0 || !strings.Contains(fmt.Sprint(routes[0]), "aigw-mtls") {
				t.Errorf("the seed's VirtualServer came back without the Policy on its route: %v", routes)
			}
		}

		{
			// Dropping the DNS name the live Policy needs from the chart's Certificate is refused.
			deadline := time.Now().Add(15 * time.Second)
			for {
				cert := &unstructured.Unstructured{}
				cert.SetGroupVersionKind(certificateGVK)
				if err := c.Get(ctx, client.ObjectKey{Namespace: aigwNS, Name: "aigw-server-tls"}, cert); err != nil {
					t.Fatal(err)
				}
				_ = unstructured.SetNestedStringSlice(cert.Object, []string{"aigw.example.com"}, "spec", "dnsNames")
				err := c.Update(ctx, cert, client.DryRunAll)
				if err != nil && strings.Contains(err.Error(), "aigw-mtls") {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("dropping the Policy's sslName from the server Certificate: want refusal naming Policy aigw-mtls, got %v", err)
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	})

	t.Run("the binary runs with the chart's arguments under the chart's RBAC", func(t *testing.T) {
		testBinaryWithChartArgs(t, ctx, env, objs)
	})
}

var certificateGVK = (&unstructured.Unstructured{Object: map[string]any{"apiVersion": "cert-manager.io/v1", "kind": "Certificate"}}).GroupVersionKind()

func apply(ctx context.Context, c client.Client, o *unstructured.Unstructured, opts ...client.ApplyOption) error {
	return c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), append(opts, client.FieldOwner(fieldOwner), client.ForceOwnership)...)
}

// pointWebhooksAt registers the chart's rendered webhook configurations with every clientConfig
// rewritten to url + its path and caBundle, everything else as the chart says (selectors, rules,
// failurePolicy, timeouts).
func pointWebhooksAt(t *testing.T, ctx context.Context, c client.Client, objs []*unstructured.Unstructured, url string, caBundle []byte) {
	t.Helper()
	r := rendering{v: valueSetNamed("defaults"), objs: objs}
	cc := func(name string, cfg admissionregistrationv1.WebhookClientConfig) admissionregistrationv1.WebhookClientConfig {
		if cfg.Service == nil || cfg.Service.Path == nil {
			t.Fatalf("webhook %s: clientConfig %+v", name, cfg)
		}
		if _, ok := webhook.Handlers(webhook.DefaultOptions(), nil)[*cfg.Service.Path]; !ok {
			t.Fatalf("webhook %s: path %s is not served by the binary (TestChartPathsAreServed says which)", name, *cfg.Service.Path)
		}
		u := url + *cfg.Service.Path
		return admissionregistrationv1.WebhookClientConfig{URL: &u, CABundle: caBundle}
	}

	var m admissionregistrationv1.MutatingWebhookConfiguration
	fromUnstructured(t, r.one(t, "MutatingWebhookConfiguration"), &m)
	hooks := m.Webhooks
	for i := range hooks {
		hooks[i].ClientConfig = cc(hooks[i].Name, hooks[i].ClientConfig)
	}
	var liveM admissionregistrationv1.MutatingWebhookConfiguration
	if err := c.Get(ctx, client.ObjectKey{Name: m.Name}, &liveM); err != nil {
		t.Fatal(err)
	}
	liveM.Webhooks = hooks
	if err := c.Update(ctx, &liveM); err != nil {
		t.Fatal(err)
	}

	var v admissionregistrationv1.ValidatingWebhookConfiguration
	fromUnstructured(t, r.one(t, "ValidatingWebhookConfiguration"), &v)
	vhooks := v.Webhooks
	for i := range vhooks {
		vhooks[i].ClientConfig = cc(vhooks[i].Name, vhooks[i].ClientConfig)
	}
	var liveV admissionregistrationv1.ValidatingWebhookConfiguration
	if err := c.Get(ctx, client.ObjectKey{Name: v.Name}, &liveV); err != nil {
		t.Fatal(err)
	}
	liveV.Webhooks = vhooks
	if err := c.Update(ctx, &liveV); err != nil {
		t.Fatal(err)
	}
}

func fromUnstructured(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, into, true); err != nil {
		t.Fatalf("%s: %v", objectKey(u), err)
	}
}

// sample reads a manifest of config/samples.
func sample(t *testing.T, file string) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "config", "samples", file))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decode(string(b))
	if err != nil || len(objs) != 1 {
		t.Fatalf("%s: %v (%d objects)", file, err, len(objs))
	}
	return objs[0]
}

// volumeNames reads the pod back from the API server and lists its volumes.
func volumeNames(t *testing.T, ctx context.Context, c client.Client, pod client.Object) string {
	t.Helper()
	var got corev1.Pod
	if err := c.Get(ctx, client.ObjectKeyFromObject(pod), &got); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range got.Spec.Volumes {
		names = append(names, v.Name)
	}
	return strings.Join(names, ",")
}

// testBinaryWithChartArgs builds the webhook, starts it with the Deployment's arguments (ports,
// certificate folder and kubeconfig overridden: later flags win) as the chart's ServiceAccount,
// and checks what the chart's RBAC must allow: the informer caches sync (ready), it wins the
// leader-election lease, the CA sync writes the nginx.org/ca Secret from the CA cert-manager
// would issue into the chart's CA Certificate's Secret, and it serves the chart's webhooks. No
// request of it may be forbidden.
func testBinaryWithChartArgs(t *testing.T, ctx context.Context, env *harness.Env, objs []*unstructured.Unstructured) {
	c := env.Client
	dir := t.TempDir()
	bin := filepath.Join(dir, "aigw-mtls-webhook")
	build := exec.Command("go", "build", "-o", bin, "./cmd/aigw-mtls-webhook")
	build.Dir = harness.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	r := rendering{v: valueSetNamed("defaults"), objs: objs}
	deploy := r.one(t, "Deployment")
	var args []string
	for _, a := range slice(container(t, deploy), "args") {
		args = append(args, a.(string))
	}
	sa := "system:serviceaccount:" + defaultNamespace + ":" + str(deploy, "spec", "template", "spec", "serviceAccountName")
	kubeconfig := writeImpersonatingKubeconfig(t, env, filepath.Join(dir, "kubeconfig"), sa, defaultNamespace)
	first := startReplica(t, bin, args, kubeconfig)
	exited := first.exited
	first.waitReady(t, 60*time.Second, "")
	waitFor(t, exited, 60*time.Second, "holding the leader-election lease in "+defaultNamespace, func() error {
		var lease coordinationv1.Lease
		if err := c.Get(ctx, client.ObjectKey{Namespace: defaultNamespace, Name: "aigw-mtls-webhook"}, &lease); err != nil {
			return err
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
			return errors.New("no holder")
		}
		return nil
	})

	// cert-manager's part: the chart's CA Certificate issued into its Secret, with the Certificate's
	// secretTemplate labels.
	f := flags(t, deploy)
	caCert := findCertificate(t, objs, aigwNS, f["ca-sync-source-secret"])
	caPEM, keyPEM := selfSignedCA(t, str(caCert, "spec", "commonName"))
	labels := map[string]string{}
	for k, v := range mapAt(caCert.Object, "spec", "secretTemplate", "labels") {
		labels[k] = v.(string)
	}
	source := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: str(caCert, "spec", "secretName"), Namespace: aigwNS, Labels: labels},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{"tls.crt": caPEM, "tls.key": keyPEM, "ca.crt": caPEM},
	}
	if err := c.Create(ctx, source); err != nil {
		t.Fatal(err)
	}
	caSecret := f["ca-secret"]
	waitFor(t, exited, 30*time.Second, "the CA sync writing Secret "+aigwNS+"/"+caSecret, func() error {
		var s corev1.Secret
		if err := c.Get(ctx, client.ObjectKey{Namespace: aigwNS, Name: caSecret}, &s); err != nil {
			return err
		}
		if s.Type != "nginx.org/ca" || !bytes.Contains(s.Data["ca.crt"], bytes.TrimSpace(caPEM)) {
			return fmt.Errorf("type %s, ca.crt %d bytes", s.Type, len(s.Data["ca.crt"]))
		}
		return nil
	})

	// Its Events (events.k8s.io) are allowed too.
	waitFor(t, exited, 30*time.Second, "an Event of the CA sync", func() error {
		var events eventsv1.EventList
		if err := c.List(ctx, &events, client.InNamespace(aigwNS)); err != nil {
			return err
		}
		for _, e := range events.Items {
			if e.Reason == "CASynced" {
				return nil
			}
		}
		return fmt.Errorf("%d events, none CASynced", len(events.Items))
	})

	// The chart's webhooks, pointed at this process, mutate a labelled pod.
	pointWebhooksAt(t, ctx, c, objs, "https://127.0.0.1:"+strconv.Itoa(first.webhookPort), first.caBundle)
	if err := harness.WaitForPodMutation(ctx, c, aigwNS); err != nil {
		t.Fatal(err)
	}
	pod := sample(t, "aigw-pod.yaml")
	pod.SetName("aigw-served-by-the-binary")
	if err := c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if vols := volumeNames(t, ctx, c, pod); !strings.Contains(vols, "internal-ca-volume") {
		t.Errorf("pod admitted by the binary has volumes %s, want internal-ca-volume", vols)
	}

	// NOTES' check command, run with a user's own kubeconfig bound to the chart's opt-in check
	// ClusterRole, reads the cluster: exit 0 or 1 (a finding), not 2 (cannot read).
	_, withCheckRole := render(t, valueSet{name: "check-role", release: defaultRelease, namespace: defaultNamespace, set: []string{"access.checkClusterRole=true"}})
	checkRole := rendering{objs: withCheckRole}.named("ClusterRole", "", defaultRelease+"-check")
	if checkRole == nil {
		t.Fatal("access.checkClusterRole=true renders no ClusterRole " + defaultRelease + "-check")
	}
	if err := apply(ctx, c, checkRole); err != nil {
		t.Fatal(err)
	}
	binding := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
		"metadata": map[string]any{"name": "platform-engineer-check"},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": checkRole.GetName()},
		"subjects": []any{map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "platform-engineer"}},
	}}
	if err := apply(ctx, c, binding); err != nil {
		t.Fatal(err)
	}
	userKubeconfig := writeImpersonatingKubeconfig(t, env, filepath.Join(dir, "user-kubeconfig"), "platform-engineer", "default")
	checkCmd := notesCheckArgs(t)
	check := exec.Command(bin, append(checkCmd, "--kubeconfig="+userKubeconfig)...)
	out, err := check.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 1) {
		t.Errorf("%s: %v\n%s", strings.Join(checkCmd, " "), err, out)
	}
	if bytes.Contains(bytes.ToLower(out), []byte("forbidden")) {
		t.Errorf("check denied by the chart's check ClusterRole:\n%s", out)
	}
	t.Logf("check as a user bound to the check ClusterRole:\n%s", out)

	// Nothing the leader asked for was forbidden by the chart's RBAC.
	time.Sleep(time.Second)
	first.checkNotForbidden(t)

	// A second replica (the chart runs two) is ready while the first leads: every replica serves
	// admission, only the leader runs the CA sync and the Policy audit.
	second := startReplica(t, bin, args, kubeconfig)
	second.waitReady(t, 30*time.Second, "a replica that does not hold the lease must be ready too: "+
		"the Service sends admission to every ready replica, and a rollout with maxUnavailable 0 waits for the new pod to be ready "+
		"(a manager runnable that does not implement NeedLeaderElection() false runs on the leader only)")

	second.checkNotForbidden(t)
}

func (r *replica) checkNotForbidden(t *testing.T) {
	t.Helper()
	for _, line := range strings.Split(r.log.String(), "\n") {
		if strings.Contains(strings.ToLower(line), "forbidden") {
			t.Errorf("denied by the chart's RBAC: %s", line)
		}
	}
}

// replica is the webhook binary running as one pod of the Deployment would.
type replica struct {
	webhookPort, healthPort int
	caBundle                []byte
	exited                  chan struct{}
	log                     *syncBuffer
}

// startReplica starts bin with the Deployment's args; ports, the certificate folder and the
// kubeconfig are overridden by flags given after them (the last one wins).
func startReplica(t *testing.T, bin string, chartArgs []string, kubeconfig string) *replica {
	t.Helper()
	certDir := t.TempDir()
	caBundle, err := harness.WriteServingCert(certDir)
	if err != nil {
		t.Fatal(err)
	}
	// The ports are picked free and bound later by the binary, so a test running beside this one
	// may take one in between: such a start is retried on fresh ports.
	for attempt := 1; ; attempt++ {
		r := launchReplica(t, bin, chartArgs, kubeconfig, certDir, caBundle)
		if !r.lostAPort(20*time.Second) || attempt == 5 {
			return r
		}
	}
}

func launchReplica(t *testing.T, bin string, chartArgs []string, kubeconfig, certDir string, caBundle []byte) *replica {
	t.Helper()
	r := &replica{webhookPort: freePort(t), healthPort: freePort(t), caBundle: caBundle, exited: make(chan struct{}), log: &syncBuffer{}}
	args := append(slices.Clone(chartArgs),
		"--cert-dir="+certDir,
		"--webhook-port="+strconv.Itoa(r.webhookPort),
		"--metrics-bind-address=0",
		"--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(r.healthPort),
		"--kubeconfig="+kubeconfig,
		"--zap-encoder=console",
	)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = r.log, r.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(r.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-r.exited
		}
		if t.Failed() {
			t.Logf("webhook log (health port %d):\n%s", r.healthPort, r.log.String())
		}
	})
	return r
}

// lostAPort waits until the replica listens on both its ports and reports false, or until it has
// exited and reports whether it failed to bind one of them.
func (r *replica) lostAPort(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-r.exited:
			return strings.Contains(r.log.String(), "address already in use")
		default:
		}
		if listening(r.webhookPort) && listening(r.healthPort) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func listening(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func (r *replica) waitReady(t *testing.T, timeout time.Duration, why string) {
	t.Helper()
	what := "ready (/readyz: webhook serving, informer caches synced)"
	if why != "" {
		what += "; " + why
	}
	waitFor(t, r.exited, timeout, what, func() error {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(r.healthPort) + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	})
}

// findCertificate is the rendered Certificate that issues into Secret namespace/secretName.
func findCertificate(t *testing.T, objs []*unstructured.Unstructured, namespace, secretName string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == "Certificate" && o.GetNamespace() == namespace && str(o, "spec", "secretName") == secretName {
			return o
		}
	}
	t.Fatalf("no Certificate renders Secret %s/%s", namespace, secretName)
	return nil
}

// writeImpersonatingKubeconfig writes a kubeconfig for env's admin credentials that acts as user
// (a ServiceAccount) with the groups a ServiceAccount token carries.
func writeImpersonatingKubeconfig(t *testing.T, env *harness.Env, path, user, namespace string) string {
	t.Helper()
	cfg := env.Config
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["sa"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientKeyData:         cfg.KeyData,
		Token:                 cfg.BearerToken,
		Impersonate:           user,
		ImpersonateGroups:     []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace},
	}
	kc.Contexts["sa"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "sa", Namespace: namespace}
	kc.CurrentContext = "sa"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func selfSignedCA(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func waitFor(t *testing.T, exited <-chan struct{}, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		select {
		case <-exited:
			t.Fatalf("the webhook exited before %s", what)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not %s after %s: %v", what, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// notesCheckArgs is the check command NOTES.txt tells the user to run with their own kubeconfig
// (args after the binary).
func notesCheckArgs(t *testing.T) []string {
	t.Helper()
	notes := renderNotes(t, valueSetNamed("defaults"))
	if strings.Contains(notes, "exec ") {
		t.Errorf("NOTES.txt suggests kubectl exec (the webhook's rights to whoever may exec into its pod):\n%s", notes)
	}
	for _, line := range strings.Split(notes, "\n") {
		if cmd, ok := strings.CutPrefix(line, "  aigw-mtls-webhook "); ok {
			return strings.Fields(cmd)
		}
	}
	t.Fatal("NOTES.txt has no check command")
	return nil
}

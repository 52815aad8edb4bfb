package checker

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
)

// SectionNIC holds the NGINX Ingress Controller workloads found in the cluster.
const SectionNIC = "NGINX Ingress Controller"

// nicFix is what to do about an NGINX Ingress Controller that does not reload nginx after a CA
// rotation.
const nicFix = "upgrade NGINX Ingress Controller to a release with the fix of its issue #10039 (PR #10390; later than 5.5.4 and 2026-lts-r4); " +
	"or run it with -ssl-dynamic-reload=false (its Helm chart: controller.enableSSLDynamicReload=false); " +
	"or let the webhook reload it after each CA change: Helm value nicReload.configMap=%s"

// checkNGINXIngress finds NGINX Ingress Controller — a Deployment or DaemonSet container started
// with -nginx-configmaps — and reports whether a CA rotation reaches its nginx.
//
// NIC 3.4.0 to 5.5.4 and 2026-lts-r1 to r4 with -ssl-dynamic-reload (the default:
// cmd/nginx-ingress/flags.go, enableDynamicSSLReload = flag.Bool(dynamicSSLReloadParam, true, …))
// rewrite the file of an updated nginx.org/ca Secret but reload nginx only when the generated
// configuration changed (internal/k8s/controller.go handleSecretUpdate passes
// reloadIfUnchanged = !DynamicSSLReloadEnabled() to internal/configs/configurator.go
// AddOrUpdateResources). proxy_ssl_trusted_certificate is read only at a reload, so nginx keeps
// the old CA. Before 3.4.0 the flag does not exist and every Secret update reloads.
//
// grpcIngresses are the labelled Ingresses with nginx.org/grpc-services: for each NIC, check says
// whether its ConfigMap enables HTTP/2, which decides what NIC does with that annotation.
func checkNGINXIngress(ctx context.Context, c client.Reader, grpcIngresses []string) []Check {
	var found []nicContainer
	for _, kind := range []string{"Deployment", "DaemonSet"} {
		l := newLines(SectionNIC, "")
		var err error
		if kind == "Deployment" {
			err = listPages(ctx, c, func() client.ObjectList { return &appsv1.DeploymentList{} }, "", func(ol client.ObjectList) {
				for _, d := range ol.(*appsv1.DeploymentList).Items {
					found = append(found, nicContainers(kind, d.Namespace, d.Name, d.Spec.Template.Spec)...)
				}
			})
		} else {
			err = listPages(ctx, c, func() client.ObjectList { return &appsv1.DaemonSetList{} }, "", func(ol client.ObjectList) {
				for _, d := range ol.(*appsv1.DaemonSetList).Items {
					found = append(found, nicContainers(kind, d.Namespace, d.Name, d.Spec.Template.Spec)...)
				}
			})
		}
		if err != nil {
			l.warn(kind+"s", "cannot be listed across namespaces, so NGINX Ingress Controller's version is not checked: "+err.Error(),
				"grant list on apps "+strings.ToLower(kind)+"s cluster-wide to the user running check")
			return l.out
		}
	}
	var out []Check
	for _, n := range found {
		out = append(out, n.check(ctx, c)...)
		if len(grpcIngresses) > 0 {
			out = append(out, n.checkHTTP2(ctx, c, grpcIngresses)...)
		}
	}
	return out
}

// checkHTTP2 says which case the labelled Ingresses with nginx.org/grpc-services are in. NIC reads
// http2 from its ConfigMap with strconv.ParseBool, false when absent or invalid
// (internal/configs/configmaps.go ParseConfigMap, parsing_helpers.go GetMapKeyAsBool); with
// http2 false it ignores nginx.org/grpc-services (internal/configs/ingress.go generateNginxCfg:
// "requires HTTP2, ignoring") and proxies those Services over HTTP/1.1.
func (n nicContainer) checkHTTP2(ctx context.Context, c client.Reader, grpcIngresses []string) []Check {
	l := newLines(SectionNIC, n.namespace)
	obj := ref(n.kind, n.namespace, n.name)
	ingresses := strings.Join(grpcIngresses, ", ")
	ns, name, ok := strings.Cut(n.configMap, "/")
	var cm corev1.ConfigMap
	if !ok {
		return nil
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cm); err != nil && !apierrors.IsNotFound(err) {
		l.warn(obj, fmt.Sprintf("its ConfigMap %s cannot be read (%v), so whether NIC applies nginx.org/grpc-services of %s (http2) is not checked", n.configMap, err, ingresses),
			"grant get on that ConfigMap to the user running check")
		return l.out
	}
	if on, err := strconv.ParseBool(cm.Data["http2"]); err == nil && on {
		l.ok(obj, fmt.Sprintf("ConfigMap %s sets http2: %q: NIC applies nginx.org/grpc-services of %s; an egressMTLS Policy reaches their gRPC locations only from a minion Ingress",
			n.configMap, cm.Data["http2"], ingresses))
		return l.out
	}
	found := "does not set http2 (NIC's default: false)"
	if v, set := cm.Data["http2"]; set {
		found = fmt.Sprintf("sets http2: %q (false for NIC)", v)
	}
	l.warn(obj, fmt.Sprintf("ConfigMap %s %s: NIC ignores nginx.org/grpc-services of %s (internal/configs/ingress.go generateNginxCfg: \"requires HTTP2, ignoring\") and proxies their gRPC paths over HTTP/1.1, which gRPC clients cannot use",
		n.configMap, found, ingresses),
		fmt.Sprintf("set http2: \"true\" in ConfigMap %s, or remove nginx.org/grpc-services", n.configMap))
	return l.out
}

// nicContainer is one container running NGINX Ingress Controller.
type nicContainer struct {
	kind, namespace, name string
	container, image      string
	configMap             string // namespace/name of -nginx-configmaps, $(POD_NAMESPACE) resolved
	dynamicReload         bool
}

func nicContainers(kind, namespace, name string, spec corev1.PodSpec) []nicContainer {
	var out []nicContainer
	for _, ctr := range spec.Containers {
		args := append(append([]string{}, ctr.Command...), ctr.Args...)
		cm, ok := flagValue(args, "nginx-configmaps")
		if !ok {
			continue
		}
		n := nicContainer{kind: kind, namespace: namespace, name: name, container: ctr.Name, image: ctr.Image,
			configMap: expandEnv(cm, namespace, ctr.Env), dynamicReload: true}
		if v, ok := flagValue(args, "ssl-dynamic-reload"); ok {
			// Go's flag package: a bare boolean flag is true; an unparsable value stops NIC.
			if b, err := strconv.ParseBool(v); err == nil || v == "" {
				n.dynamicReload = v == "" || b
			}
		}
		out = append(out, n)
	}
	return out
}

// flagValue is the value of the last -name/--name flag in args, as Go's flag package reads them
// ("" for a bare flag).
func flagValue(args []string, name string) (string, bool) {
	val, found := "", false
	for i, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		f := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		switch {
		case strings.HasPrefix(f, name+"="):
			val, found = f[len(name)+1:], true
		case f == name:
			val, found = "", true
			if name != "ssl-dynamic-reload" && i+1 < len(args) {
				val = args[i+1]
			}
		}
	}
	return val, found
}

// expandEnv resolves $(POD_NAMESPACE) as the kubelet does for NIC's chart: from the downward API
// (the workload's namespace) or a literal value.
func expandEnv(s, namespace string, env []corev1.EnvVar) string {
	for _, e := range env {
		v := e.Value
		if e.ValueFrom != nil {
			if e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
				continue
			}
			v = namespace
		}
		s = strings.ReplaceAll(s, "$("+e.Name+")", v)
	}
	return s
}

var (
	semverTag = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$`)
	ltsTag    = regexp.MustCompile(`^(\d{4})-lts-r(\d+)(?:-.*)?$`)
)

// nicVersion reads NIC's version from an image reference's tag: "5.5.4", "v5.5.4-ubi",
// "2026-lts-r4". known is false for a digest-only reference or a tag such as "edge".
func nicVersion(image string) (version string, affected, known bool) {
	ref, _, _ := strings.Cut(image, "@")
	tag := ""
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		tag = ref[i+1:]
	}
	if m := semverTag.FindStringSubmatch(tag); m != nil {
		v := [3]int{}
		for i := range v {
			v[i], _ = strconv.Atoi(m[i+1])
		}
		atLeast := func(a, b, c int) bool { return v[0] > a || v[0] == a && (v[1] > b || v[1] == b && v[2] >= c) }
		return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]), atLeast(3, 4, 0) && !atLeast(5, 5, 5), true
	}
	if m := ltsTag.FindStringSubmatch(tag); m != nil {
		r, _ := strconv.Atoi(m[2])
		return m[1] + "-lts-r" + m[2], m[1] == "2026" && r >= 1 && r <= 4, true
	}
	return "", false, false
}

func (n nicContainer) check(ctx context.Context, c client.Reader) []Check {
	l := newLines(SectionNIC, n.namespace)
	obj := ref(n.kind, n.namespace, n.name)
	version, affected, known := nicVersion(n.image)
	what := fmt.Sprintf("container %s (image %s)", n.container, n.image)
	if known {
		what = fmt.Sprintf("NGINX Ingress Controller %s in container %s", version, n.container)
	}
	if !n.dynamicReload {
		l.ok(obj, what+" runs with -ssl-dynamic-reload=false: every update of the CA Secret reloads nginx")
		return l.out
	}
	if known && !affected {
		l.ok(obj, what+": an update of the CA Secret reaches nginx")
		return l.out
	}
	consequence := "with -ssl-dynamic-reload (its default), an update of the nginx.org/ca Secret rewrites the file without reloading nginx, " +
		"so after a CA rotation nginx trusts only the old CA and the routes to aigw answer 502 once aigw's certificate comes from the new CA (NIC issue #10039)"
	if nudged := n.nudged(ctx, c); nudged != "" {
		l.ok(obj, what+": "+consequence+"; the webhook reloads it after each CA change through ConfigMap "+nudged)
		return l.out
	}
	cm := n.configMap
	if known {
		l.warn(obj, what+" is affected: "+consequence, fmt.Sprintf(nicFix, cm))
		return l.out
	}
	l.warn(obj, what+": the version cannot be read from the image tag; versions 3.4.0 to 5.5.4 and 2026-lts-r1 to r4 are affected: "+consequence,
		"use an image tagged with its version, and if it is affected: "+fmt.Sprintf(nicFix, cm))
	return l.out
}

// nudged is "namespace/name" of NIC's ConfigMap when it carries the webhook's CA-bundle
// annotation (the reload after a CA change is configured), else "".
func (n nicContainer) nudged(ctx context.Context, c client.Reader) string {
	ns, name, ok := strings.Cut(n.configMap, "/")
	if !ok {
		return ""
	}
	var cm corev1.ConfigMap
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cm); err != nil {
		return ""
	}
	if cm.Annotations[aigw.AnnotationCABundle] == "" {
		return ""
	}
	return n.configMap
}

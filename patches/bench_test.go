package patches

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
)

// Benchmarks of the pure mutations, and the tests that hold the pod decode (scanPodView, see
// podscan.go) to json.Unmarshal's answers. BenchmarkDecodePodView is json.Unmarshal into podView,
// the decode PatchPod used before; BenchmarkScanPodView is the one it uses. See BENCHMARKS.md.

// benchPodJSON is a labelled Deployment pod as the API server sends it to a mutating webhook on
// CREATE (defaults applied, service-account token volume and default tolerations added).
const benchPodJSON = `{"kind":"Pod","apiVersion":"v1","metadata":{"generateName":"aigw-7d9c5b8f4-","namespace":"ai-gateway","creationTimestamp":null,"labels":{"aigw":"mtls","app.kubernetes.io/instance":"aigw","app.kubernetes.io/name":"aigw","pod-template-hash":"7d9c5b8f4"},"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-06-01T10:00:00Z","prometheus.io/port":"9090","prometheus.io/scrape":"true"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"aigw-7d9c5b8f4","uid":"4b0c1d3e-2f3a-4b5c-9d6e-7f8091a2b3c4","controller":true,"blockOwnerDeletion":true}]},"spec":{"volumes":[{"name":"config","configMap":{"name":"aigw-config","defaultMode":420}},{"name":"kube-api-access-x7k2p","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},{"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}],"defaultMode":420}}],"containers":[{"name":"aigw","image":"private-registry.f5.com/aigw/aigw:v1.0.2","args":["--config","/etc/aigw/aigw.yaml"],"ports":[{"name":"https","containerPort":4141,"protocol":"TCP"},{"name":"metrics","containerPort":9090,"protocol":"TCP"}],"env":[{"name":"AIGW_LOG_LEVEL","value":"info"},{"name":"AIGW_POD_NAME","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.name"}}},{"name":"AIGW_POD_NAMESPACE","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}},{"name":"OPENAI_API_KEY","valueFrom":{"secretKeyRef":{"name":"aigw-llm-keys","key":"openai"}}}],"resources":{"limits":{"cpu":"2","memory":"2Gi"},"requests":{"cpu":"500m","memory":"512Mi"}},"volumeMounts":[{"name":"config","readOnly":true,"mountPath":"/etc/aigw"},{"name":"kube-api-access-x7k2p","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],"livenessProbe":{"httpGet":{"path":"/healthz","port":9090,"scheme":"HTTP"},"initialDelaySeconds":10,"timeoutSeconds":1,"periodSeconds":10,"successThreshold":1,"failureThreshold":3},"readinessProbe":{"httpGet":{"path":"/readyz","port":9090,"scheme":"HTTP"},"timeoutSeconds":1,"periodSeconds":5,"successThreshold":1,"failureThreshold":3},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent","securityContext":{"capabilities":{"drop":["ALL"]},"runAsNonRoot":true,"readOnlyRootFilesystem":true,"allowPrivilegeEscalation":false}},{"name":"otel-collector","image":"otel/opentelemetry-collector-contrib:0.120.0","args":["--config=/conf/otel.yaml"],"resources":{"limits":{"cpu":"200m","memory":"256Mi"},"requests":{"cpu":"50m","memory":"64Mi"}},"volumeMounts":[{"name":"kube-api-access-x7k2p","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"aigw","serviceAccount":"aigw","securityContext":{"runAsUser":10001,"runAsGroup":10001,"fsGroup":10001,"seccompProfile":{"type":"RuntimeDefault"}},"imagePullSecrets":[{"name":"f5-registry"}],"affinity":{"podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":100,"podAffinityTerm":{"labelSelector":{"matchLabels":{"app.kubernetes.io/name":"aigw"}},"topologyKey":"kubernetes.io/hostname"}}]}},"schedulerName":"default-scheduler","tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],"priority":0,"enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority"},"status":{}}`

// samplePodJSON is config/samples/aigw-pod.yaml as JSON: the walkthrough's minimal pod.
const samplePodJSON = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"aigw","namespace":"ai-gateway","labels":{"app.kubernetes.io/name":"aigw","aigw":"mtls"}},"spec":{"containers":[{"name":"aigw","image":"private-registry.f5.com/aigw/aigw:v1.0.2","args":["--config","/etc/aigw/aigw.yaml"],"ports":[{"name":"https","containerPort":4141}],"volumeMounts":[{"name":"config","mountPath":"/etc/aigw","readOnly":true}]}],"volumes":[{"name":"config","configMap":{"name":"aigw-config"}}]}}`

func benchPatchPod(b *testing.B, fn Mutation, raw string) {
	s := aigw.DefaultSettings()
	in := []byte(raw)
	res, err := fn(in, "ai-gateway", s, nil)
	if err != nil || len(res.Patch) == 0 || len(res.Conflicts) > 0 {
		b.Fatalf("unexpected result %+v %v", res, err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fn(in, "ai-gateway", s, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPatchPod(b *testing.B)       { benchPatchPod(b, PatchPod, benchPodJSON) }
func BenchmarkPatchPodSample(b *testing.B) { benchPatchPod(b, PatchPod, samplePodJSON) }

// BenchmarkDecodePodView and BenchmarkScanPodView isolate the decode.
func BenchmarkDecodePodView(b *testing.B) {
	raw := []byte(benchPodJSON)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		var p podView
		if err := json.Unmarshal(raw, &p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScanPodView(b *testing.B) {
	raw := []byte(benchPodJSON)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := scanPodView(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// TestScanPodViewMatchesUnmarshal: on every pod fixture and the benchmark pods, the scan reads
// what json.Unmarshal reads.
func TestScanPodViewMatchesUnmarshal(t *testing.T) {
	inputs := map[string][]byte{"bench": []byte(benchPodJSON), "sample": []byte(samplePodJSON)}
	files, _ := globYAML("testdata/pod")
	for _, f := range files {
		inputs[f] = yamlFileJSON(t, f)
	}
	for name, raw := range inputs {
		checkScanMatches(t, name, raw)
	}
}

func checkScanMatches(t *testing.T, name string, raw []byte) {
	t.Helper()
	var want podView
	werr := json.Unmarshal(raw, &want)
	got, gerr := scanPodView(raw)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%s: json.Unmarshal error %v, scan error %v\n%s", name, werr, gerr, raw)
	}
	if werr != nil {
		return
	}
	if !reflect.DeepEqual(normalize(want), normalize(got)) {
		t.Fatalf("%s: scan read\n%+v\nwant\n%+v", name, got, want)
	}
}

// normalize maps an empty non-nil slice of containers to nil's twin so DeepEqual compares content.
func normalize(p podView) podView {
	for i := range p.Spec.Volumes {
		for k, v := range p.Spec.Volumes[i] {
			p.Spec.Volumes[i][k] = json.RawMessage(strings.TrimSpace(string(v)))
		}
	}
	return p
}

func yamlFileJSON(tb testing.TB, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return j
}

func globYAML(dir string) ([]string, error) {
	var out []string
	m, err := filepath.Glob(dir + "/*.yaml")
	for _, f := range m {
		if !strings.HasSuffix(f, ".objects.yaml") {
			out = append(out, f)
		}
	}
	return out, err
}

// FuzzScanPodView: for any input the API server could send (valid JSON, keys as the API server
// spells them, no repeated keys), the scan reads what json.Unmarshal reads; for any bytes at all it
// does not panic.
func FuzzScanPodView(f *testing.F) {
	f.Add([]byte(benchPodJSON))
	f.Add([]byte(samplePodJSON))
	files, _ := globYAML("testdata/pod")
	for _, file := range files {
		f.Add(yamlFileJSON(f, file))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, _ = scanPodView(raw)
		_, _ = PatchPod(raw, "ns", aigw.DefaultSettings(), nil)
		var v any
		if json.Unmarshal(raw, &v) != nil || !apiServerShaped(v) {
			return
		}
		canonical, _ := json.Marshal(v)
		checkScanMatches(t, "fuzz", canonical)
	})
}

// apiServerShaped reports whether no key differs only in case from one podView reads (encoding/json
// would fill the field from it, the API server would not have sent it).
func apiServerShaped(v any) bool {
	known := []string{"metadata", "spec", "name", "generateName", "namespace", "labels", "annotations",
		"volumes", "containers", "volumeMounts", "mountPath", "subPath", "secretName", "items", "key", "path"}
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			for _, n := range known {
				if strings.EqualFold(k, n) && k != n {
					return false
				}
			}
			if !apiServerShaped(e) {
				return false
			}
		}
	case []any:
		for _, e := range v {
			if !apiServerShaped(e) {
				return false
			}
		}
	}
	return true
}

// TestBenchFigures (AIGW_BENCH=1) prints the pure pod mutation and the two decodes (json.Unmarshal
// into podView, scanPodView), median of AIGW_BENCH_ROUNDS (default 5) interleaved rounds, as BENCH lines.
func TestBenchFigures(t *testing.T) {
	if os.Getenv("AIGW_BENCH") == "" {
		t.Skip("set AIGW_BENCH=1 to print the BENCH figures")
	}
	rounds := 5
	if v := os.Getenv("AIGW_BENCH_ROUNDS"); v != "" {
		fmt.Sscan(v, &rounds)
	}
	fns := []struct {
		name string
		f    func(*testing.B)
	}{
		{"patch_pod", BenchmarkPatchPod},
		{"patch_pod_sample", BenchmarkPatchPodSample},
		{"decode_pod_view", BenchmarkDecodePodView},
		{"scan_pod_view", BenchmarkScanPodView},
	}
	ns := map[string][]float64{}
	for r := 0; r < rounds; r++ {
		for _, f := range fns {
			res := testing.Benchmark(f.f)
			if res.N == 0 {
				t.Fatalf("%s failed", f.name)
			}
			ns[f.name] = append(ns[f.name], float64(res.T.Nanoseconds())/float64(res.N))
		}
	}
	med := func(v []float64) float64 {
		s := append([]float64(nil), v...)
		sort.Float64s(s)
		return s[len(s)/2]
	}
	for _, f := range fns {
		fmt.Printf("BENCH %s %.2f us/op\n", f.name, med(ns[f.name])/1e3)
	}
	fmt.Printf("BENCH decode_speedup %.2f x\n", med(ns["decode_pod_view"])/med(ns["scan_pod_view"]))
}

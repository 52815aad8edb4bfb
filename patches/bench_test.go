package patches

import (
	"fmt"
	"os"
	"sort"
	"testing"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// Benchmarks of the pure mutations. BenchmarkDecodePodView isolates the decode PatchPod spends most
// of its time in: objects.Decode (sigs.k8s.io/json, as the API server reads objects) into podView.
// See BENCHMARKS.md.

// benchPodJSON is a labelled Deployment pod as the API server sends it to a mutating webhook on
// CREATE (defaults applied, service-account token volume and default tolerations added).
const benchPodJSON = `{"kind":"Pod","apiVersion":"v1","metadata":{"generateName":"aigw-7d9c5b8f4-","namespace":"ai-gateway","creationTimestamp":null,"labels":{"aigw":"mtls","app.kubernetes.io/instance":"aigw","app.kubernetes.io/name":"aigw","pod-template-hash":"7d9c5b8f4"},"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-06-01T10:00:00Z","prometheus.io/port":"9090","prometheus.io/scrape":"true"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"aigw-7d9c5b8f4","uid":"4b0c1d3e-2f3a-4b5c-9d6e-7f8091a2b3c4","controller":true,"blockOwnerDeletion":true}]},"spec":{"volumes":[{"name":"config","configMap":{"name":"aigw-config","defaultMode":420}},{"name":"kube-api-access-x7k2p","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},{"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}],"defaultMode":420}}],"containers":[{"name":"aigw","image":"private-registry.f5.com/aigw/aigw:v1.0.2","args":["--config","/etc/aigw/aigw.yaml"],"ports":[{"name":"https","containerPort":4141,"protocol":"TCP"},{"name":"metrics","containerPort":9090,"protocol":"TCP"}],"env":[{"name":"AIGW_LOG_LEVEL","value":"info"},{"name":"AIGW_POD_NAME","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.name"}}},{"name":"AIGW_POD_NAMESPACE","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}},{"name":"OPENAI_API_KEY","valueFrom":{"secretKeyRef":{"name":"aigw-llm-keys","key":"openai"}}}],"resources":{"limits":{"cpu":"2","memory":"2Gi"},"requests":{"cpu":"500m","memory":"512Mi"}},"volumeMounts":[{"name":"config","readOnly":true,"mountPath":"/etc/aigw"},{"name":"kube-api-access-x7k2p","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],"livenessProbe":{"httpGet":{"path":"/healthz","port":9090,"scheme":"HTTP"},"initialDelaySeconds":10,"timeoutSeconds":1,"periodSeconds":10,"successThreshold":1,"failureThreshold":3},"readinessProbe":{"httpGet":{"path":"/readyz","port":9090,"scheme":"HTTP"},"timeoutSeconds":1,"periodSeconds":5,"successThreshold":1,"failureThreshold":3},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent","securityContext":{"capabilities":{"drop":["ALL"]},"runAsNonRoot":true,"readOnlyRootFilesystem":true,"allowPrivilegeEscalation":false}},{"name":"otel-collector","image":"otel/opentelemetry-collector-contrib:0.120.0","args":["--config=/conf/otel.yaml"],"resources":{"limits":{"cpu":"200m","memory":"256Mi"},"requests":{"cpu":"50m","memory":"64Mi"}},"volumeMounts":[{"name":"kube-api-access-x7k2p","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"aigw","serviceAccount":"aigw","securityContext":{"runAsUser":10001,"runAsGroup":10001,"fsGroup":10001,"seccompProfile":{"type":"RuntimeDefault"}},"imagePullSecrets":[{"name":"f5-registry"}],"affinity":{"podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":100,"podAffinityTerm":{"labelSelector":{"matchLabels":{"app.kubernetes.io/name":"aigw"}},"topologyKey":"kubernetes.io/hostname"}}]}},"schedulerName":"default-scheduler","tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],"priority":0,"enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority"},"status":{}}`

// samplePodJSON is config/samples/aigw-pod.yaml as JSON: the walkthrough's minimal pod.
const samplePodJSON = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"aigw","namespace":"ai-gateway","labels":{"app.kubernetes.io/name":"aigw","aigw":"mtls"}},"spec":{"containers":[{"name":"aigw","image":"private-registry.f5.com/aigw/aigw:v1.0.2","args":["--config","/etc/aigw/aigw.yaml"],"ports":[{"name":"https","containerPort":4141}],"volumeMounts":[{"name":"config","mountPath":"/etc/aigw","readOnly":true}]}],"volumes":[{"name":"config","configMap":{"name":"aigw-config"}}]}}`

func benchPatchPod(b *testing.B, fn Mutation, raw string) {
	s := aigw.DefaultSettings()
	in := []byte(raw)
	res, err := fn(in, "ai-gateway", s, nil)
	if err != nil || len(res.Patch()) == 0 || len(res.Conflicts()) > 0 {
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

func BenchmarkDecodePodView(b *testing.B) {
	raw := []byte(benchPodJSON)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		var p podView
		if err := objects.Decode(raw, &p); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBenchFigures (AIGW_BENCH=1) prints the pure pod mutation and its decode (objects.Decode into
// podView), median of AIGW_BENCH_ROUNDS (default 5) interleaved rounds, as BENCH lines.
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
}

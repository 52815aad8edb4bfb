package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/patches"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// The do-nothing admission webhook: it answers every review allowed, with no patch. It is the floor
// any webhook pays (TLS, HTTP, the API server's webhook call). Two builds:
//   - cr: controller-runtime's webhook server and admission.Webhook (which decodes the whole
//     AdmissionReview), with the product's TLS settings (webhook.TLSConfig) and certificate
//     watcher: everything the product has except its handlers, informers and metrics.
//   - cr-patch: cr, but it answers pod CREATEs and ConfigMap writes with the patch our webhook
//     sends for the benchmark's pod and ConfigMaps, computed once: the floor of a webhook that mutates.
//   - minimal: net/http with the same TLS settings, reading only the request's uid.
//
// GET /count on the health address returns how many reviews it answered, so the benchmark can
// tell when the API server has it in its admission path.

type allowAll struct {
	n     *atomic.Int64
	patch bool
}

func (a allowAll) Handle(_ context.Context, req admission.Request) admission.Response {
	a.n.Add(1)
	if a.patch && req.Kind.Kind == "Pod" && req.Operation == admissionv1.Create {
		return admission.Patched("", samePatch...)
	}
	if a.patch && req.Kind.Kind == "ConfigMap" {
		return admission.Patched("", sameConfigMapPatch...)
	}
	return admission.Allowed("")
}

// samePatch is the patch our webhook answers for the benchmark's pod (podFor): the "cr-patch"
// build sends it without looking at the pod, so the API server does the same work with it as with
// ours (apply, re-default, store the larger pod) and only our handler's own cost is left out.
var samePatch = []jsonpatch.JsonPatchOperation{
	{Operation: "add", Path: "/spec/volumes/-", Value: map[string]any{"name": "internal-ca-volume", "secret": map[string]any{"secretName": "internal-ca"}}},
	{Operation: "add", Path: "/spec/volumes/-", Value: map[string]any{"name": "aigw-server-tls", "secret": map[string]any{"secretName": "aigw-server-tls",
		"items": []any{map[string]any{"key": "tls.crt", "path": "server.crt"}, map[string]any{"key": "tls.key", "path": "server.key"}}}}},
	{Operation: "add", Path: "/spec/containers/0/volumeMounts/-", Value: map[string]any{"name": "internal-ca-volume", "mountPath": "/etc/internal-ca", "readOnly": true}},
	{Operation: "add", Path: "/spec/containers/0/volumeMounts/-", Value: map[string]any{"name": "aigw-server-tls", "mountPath": "/tls", "readOnly": true}},
	{Operation: "add", Path: "/metadata/annotations/mtls.aigw.io~1injected", Value: "container=aigw,ca-secret=internal-ca,server-tls-secret=aigw-server-tls"},
}

// sameConfigMapPatch is the patch our webhook answers for the memlimits ConfigMaps (bigData):
// aigw.yaml replaced by its TLS-wired form and the record annotation added. The "cr-patch" build
// sends it to every ConfigMap without reading it, so the API server applies a patch of the same
// shape and size to each ~1 MiB object.
var sameConfigMapPatch = func() []jsonpatch.JsonPatchOperation {
	s := aigw.DefaultSettings()
	p := s.TLSPaths()
	out, _, err := patches.SetAIGWTLS("# config 00 version 1\nversion: 1\nserver:\n  address: :4141\n", p)
	if err != nil {
		panic(err)
	}
	return []jsonpatch.JsonPatchOperation{
		{Operation: "replace", Path: "/data/" + s.ConfigKey, Value: out},
		{Operation: "add", Path: "/metadata/annotations", Value: map[string]any{aigw.AnnotationInjected: fmt.Sprintf("key=%s,serverCertPath=%s,serverKeyPath=%s,clientCertPath=%s",
			s.ConfigKey, p.ServerCertPath, p.ServerKeyPath, p.ClientCAPath)}},
	}
}()

var allPaths = []string{webhook.PathMutatePod, webhook.PathMutateConfigMap, webhook.PathMutateVirtualServer,
	webhook.PathMutateVirtualServerRoute, webhook.PathValidatePolicy, webhook.PathValidateVirtualServer, webhook.PathValidateVirtualServerRoute, webhook.PathValidateCertificate,
	webhook.PathMutateIngress, webhook.PathValidateIngress}

func runNothing(args []string) int {
	fs := flag.NewFlagSet("nothing", flag.ExitOnError)
	impl := fs.String("impl", "cr", "cr, cr-patch or minimal")
	certDir := fs.String("cert-dir", "", "folder with tls.crt and tls.key")
	port := fs.Int("port", 9443, "HTTPS port")
	health := fs.String("health", "127.0.0.1:8081", "readiness and /count address")
	_ = fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	var count atomic.Int64
	ready := &atomic.Bool{}
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("/count", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, count.Load()) })
	hl, err := net.Listen("tcp", *health)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() { _ = http.Serve(hl, mux) }()

	switch *impl {
	case "cr", "cr-patch":
		srv := crwebhook.NewServer(crwebhook.Options{Host: "127.0.0.1", Port: *port, CertDir: *certDir,
			TLSOpts: []func(*tls.Config){webhook.TLSConfig}})
		for _, p := range allPaths {
			srv.Register(p, (&admission.Webhook{Handler: allowAll{n: &count, patch: *impl == "cr-patch"}}).WithRecoverPanic(true))
		}
		go func() {
			for srv.StartedChecker()(nil) != nil {
				select {
				case <-ctx.Done():
					return
				default:
				}
				runtimeSleep()
			}
			ready.Store(true)
		}()
		if err := srv.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	case "minimal":
		cert, err := tls.LoadX509KeyPair(filepath.Join(*certDir, "tls.crt"), filepath.Join(*certDir, "tls.key"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
		webhook.TLSConfig(cfg)
		h := http.NewServeMux()
		for _, p := range allPaths {
			h.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
				var review struct {
					APIVersion string `json:"apiVersion"`
					Kind       string `json:"kind"`
					Request    struct {
						UID string `json:"uid"`
					} `json:"request"`
				}
				body, _ := io.ReadAll(io.LimitReader(r.Body, 7<<20))
				if err := json.Unmarshal(body, &review); err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				count.Add(1)
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"apiVersion":%q,"kind":"AdmissionReview","response":{"uid":%s,"allowed":true}}`,
					review.APIVersion, strconv.Quote(review.Request.UID))
			})
		}
		l, err := tls.Listen("tcp", "127.0.0.1:"+strconv.Itoa(*port), cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		srv := &http.Server{Handler: h}
		go func() { <-ctx.Done(); _ = srv.Close() }()
		ready.Store(true)
		if err := srv.Serve(l); err != nil && err != http.ErrServerClosed {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	default:
		fmt.Fprintln(os.Stderr, "impl: cr, cr-patch or minimal")
		return 2
	}
	return 0
}

func runtimeSleep() { time.Sleep(20 * time.Millisecond) }

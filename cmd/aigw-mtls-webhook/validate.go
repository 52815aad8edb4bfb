package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
	"github.com/aigw-mtls/aigw-mtls-webhook/patches"
)

// validate reports, one line per finding, what the webhook would refuse or warn about in a set of
// manifests: `<Kind>/<namespace>/<name>: <message>`, warnings marked as such. Secrets and
// cert-manager Certificates among the documents (and --server-cert) stand in for the cluster.
// Exit 0: nothing refused; 1: something refused; 2: unreadable input.
func validate(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var serverCert string
	in := bindManifestInput(fs)
	fs.StringVar(&serverCert, "server-cert", "", "PEM of the aigw server certificate, for when its Secret is not among the manifests")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	s, docs, objs, code := in.load(stdin, stderr)
	if code != 0 {
		return code
	}
	namespace := in.namespace
	var lookups objects.Objects = objs
	if serverCert != "" {
		pem, err := os.ReadFile(serverCert)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		lookups = withServerCert{ObjectSet: objs, secret: s.ServerTLSSecret, pem: pem}
	}
	refused := false
	now := time.Now()
	for _, d := range docs {
		if d.json == nil {
			continue
		}
		var results []patches.Result
		admitted := d.json
		mutationRefused := false
		if m := kinds.MutationFor(d.apiVersion, d.kind); m != nil {
			res, err := m(d.json, namespace, s, lookups)
			if err != nil {
				fmt.Fprintf(stderr, "%s: %s: %v\n", d.source, d.ref(), err)
				return 2
			}
			res.Findings = rules.Silence(d.json, res.Findings)
			results = append(results, res)
			// The API server validates the mutated object, and calls no validating webhook once a
			// mutating one has refused.
			dec := res.Decide(s.Mode)
			if !dec.Allowed {
				mutationRefused = true
			}
			if dec.Allowed && len(dec.Patch) > 0 {
				if admitted, err = applyPatch(d.json, dec.Patch); err != nil {
					fmt.Fprintf(stderr, "%s: %s: %v\n", d.source, d.ref(), err)
					return 2
				}
			}
		}
		if v := kinds.RuleFor(d.apiVersion, d.kind); v != nil && !mutationRefused {
			fs, err := v(admitted, nil, namespace, s, lookups, now)
			if err != nil {
				fmt.Fprintf(stderr, "%s: %s: %v\n", d.source, d.ref(), err)
				return 2
			}
			results = append(results, patches.Result{Findings: rules.Silence(admitted, fs)})
		}
		for _, res := range results {
			dec := res.Decide(s.Mode)
			if !dec.Allowed {
				refused = true
				for _, c := range res.Conflicts() {
					fmt.Fprintln(stdout, c)
				}
			}
			for _, w := range dec.Warnings {
				fmt.Fprintln(stdout, markWarning(w))
			}
		}
	}
	if refused {
		return 1
	}
	return 0
}

// markWarning turns "Kind/ns/name: message" into "Kind/ns/name: warning: message".
func markWarning(w string) string {
	if ref, msg, ok := strings.Cut(w, ": "); ok && strings.Count(ref, "/") >= 1 && !strings.Contains(ref, " ") {
		return ref + ": warning: " + msg
	}
	return "warning: " + w
}

// withServerCert answers lookups of the aigw server TLS Secret, in any namespace, with a PEM kept
// outside the manifests, unless the manifests hold that Secret themselves.
type withServerCert struct {
	*objects.ObjectSet
	secret string
	pem    []byte
}

func (w withServerCert) Get(kind, namespace, name string) ([]byte, bool) {
	if raw, ok := w.ObjectSet.Get(kind, namespace, name); ok {
		return raw, ok
	}
	if kind != "Secret" || name != w.secret {
		return nil, false
	}
	raw, err := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
		"metadata": map[string]any{"name": name, "namespace": namespace},
		"data":     map[string][]byte{"tls.crt": w.pem},
	})
	return raw, err == nil
}

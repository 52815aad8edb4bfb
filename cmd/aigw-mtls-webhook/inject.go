package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	"gomodules.xyz/jsonpatch/v2"
	"sigs.k8s.io/yaml"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// inject writes every document to stdout, the labelled ones mutated exactly as the webhook would
// on CREATE. Conflicts are reported on stderr (exit 1 in enforce mode); unreadable input exits 2.
func inject(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inject", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := bindManifestInput(fs)
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	s, docs, objs, code := in.load(stdin, stderr)
	if code != 0 {
		return code
	}
	namespace := in.namespace
	out := make([][]byte, 0, len(docs))
	for _, d := range docs {
		text, denied, err := injectDocument(d, namespace, s, objs, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %s: %v\n", d.source, d.ref(), err)
			return 2
		}
		if denied {
			code = 1
		}
		out = append(out, text)
	}
	if err := writeDocuments(stdout, out); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	return code
}

func injectDocument(d document, namespace string, s aigw.Settings, objs objects.Objects, stderr io.Writer) ([]byte, bool, error) {
	mutate := kinds.MutationFor(d.apiVersion, d.kind)
	if d.json == nil || mutate == nil {
		return d.text, false, nil
	}
	res, err := mutate(d.json, namespace, s, objs)
	if err != nil {
		return nil, false, err
	}
	res.Findings = rules.Silence(d.json, res.Findings)
	dec := res.Decide(s.Mode)
	for _, w := range dec.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	if !dec.Allowed {
		fmt.Fprintf(stderr, "denied: %s\n", dec.Denial)
		return d.text, true, nil
	}
	if len(dec.Patch) == 0 {
		return d.text, false, nil
	}
	mutated, err := applyPatch(d.json, dec.Patch)
	if err != nil {
		return nil, false, err
	}
	y, err := yaml.JSONToYAML(mutated)
	return y, false, err
}

func applyPatch(raw []byte, ops []jsonpatch.Operation) ([]byte, error) {
	b, err := json.Marshal(ops)
	if err != nil {
		return nil, err
	}
	p, err := jsonpatchapply.DecodePatch(b)
	if err != nil {
		return nil, err
	}
	out, err := p.Apply(raw)
	if err != nil {
		return nil, fmt.Errorf("applying the patch: %w", err)
	}
	return out, nil
}

package patches

import (
	"errors"
	"fmt"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// MaxAIGWConfigBytes bounds the aigw config the mutation parses and edits: its YAML tree costs
// about 24 times the text in allocations and 23 ms of CPU at the bound
// (BenchmarkPatchConfigMapAtBound; a 1 MiB config took 137 ms and 26 MB), on every write of the
// ConfigMap. aigw's own config is a few KiB; a larger one is refused
// unwired instead of parsed.
const MaxAIGWConfigBytes = 256 << 10

type configMapView struct {
	Metadata   objectMeta        `json:"metadata"`
	Data       map[string]string `json:"data"`
	BinaryData map[string][]byte `json:"binaryData"`
}

// PatchConfigMap sets server.tls and server.mtls in the aigw config held by a ConfigMap labelled
// with the selector, to the paths the pod injection mounts. Everything else in the config is kept
// as written.
func PatchConfigMap(raw []byte, namespace string, s aigw.Settings, _ objects.Objects) (Result, error) {
	var cm configMapView
	if err := objects.Decode(raw, &cm); err != nil {
		return Result{}, fmt.Errorf("decoding ConfigMap: %w", err)
	}
	if !s.Selected(cm.Metadata.Labels) {
		return Result{}, nil
	}
	obj := cm.Metadata.Ref("ConfigMap", namespace)
	if s.IsCABundle(cm.Data, cm.BinaryData) {
		return Result{}, nil // a labelled CA bundle (a BackendTLSPolicy's caCertificateRefs), no aigw config
	}
	doc, ok := cm.Data[s.ConfigKey]
	if !ok {
		f := rules.ConfigKeyMissing.New(rules.Finding{Object: obj, Field: "data[" + s.ConfigKey + "]",
			Found: "no such key", Fix: "put the aigw config under that key, or set the webhook's config key to the key aigw reads"})
		f.Expected = "the aigw config"
		return Result{Findings: rules.Findings{f}}, nil
	}
	if len(doc) > MaxAIGWConfigBytes {
		return Result{Findings: rules.Findings{rules.ConfigTooLarge.New(rules.Finding{Object: obj, Field: "data[" + s.ConfigKey + "]",
			Expected: fmt.Sprintf("an aigw config of at most %d bytes", MaxAIGWConfigBytes), Found: fmt.Sprintf("%d bytes", len(doc)),
			Fix: "keep aigw's config small (a real one is a few KiB): move large data out of it"})}}, nil
	}
	out, changed, err := SetAIGWTLS(doc, s.TLSPaths())
	if errors.Is(err, ErrTooManyNodes) {
		return Result{Findings: rules.Findings{rules.ConfigTooLarge.New(rules.Finding{Object: obj, Field: "data[" + s.ConfigKey + "]",
			Expected: fmt.Sprintf("an aigw config of at most %d YAML nodes (aliases expanded)", MaxAIGWConfigNodes), Found: "more",
			Fix: "keep aigw's config small (a real one has a few hundred nodes): move large data out of it, and expand its aliases"})}}, nil
	}
	if err != nil {
		var ye *YAMLError
		found := err.Error()
		if errors.As(err, &ye) {
			found = ye.Error()
		}
		return Result{Findings: rules.Findings{rules.ConfigYAMLInvalid.New(rules.Finding{Object: obj, Field: "data[" + s.ConfigKey + "]", Expected: "valid YAML with a mapping at the top",
			Found: found, Fix: "correct the YAML at that line"})}}, nil
	}
	var res Result
	p := s.TLSPaths()
	if changed {
		res.Wiring = append(res.Wiring, replace("/data/"+pointerEscape(s.ConfigKey), out))
		res.Unwired = append(res.Unwired, rules.ConfigTLSUnwired.New(rules.Finding{Object: obj, Field: "data[" + s.ConfigKey + "]", Expected: fmt.Sprintf("server.tls (%s, %s) and server.mtls (%s) set to the mounted files", p.ServerCertPath, p.ServerKeyPath, p.ClientCAPath),
			Found: "other values, or none", Fix: "re-apply the ConfigMap through the webhook so it sets them, then restart aigw"}))
	}
	record := fmt.Sprintf("key=%s,serverCertPath=%s,serverKeyPath=%s,clientCertPath=%s", s.ConfigKey, p.ServerCertPath, p.ServerKeyPath, p.ClientCAPath)
	res.Record = annotationOp(cm.Metadata, aigw.AnnotationInjected, record)
	return res, nil
}

// Package aigw names the parts of the NGINX Ingress Controller → AI gateway mTLS hop: the settings
// every mutation and rule reads (SPEC "Defaults"), the per-object annotations, and the kinds of
// objects the webhook handles.
package aigw

import (
	"fmt"
	"path"
)

// Mode says what a conflict does: deny the object, or let it through unchanged with a warning.
type Mode string

const (
	ModeEnforce Mode = "enforce"
	ModeWarn    Mode = "warn"
)

// ParseMode accepts "enforce" or "warn".
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case ModeEnforce, ModeWarn:
		return Mode(s), nil
	}
	return "", fmt.Errorf("mode %q: expected enforce or warn", s)
}

// Per-object annotations (SPEC "Defaults").
const (
	AnnotationContainer       = "mtls.aigw.io/container"
	AnnotationCASecret        = "mtls.aigw.io/ca-secret"
	AnnotationServerTLSSecret = "mtls.aigw.io/server-tls-secret"
	AnnotationPolicy          = "mtls.aigw.io/policy"
	AnnotationUpstreams       = "mtls.aigw.io/upstreams"
	AnnotationServices        = "mtls.aigw.io/services"
	AnnotationInjected        = "mtls.aigw.io/injected"
)

// Settings are the names and paths the webhook injects. Every field has a serve flag and a Helm value.
type Settings struct {
	SelectorKey   string `json:"selectorKey"`
	SelectorValue string `json:"selectorValue"`

	Container string `json:"container"`

	CASecret    string `json:"caSecret"`
	CAKey       string `json:"caKey"`
	CAVolume    string `json:"caVolume"`
	CAMountPath string `json:"caMountPath"`

	ServerTLSSecret    string `json:"serverTLSSecret"`
	ServerTLSVolume    string `json:"serverTLSVolume"`
	ServerTLSMountPath string `json:"serverTLSMountPath"`
	ServerCertFile     string `json:"serverCertFile"`
	ServerKeyFile      string `json:"serverKeyFile"`

	ClientTLSSecret string `json:"clientTLSSecret"`
	Policy          string `json:"policy"`

	ConfigKey string `json:"configKey"`
	Mode      Mode   `json:"mode"`
}

// DefaultSettings returns the SPEC's defaults: the names and paths of the manual walkthrough.
func DefaultSettings() Settings {
	return Settings{
		SelectorKey:        "aigw",
		SelectorValue:      "mtls",
		Container:          "aigw",
		CASecret:           "internal-ca",
		CAKey:              "ca.crt",
		CAVolume:           "internal-ca-volume",
		CAMountPath:        "/etc/internal-ca",
		ServerTLSSecret:    "aigw-server-tls",
		ServerTLSVolume:    "aigw-server-tls",
		ServerTLSMountPath: "/tls",
		ServerCertFile:     "server.crt",
		ServerKeyFile:      "server.key",
		ClientTLSSecret:    "aigw-nic-client-tls",
		Policy:             "aigw-mtls",
		ConfigKey:          "aigw.yaml",
		Mode:               ModeEnforce,
	}
}

// Selected reports whether labels carry the selector label.
func (s Settings) Selected(labels map[string]string) bool {
	v, ok := labels[s.SelectorKey]
	return ok && v == s.SelectorValue
}

// IsCABundle reports whether a labelled ConfigMap with this data is a CA bundle (a
// BackendTLSPolicy's caCertificateRefs, kept by the CA sync) rather than aigw's config: it holds
// ca.crt, in data or binaryData, and no config under ConfigKey. The ConfigMap mutation leaves such
// a ConfigMap alone and check reports it under Gateway API.
func (s Settings) IsCABundle(data map[string]string, binaryData map[string][]byte) bool {
	if _, config := data[s.ConfigKey]; config {
		return false
	}
	_, inData := data["ca.crt"]
	_, inBinary := binaryData["ca.crt"]
	return inData || inBinary
}

// TLSPaths are the paths aigw's config must point at, derived from the mounts the webhook injects.
func (s Settings) TLSPaths() TLSPaths {
	return TLSPaths{
		ServerCertPath: path.Join(s.ServerTLSMountPath, s.ServerCertFile),
		ServerKeyPath:  path.Join(s.ServerTLSMountPath, s.ServerKeyFile),
		ClientCAPath:   path.Join(s.CAMountPath, s.CAKey),
	}
}

// TLSPaths are the file paths written into aigw.yaml's server.tls and server.mtls.
type TLSPaths struct {
	ServerCertPath string // /tls/server.crt
	ServerKeyPath  string // /tls/server.key
	ClientCAPath   string // /etc/internal-ca/ca.crt
}

// AnnotationKeyCheck is set by the webhook on its cached copy of a Secret, never on the Secret
// itself: whether tls.key matched tls.crt before the key was dropped from the copy.
const (
	AnnotationKeyCheck = "mtls.aigw.io/cached-key-check"
	KeyCheckMatches    = "matches"
)

package rules

import (
	"crypto/x509"
	"fmt"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/certs"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// secret is the part of a Secret the rules read. Data values are base64 in JSON and decode into
// []byte.
type secret struct {
	Metadata   objects.Meta      `json:"metadata"`
	Type       string            `json:"type"`
	Data       map[string][]byte `json:"data"`
	StringData map[string]string `json:"stringData"`
}

// lookupSecret returns an *objects.Unavailable error when Secrets of namespace cannot be read.
func lookupSecret(objs objects.Objects, namespace, name string) (*secret, bool, error) {
	if err := objects.Available(objs, "Secret", namespace); err != nil {
		return nil, false, err
	}
	raw, ok := objects.Get(objs, "Secret", namespace, name)
	if !ok {
		return nil, false, nil
	}
	s, err := decodeSecret(raw, namespace)
	return s, true, err
}

func decodeSecret(raw []byte, namespace string) (*secret, error) {
	var s secret
	if err := objects.Decode(raw, &s); err != nil {
		return nil, fmt.Errorf("decoding Secret: %w", err)
	}
	s.Metadata.Namespace = s.Metadata.In(namespace)
	// Manifests may use stringData; the API server merges it into data the same way.
	for k, v := range s.StringData {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		s.Data[k] = []byte(v)
	}
	if s.Type == "" {
		s.Type = "Opaque"
	}
	return &s, nil
}

func (s *secret) ref() string { return "Secret " + s.Metadata.Namespace + "/" + s.Metadata.Name }

// memo names the content under key for certs.ParseCached: namespace/name/key@resourceVersion, ""
// when the Secret has no resourceVersion (a document, not a cluster object).
func (s *secret) memo(key string) string {
	return SecretMemo(s.Metadata.Namespace, s.Metadata.Name, key, s.Metadata.ResourceVersion)
}

// SecretMemo is the key under which certs.ParseCached keeps the certificates of a Secret's key at
// one resourceVersion ("" when the version is unknown: not kept).
func SecretMemo(namespace, name, key, resourceVersion string) string {
	if resourceVersion == "" {
		return ""
	}
	return namespace + "/" + name + "/" + key + "@" + resourceVersion
}

// certificates parses the PEM certificates under key, once per resourceVersion.
func (s *secret) certificates(key string) ([]*x509.Certificate, error) {
	data, ok := s.Data[key]
	if !ok {
		return nil, fmt.Errorf("no key %s", key)
	}
	c, err := certs.ParseCached(s.memo(key), data)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", key, err)
	}
	return c, nil
}

// keyMismatch says why tls.key does not belong to tls.crt, "" when it does or cannot be told. The
// webhook's cache holds Secrets without private keys: its transform records the verdict in
// aigw.AnnotationKeyCheck before emptying the key (RecordKeyCheck).
func (s *secret) keyMismatch() string {
	if v, ok := s.Metadata.Annotations[aigw.AnnotationKeyCheck]; ok {
		if v == aigw.KeyCheckMatches {
			return ""
		}
		return v
	}
	if key := s.Data["tls.key"]; len(key) > 0 {
		if err := certs.KeyMatches(s.Data["tls.crt"], key); err != nil {
			return err.Error()
		}
	}
	return ""
}

// RecordKeyCheck is the verdict on a Secret's tls.key against its tls.crt, to be stored in
// aigw.AnnotationKeyCheck of a copy that no longer holds the key: aigw.KeyCheckMatches, the
// reason it does not match, or "" when the Secret has no key to check.
func RecordKeyCheck(tlsCrt, tlsKey []byte) string {
	if len(tlsKey) == 0 {
		return ""
	}
	if err := certs.KeyMatches(tlsCrt, tlsKey); err != nil {
		return err.Error()
	}
	return aigw.KeyCheckMatches
}

// RecordKeyCheckIn stores RecordKeyCheck's verdict in ann (a copy's annotations, which the copy
// keeps after its key is dropped), replacing any verdict the object brought along.
func RecordKeyCheckIn(ann map[string]string, tlsCrt, tlsKey []byte) map[string]string {
	delete(ann, aigw.AnnotationKeyCheck)
	if v := RecordKeyCheck(tlsCrt, tlsKey); v != "" {
		if ann == nil {
			ann = map[string]string{}
		}
		ann[aigw.AnnotationKeyCheck] = v
	}
	return ann
}

// SecretCertificates are the certificates under key of the Secret raw (as stored in namespace),
// parsed through the shared parse cache (one entry per Secret, key and resourceVersion).
func SecretCertificates(raw []byte, namespace, key string) ([]*x509.Certificate, error) {
	s, err := decodeSecret(raw, namespace)
	if err != nil {
		return nil, err
	}
	return s.certificates(key)
}

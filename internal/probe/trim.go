package probe

import (
	"encoding/json"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// TrimVirtualServer is the part of a VirtualServer Targets reads, as JSON; nil when raw cannot be
// decoded. A reader that lists many VirtualServers keeps this instead of the object.
func TrimVirtualServer(raw []byte) []byte {
	var vs virtualServer
	return trimmed(raw, &vs)
}

// TrimIngress is the part of an Ingress Targets reads, as JSON; nil when raw cannot be decoded.
func TrimIngress(raw []byte) []byte {
	var ing ingressBackends
	return trimmed(raw, &ing)
}

func trimmed(raw []byte, v any) []byte {
	if objects.Decode(raw, v) != nil {
		return nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return out
}

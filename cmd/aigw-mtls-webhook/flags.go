package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
)

// settingsFlags binds one flag per SPEC default. The same flags serve both the webhook and the
// offline commands, so a pipeline mutates exactly as the cluster does.
type settingsFlags struct {
	s        aigw.Settings
	selector string
	mode     string
}

func bindSettings(fs *flag.FlagSet) *settingsFlags {
	f := &settingsFlags{s: aigw.DefaultSettings()}
	d := f.s
	fs.StringVar(&f.selector, "selector", d.SelectorKey+"="+d.SelectorValue, "label (key=value) that selects the objects to wire")
	fs.StringVar(&f.mode, "mode", string(d.Mode), "enforce: deny conflicts; warn: allow them unchanged with warnings")
	fs.StringVar(&f.s.Container, "container", d.Container, "target container in a Pod (else the first container); per pod: annotation "+aigw.AnnotationContainer)
	fs.StringVar(&f.s.CASecret, "ca-secret", d.CASecret, "CA Secret (type nginx.org/ca); per pod: annotation "+aigw.AnnotationCASecret)
	fs.StringVar(&f.s.CAKey, "ca-key", d.CAKey, "key of the CA certificate in the CA Secret")
	fs.StringVar(&f.s.CAVolume, "ca-volume", d.CAVolume, "name of the CA volume")
	fs.StringVar(&f.s.CAMountPath, "ca-mount-path", d.CAMountPath, "where the CA is mounted (read-only)")
	fs.StringVar(&f.s.ServerTLSSecret, "server-tls-secret", d.ServerTLSSecret, "aigw server TLS Secret; per pod: annotation "+aigw.AnnotationServerTLSSecret)
	fs.StringVar(&f.s.ServerTLSVolume, "server-tls-volume", d.ServerTLSVolume, "name of the server TLS volume")
	fs.StringVar(&f.s.ServerTLSMountPath, "server-tls-mount-path", d.ServerTLSMountPath, "where the server certificate is mounted (read-only)")
	fs.StringVar(&f.s.ServerCertFile, "server-cert-file", d.ServerCertFile, "file name of tls.crt under the server TLS mount")
	fs.StringVar(&f.s.ServerKeyFile, "server-key-file", d.ServerKeyFile, "file name of tls.key under the server TLS mount")
	fs.StringVar(&f.s.ClientTLSSecret, "client-tls-secret", d.ClientTLSSecret, "NIC client TLS Secret")
	fs.StringVar(&f.s.Policy, "policy", d.Policy, "EgressMTLS Policy attached to routes (name or namespace/name); per object: annotation "+aigw.AnnotationPolicy)
	fs.StringVar(&f.s.ConfigKey, "config-key", d.ConfigKey, "key of aigw's config in its ConfigMap")
	return f
}

// settings validates the parsed flags.
func (f *settingsFlags) settings() (aigw.Settings, error) {
	s := f.s
	k, v, ok := strings.Cut(f.selector, "=")
	if !ok || k == "" {
		return s, fmt.Errorf("--selector %q: expected key=value", f.selector)
	}
	s.SelectorKey, s.SelectorValue = k, v
	m, err := aigw.ParseMode(f.mode)
	if err != nil {
		return s, fmt.Errorf("--%v", err)
	}
	s.Mode = m
	return s, nil
}

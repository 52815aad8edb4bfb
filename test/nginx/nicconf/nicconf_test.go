package nicconf

import (
	"reflect"
	"testing"
)

func TestDirectivesDefaults(t *testing.T) {
	got := Directives(EgressMTLS{TLSSecret: "client", TrustedCertSecret: "ca"}, "/s/ns-client", "/s/ns-ca-ca.crt")
	want := []string{
		"proxy_ssl_certificate /s/ns-client",
		"proxy_ssl_certificate_key /s/ns-client",
		"proxy_ssl_trusted_certificate /s/ns-ca-ca.crt",
		"proxy_ssl_verify off",
		"proxy_ssl_verify_depth 1",
		"proxy_ssl_protocols TLSv1 TLSv1.1 TLSv1.2",
		"proxy_ssl_ciphers DEFAULT",
		"proxy_ssl_session_reuse on",
		"proxy_ssl_server_name off",
		"proxy_ssl_name $proxy_host",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("defaults:\n got %q\nwant %q", got, want)
	}
}

func TestDirectivesSet(t *testing.T) {
	got := Directives(EgressMTLS{
		VerifyServer: true, VerifyDepth: Int(0), Protocols: "TLSv1.3", Ciphers: "HIGH",
		SessionReuse: Bool(false), ServerName: true, SSLName: "aigw.ai-gateway.svc.cluster.local",
	}, "unused", "unused")
	want := []string{
		"proxy_ssl_verify on",
		"proxy_ssl_verify_depth 0",
		"proxy_ssl_protocols TLSv1.3",
		"proxy_ssl_ciphers HIGH",
		"proxy_ssl_session_reuse off",
		"proxy_ssl_server_name on",
		"proxy_ssl_name aigw.ai-gateway.svc.cluster.local",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("set:\n got %q\nwant %q", got, want)
	}
}

func TestNames(t *testing.T) {
	if got := UpstreamName("ai-gateway", "aigw-mtls", "aigw"); got != "vs_ai-gateway_aigw-mtls_aigw" {
		t.Fatalf("UpstreamName = %q", got)
	}
	if got := string(TLSSecretContent([]byte("CRT"), []byte("KEY"))); got != "CRT\nKEY" {
		t.Fatalf("TLSSecretContent = %q", got)
	}
}

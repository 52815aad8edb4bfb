package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The serving side of the running webhook (hook.URL): TLS 1.2 at least, and HTTP/1.1 only, so
// an HTTP/2 rapid-reset flood has nothing to reset.

var netDialer = net.Dialer{Timeout: 5 * time.Second}

func hookTLS(t *testing.T, c *tls.Config) (*tls.Conn, error) {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(hook.CABundle) {
		t.Fatal("no CA in hook.CABundle")
	}
	c.RootCAs = pool
	return tls.DialWithDialer(&netDialer, "tcp", strings.TrimPrefix(hook.URL, "https://"), c)
}

func TestServingRefusesTLSBelow12(t *testing.T) {
	for name, v := range map[string]uint16{"TLS 1.0": tls.VersionTLS10, "TLS 1.1": tls.VersionTLS11} {
		conn, err := hookTLS(t, &tls.Config{MinVersion: v, MaxVersion: v})
		if err == nil {
			conn.Close()
			t.Errorf("%s: handshake succeeded, want refused", name)
			continue
		}
		if !strings.Contains(err.Error(), "protocol version") {
			t.Errorf("%s: want a protocol_version alert, got %v", name, err)
		}
	}
	for name, v := range map[string]uint16{"TLS 1.2": tls.VersionTLS12, "TLS 1.3": tls.VersionTLS13} {
		conn, err := hookTLS(t, &tls.Config{MinVersion: v, MaxVersion: v})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := conn.ConnectionState().Version; got != v {
			t.Errorf("%s: negotiated %s", name, tls.VersionName(got))
		}
		conn.Close()
	}
}

func TestServingDoesNotSpeakHTTP2(t *testing.T) {
	// A client offering only h2 gets no h2: refused (no_application_protocol) or not negotiated.
	conn, err := hookTLS(t, &tls.Config{NextProtos: []string{"h2"}})
	if err == nil {
		if p := conn.ConnectionState().NegotiatedProtocol; p == "h2" {
			t.Errorf("h2-only client: negotiated h2")
		}
		conn.Close()
	} else if !strings.Contains(err.Error(), "no application protocol") {
		t.Errorf("h2-only client: want no_application_protocol, got %v", err)
	}

	// A client offering h2 and http/1.1 (what Go's http.Transport and the API server offer) gets
	// http/1.1.
	conn, err = hookTLS(t, &tls.Config{NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
		t.Errorf("h2+http/1.1 client: negotiated %q, want http/1.1", p)
	}

	// HTTP/2 with prior knowledge on that connection: the server answers as HTTP/1.1 (or
	// closes), never with an HTTP/2 SETTINGS frame.
	preface := "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	settings := []byte{0, 0, 0, 0x4, 0, 0, 0, 0, 0} // empty SETTINGS frame
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(append([]byte(preface), settings...)); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 9)
	n, _ := io.ReadFull(conn, head)
	conn.Close()
	if n >= 4 && head[3] == 0x4 && !bytes.HasPrefix(head, []byte("HTTP/")) {
		t.Errorf("server answered the HTTP/2 preface with an HTTP/2 frame: % x", head[:n])
	}
	if n > 0 && !bytes.HasPrefix(head[:n], []byte("HTTP/1.1")[:min(n, 8)]) {
		t.Errorf("server answered the HTTP/2 preface with %q, want an HTTP/1.1 response or a close", head[:n])
	}

	// Go's HTTP client, which uses HTTP/2 whenever the server offers it, speaks HTTP/1.1 here.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(hook.CABundle)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Post(hook.URL+"/mutate-v1-pod", "application/json",
		strings.NewReader(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"tls-test","kind":{"version":"v1","kind":"Pod"},"operation":"CREATE","namespace":"ai-gateway","object":{"metadata":{"name":"x"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(bufio.NewReader(resp.Body))
	resp.Body.Close()
	if resp.ProtoMajor != 1 {
		t.Errorf("HTTP client spoke %s, want HTTP/1.1", resp.Proto)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"uid":"tls-test"`) {
		t.Errorf("admission over HTTP/1.1: %s %s", resp.Status, body)
	}
}

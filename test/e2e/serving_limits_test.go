package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/tools"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// The serving limits of the running webhook (hook: the serve command's defaults).

const validReview = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"limits-test","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"operation":"CREATE","namespace":"ai-gateway","userInfo":{},"object":{"metadata":{"name":"x"}}}}`

// A client that sends its request one byte every 2 s is cut off at the read deadline (10 s by
// default), whether it trickles the headers or the body: it is not answered after 50 s.
func TestServingCutsOffSlowClients(t *testing.T) {
	deadline := webhook.DefaultServingLimits().ReadTimeout
	if deadline != 10*time.Second {
		t.Fatalf("default read deadline %s, want 10s", deadline)
	}
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", webhook.PathMutatePod, len(validReview))
	for name, tc := range map[string]struct{ sent, trickled string }{
		"headers": {"", head + validReview},
		"body":    {head, validReview},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			conn, err := hookTLS(t, &tls.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			if _, err := io.WriteString(conn, tc.sent); err != nil {
				t.Fatal(err)
			}
			closed := make(chan string, 1)
			go func() {
				b, _ := io.ReadAll(conn) // until the server answers and closes, or cuts the connection
				closed <- string(b)
			}()
			tick := time.NewTicker(2 * time.Second)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case answer := <-closed:
					took := time.Since(start)
					if took < deadline-time.Second || took > deadline+3*time.Second {
						t.Errorf("connection ended after %s, want at the %s read deadline", took.Round(time.Millisecond), deadline)
					}
					if strings.Contains(answer, `"allowed":true`) {
						t.Errorf("a request that never fully arrived was answered as admitted: %q", answer)
					}
					t.Logf("cut off after %s with %d bytes of %d sent; answer %q", took.Round(time.Millisecond), i, len(tc.trickled), firstLine(answer))
					return
				case <-tick.C:
					if took := time.Since(start); took > deadline+5*time.Second || i >= len(tc.trickled) {
						t.Fatalf("still open after %s and %d bytes trickled: no read deadline", took.Round(time.Second), i)
					}
					_, _ = conn.Write([]byte{tc.trickled[i]})
				}
			}
		})
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

var cbcSHA1Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA,
}

// TLS 1.2 with AEAD suites only: a client offering only CBC-SHA1 suites fails the handshake, one
// offering an AEAD suite succeeds; checked with Go's client and the openssl CLI.
func TestServingTLS12OnlyAEADSuites(t *testing.T) {
	conn, err := hookTLS(t, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: cbcSHA1Suites})
	if err == nil {
		st := conn.ConnectionState()
		conn.Close()
		t.Fatalf("CBC-SHA1-only TLS 1.2 client: negotiated %s, want a handshake failure", tls.CipherSuiteName(st.CipherSuite))
	}
	if !strings.Contains(err.Error(), "handshake failure") {
		t.Errorf("CBC-SHA1-only TLS 1.2 client: want a handshake_failure alert, got %v", err)
	}
	for _, suite := range webhook.AEADCipherSuites {
		conn, err := hookTLS(t, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
		name := tls.CipherSuiteName(suite)
		if strings.Contains(name, "_RSA_") {
			// The serving key is ECDSA: RSA suites cannot be negotiated with it.
			if err == nil {
				conn.Close()
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		conn.Close()
	}

	openssl := tools.OpenSSL.Need(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, hook.CABundle, 0o600); err != nil {
		t.Fatal(err)
	}
	sClient := func(cipher string) (string, error) {
		cmd := exec.Command(openssl, "s_client", "-connect", strings.TrimPrefix(hook.URL, "https://"), "-tls1_2",
			"-cipher", cipher, "-CAfile", ca, "-verify_return_error", "-brief")
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, cipher := range []string{"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-RSA-AES128-SHA", "AES128-SHA", "ECDHE-ECDSA-AES128-SHA256"} {
		if out, err := sClient(cipher); err == nil || !strings.Contains(out, "handshake failure") {
			t.Errorf("openssl s_client -tls1_2 -cipher %s: want a handshake failure, got %v:\n%s", cipher, err, out)
		}
	}
	for _, cipher := range []string{"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"} {
		out, err := sClient(cipher)
		if err != nil || !strings.Contains(out, "Ciphersuite: "+cipher) {
			t.Errorf("openssl s_client -tls1_2 -cipher %s: want that suite negotiated, got %v:\n%s", cipher, err, out)
		}
	}
}

// Reviews the API server never sends are refused before any handler, naming what was expected
// and found; nothing panics and the server keeps answering.
func TestServingRefusesMalformedReviews(t *testing.T) {
	for name, tc := range map[string]struct {
		body, want string
		status     int
	}{
		"v1beta1": {strings.Replace(validReview, "admission.k8s.io/v1", "admission.k8s.io/v1beta1", 1),
			`apiVersion: expected "admission.k8s.io/v1", found "admission.k8s.io/v1beta1"`, 400},
		"no apiVersion":  {strings.Replace(validReview, `"apiVersion":"admission.k8s.io/v1",`, "", 1), `apiVersion: expected "admission.k8s.io/v1", found ""`, 400},
		"empty uid":      {strings.Replace(validReview, `"uid":"limits-test"`, `"uid":""`, 1), "request.uid: expected the API server's request uid, found an empty one", 400},
		"no uid":         {strings.Replace(validReview, `"uid":"limits-test",`, "", 1), "request.uid: expected the API server's request uid, found an empty one", 400},
		"no request":     {`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, "request: expected the admission request, found none", 400},
		"null request":   {`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}`, "request: expected the admission request, found none", 400},
		"wrong kind":     {strings.Replace(validReview, `"kind":"AdmissionReview"`, `"kind":"Pod"`, 1), `kind: expected "AdmissionReview", found "Pod"`, 400},
		"case-folded":    {strings.Replace(validReview, `"apiVersion"`, `"APIVERSION"`, 1), `apiVersion: expected "admission.k8s.io/v1", found ""`, 400},
		"not JSON":       {"uid=1", "expected a JSON admission.k8s.io/v1 AdmissionReview, found a body that does not decode", 400},
		"truncated":      {validReview[:40], "found a body that does not decode", 400},
		"array":          {`[1,2]`, "found a body that does not decode", 400},
		"uid wrong type": {strings.Replace(validReview, `"uid":"limits-test"`, `"uid":{"a":1}`, 1), "found a body that does not decode", 400},
		"long apiVersion": {strings.Replace(validReview, "admission.k8s.io/v1", strings.Repeat("x", 5000), 1),
			`found "` + strings.Repeat("x", 64) + `…"`, 400},
	} {
		for _, path := range []string{webhook.PathMutatePod, webhook.PathValidatePolicy} {
			status, resp := postReview(t, path, tc.body)
			if status != tc.status {
				t.Errorf("%s %s: status %d, want %d", name, path, status, tc.status)
			}
			if resp.Response == nil || resp.Response.Allowed || resp.Response.Result == nil || !strings.Contains(resp.Response.Result.Message, tc.want) {
				t.Errorf("%s %s: want a refusal containing %q, got %+v", name, path, tc.want, resp.Response)
				continue
			}
			if len(resp.Response.Result.Message) > 400 {
				t.Errorf("%s %s: message of %d bytes: the caller's input is not bounded", name, path, len(resp.Response.Result.Message))
			}
		}
	}
	// GET is not a review.
	status, resp := getReview(t, webhook.PathMutatePod)
	if status != http.StatusMethodNotAllowed || resp.Response == nil || !strings.Contains(resp.Response.Result.Message, "expected POST") {
		t.Errorf("GET: status %d, %+v", status, resp.Response)
	}
	// Still serving, and a well-formed review is answered with its uid.
	status, resp = postReview(t, webhook.PathMutatePod, validReview)
	if status != http.StatusOK || resp.Response == nil || resp.Response.UID != "limits-test" || !resp.Response.Allowed {
		t.Errorf("valid review after the malformed ones: status %d, %+v", status, resp.Response)
	}
}

func hookClient(t *testing.T) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(hook.CABundle)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}
}

func postReview(t *testing.T, path, body string) (int, admissionv1.AdmissionReview) {
	t.Helper()
	resp, err := hookClient(t).Post(hook.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return decodeReview(t, resp)
}

func getReview(t *testing.T, path string) (int, admissionv1.AdmissionReview) {
	t.Helper()
	resp, err := hookClient(t).Get(hook.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	return decodeReview(t, resp)
}

func decodeReview(t *testing.T, resp *http.Response) (int, admissionv1.AdmissionReview) {
	t.Helper()
	defer resp.Body.Close()
	var r admissionv1.AdmissionReview
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &r); err != nil {
		t.Errorf("answer is not an AdmissionReview: %v: %s", err, b)
	}
	return resp.StatusCode, r
}

// With the in-flight limit reached, a request is answered at once with 429, Retry-After and a
// Status naming the limit and the fix; once the slots free up, requests are answered again. The
// slots are held by clients trickling their bodies, so the real handlers are the ones busy.
func TestServingOverloadAnswer(t *testing.T) {
	o := webhook.DefaultOptions()
	o.Serving.MaxInFlight = 2
	o.Serving.ReadTimeout = 4 * time.Second
	o.Serving.ShutdownDelay = 0
	w, err := harness.StartWebhook(env.Config, o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(w.CABundle)
	addr := strings.TrimPrefix(w.URL, "https://")
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", webhook.PathMutatePod, len(validReview))
	for i := 0; i < o.Serving.MaxInFlight; i++ {
		conn, err := tls.DialWithDialer(&netDialer, "tcp", addr, &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // the server has read both headers and entered the handlers

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	start := time.Now()
	resp, err := c.Post(w.URL+webhook.PathMutatePod, "application/json", strings.NewReader(validReview))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if took := time.Since(start); took > time.Second {
		t.Errorf("overload answer took %s: it must not queue", took)
	}
	var st metav1.Status
	_ = json.Unmarshal(body, &st)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" ||
		st.Reason != metav1.StatusReasonTooManyRequests || st.Code != 429 ||
		!strings.Contains(st.Message, "overloaded: 2 admission requests in flight") || !strings.Contains(st.Message, "--max-in-flight") {
		t.Errorf("over the limit: want 429, Retry-After: 1 and a Status naming the limit and the fix, got %s %v %s", resp.Status, resp.Header, body)
	}

	// The trickling clients are cut off at the read deadline; their slots free up.
	deadline := time.Now().Add(o.Serving.ReadTimeout + 5*time.Second)
	for {
		resp, err := c.Post(w.URL+webhook.PathMutatePod, "application/json", strings.NewReader(validReview))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(bufio.NewReader(resp.Body))
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && strings.Contains(string(b), `"uid":"limits-test"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused after the slow clients' deadline: %s %s", resp.Status, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Through the API server: an overload answer is retried after its Retry-After, within the
// webhook's timeout, so a short overload delays a labelled create instead of failing it.
func TestServingOverloadRetriedByTheAPIServer(t *testing.T) {
	ctx := context.Background()
	o := webhook.DefaultOptions()
	o.Serving.MaxInFlight = 2
	o.Serving.ReadTimeout = 2500 * time.Millisecond
	o.Serving.ShutdownDelay = 0
	w, err := harness.StartWebhook(env.Config, o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "overload-"}}
	must(t, env.Client.Create(ctx, nsObj))
	space := nsObj.Name
	addr := strings.TrimPrefix(w.URL, "https://")
	lb := newServiceLB(t)
	lb.add(addr)
	cfg, _, err := harness.ChartWebhooks(space, lb.URL(), w.CABundle)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Webhooks = cfg.Webhooks[:1]
	cfg.Webhooks[0].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": space}}
	must(t, env.Client.Create(ctx, cfg))
	t.Cleanup(func() {
		_ = env.Client.Delete(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: space}})
	})
	eventually(t, "the configuration in the admission path", func() error {
		p := pod("probe", true)
		p.Namespace = space
		if err := env.Client.Create(ctx, p, client.DryRunAll); err != nil {
			return err
		}
		if lb.connections(addr) == 0 {
			return errors.New("the API server has not called the webhook yet")
		}
		return nil
	})

	before := overloadRejections(t)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(w.CABundle)
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", webhook.PathMutatePod, len(validReview))
	for i := 0; i < o.Serving.MaxInFlight; i++ {
		conn, err := tls.DialWithDialer(&netDialer, "tcp", addr, &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	p := pod("overloaded", true)
	p.Namespace = space
	if err := env.Client.Create(ctx, p); err != nil {
		t.Fatalf("labelled create during a short overload: %v", err)
	}
	took := time.Since(start)
	if len(p.Spec.Volumes) == 0 {
		t.Errorf("created without the mTLS mounts")
	}
	if n := overloadRejections(t) - before; n == 0 || took < time.Second {
		t.Errorf("the create took %s with %v overload answers: want it answered 429 first, then retried after Retry-After", took, n)
	} else {
		t.Logf("created after %s and %v overload answers", took.Round(time.Millisecond), n)
	}
}

func overloadRejections(t *testing.T) float64 {
	t.Helper()
	v, err := counterSum("aigw_mtls_requests_rejected_total", "reason", "overload")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// budgetWaits is how many requests waited for room in the body budget, whatever the outcome.
func budgetWaits(t *testing.T) float64 {
	t.Helper()
	v, err := counterSum("aigw_mtls_body_budget_waits_total", "", "")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// counterSum adds up the series of counter name in the process's metrics registry, those with
// label=value when label is set.
func counterSum(name, label, value string) (float64, error) {
	mfs, err := crmetrics.Registry.Gather()
	if err != nil {
		return 0, err
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" || slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == label && l.GetValue() == value }) {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total, nil
}

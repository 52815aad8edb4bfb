package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/checker"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
)

// runProbe shows the live TLS probe (check --probe): a stand-in for aigw (Go crypto/tls, as aigw
// serves: its server certificate, client certificates required from internal-ca) on a
// non-loopback address of this machine, which the API server accepts in the aigw Service's
// EndpointSlice. A healthy hop; then the server certificate is renewed and aigw does not reload;
// then aigw restarts.
func runProbe(ctx context.Context, c client.Client, objs []*unstructured.Unstructured, issued map[string]*harness.Issued) error {
	ip, err := hostAddress()
	if err != nil {
		heading("The live TLS probe (check --probe): not shown, " + err.Error())
		return nil
	}
	server := issued[ns+"/aigw-server-tls"]
	var ca corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "internal-ca"}, &ca); err != nil {
		return err
	}
	if server == nil {
		return errors.New("the chart issued no aigw-server-tls")
	}
	clientCAs := x509.NewCertPool()
	if !clientCAs.AppendCertsFromPEM(ca.Data["ca.crt"]) {
		return errors.New("internal-ca holds no CA")
	}
	loaded, err := tls.X509KeyPair(server.CertPEM, server.KeyPEM)
	if err != nil {
		return err
	}
	var serving atomic.Pointer[tls.Certificate]
	serving.Store(&loaded)
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() {
		_ = srv.Serve(tls.NewListener(ln, &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return serving.Load(), nil }}))
	}()
	defer srv.Close()

	port := int32(ln.Addr().(*net.TCPAddr).Port)
	name, proto, ready := "https", corev1.ProtocolTCP, true
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "aigw-demo", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: "aigw"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Protocol: &proto, Port: &port}},
	}
	if err := c.Create(ctx, slice); err != nil {
		return err
	}
	heading(fmt.Sprintf("The live TLS probe: a stand-in for aigw at %s (the aigw Service's EndpointSlice), serving aigw-server-tls and requiring client certificates from internal-ca", ln.Addr()))
	heading("aigw-mtls-webhook check -n ai-gateway --probe: a healthy hop")
	if err := probeReport(ctx, c, false); err != nil {
		return err
	}

	crt, err := serverCertificate(objs)
	if err != nil {
		return err
	}
	caSecret, _, _ := unstructured.NestedString(find(objs, "Issuer", crt.Spec.IssuerRef.Name), "spec", "ca", "secretName")
	if issued[ns+"/"+caSecret] == nil {
		return fmt.Errorf("Issuer %s: no CA issued", crt.Spec.IssuerRef.Name)
	}
	renewed, err := harness.Issue(crt, issued[ns+"/"+caSecret])
	if err != nil {
		return err
	}
	var sec corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "aigw-server-tls"}, &sec); err != nil {
		return err
	}
	sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey] = renewed.CertPEM, renewed.KeyPEM
	if err := c.Update(ctx, &sec); err != nil {
		return err
	}
	heading("cert-manager renews aigw-server-tls; aigw does not reload (restart on renewal is opt-in): check --probe names it")
	if err := probeReport(ctx, c, true); err != nil {
		return err
	}

	next, err := tls.X509KeyPair(renewed.CertPEM, renewed.KeyPEM)
	if err != nil {
		return err
	}
	serving.Store(&next)
	heading("The fix: kubectl rollout restart deployment/aigw (aigw loads the renewed certificate); check --probe again")
	return probeReport(ctx, c, false)
}

// probeReport runs check --probe on the demo's namespace and prints its Probe lines.
func probeReport(ctx context.Context, c client.Client, wantFailed bool) error {
	o := checker.DefaultOptions()
	o.Namespace = ns
	o.Probe.Enabled = true
	report, err := checker.Run(ctx, c, o)
	if err != nil {
		return err
	}
	failed := false
	for _, ch := range report.Checks {
		if ch.Section != checker.SectionProbe {
			continue
		}
		mark := map[checker.Status]string{checker.StatusOK: "✓", checker.StatusWarning: "⚠", checker.StatusError: "✗"}[ch.Status]
		fmt.Printf("  %s %s: %s\n", mark, ch.Object, ch.Message)
		if ch.Fix != "" && ch.Status != checker.StatusOK {
			fmt.Printf("      fix: %s\n", ch.Fix)
		}
		failed = failed || ch.Status == checker.StatusError
	}
	if failed != wantFailed {
		return fmt.Errorf("the probe found the hop failed=%v, expected %v", failed, wantFailed)
	}
	return nil
}

// serverCertificate is the chart's cert-manager Certificate of aigw-server-tls.
func serverCertificate(objs []*unstructured.Unstructured) (*cmapi.Certificate, error) {
	for _, o := range objs {
		if o.GetKind() != "Certificate" || o.GetNamespace() != ns {
			continue
		}
		var crt cmapi.Certificate
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &crt); err != nil {
			return nil, err
		}
		if crt.Spec.SecretName == "aigw-server-tls" {
			return &crt, nil
		}
	}
	return nil, errors.New("the chart renders no Certificate for aigw-server-tls")
}

// find is the object of kind and name in the demo's namespace among objs (nil: none).
func find(objs []*unstructured.Unstructured, kind, name string) map[string]any {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetNamespace() == ns && o.GetName() == name {
			return o.Object
		}
	}
	return nil
}

// hostAddress is a non-loopback IPv4 address of this machine: the API server refuses loopback
// addresses in an EndpointSlice.
func hostAddress() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String(), nil
		}
	}
	return "", errors.New("this machine has no non-loopback IPv4 address for the stand-in")
}

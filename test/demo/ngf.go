package main

import (
	"context"
	"fmt"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
)

// runNGF is the same hop through NGINX Gateway Fabric: the BackendTLSPolicy (NGF's form of
// tls.enable, sslName and trustedCertSecret) and the Gateway's backend client certificate (NGF's
// form of tlsSecret), admitted through the webhook.
func runNGF(ctx context.Context, c client.Client) error {
	heading("NGINX Gateway Fabric: the same hop with Gateway API. The CA sync also keeps ConfigMap internal-ca (ca.crt), the form a BackendTLSPolicy references")
	deadline := time.Now().Add(30 * time.Second)
	var cm corev1.ConfigMap
	for {
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "internal-ca"}, &cm)
		if err == nil && cm.Data["ca.crt"] != "" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the CA sync did not write ConfigMap internal-ca: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("  ConfigMap %s/internal-ca: ca.crt (%d bytes), labels %v\n", ns, len(cm.Data["ca.crt"]), cm.Labels)

	btp := &unstructured.Unstructured{}
	if err := load("aigw-backendtlspolicy.yaml", &btp.Object); err != nil {
		return err
	}
	if err := admit(ctx, c, btp, "aigw-backendtlspolicy.yaml"); err != nil {
		return err
	}
	heading("BackendTLSPolicy ai-gateway/aigw-mtls after admission: hostname and caCertificateRefs added; the hostname passes nginx's host check, the CA issues the server certificate")
	printYAML(map[string]any{"metadata": map[string]any{"annotations": btp.GetAnnotations()}, "spec": btp.Object["spec"]})

	gw := &unstructured.Unstructured{}
	if err := load("aigw-gateway.yaml", &gw.Object); err != nil {
		return err
	}
	if err := admit(ctx, c, gw, "aigw-gateway.yaml"); err != nil {
		return err
	}
	heading("Gateway ai-gateway/aigw admitted: its backend client certificate allows client auth and chains to the CA aigw trusts")
	route := &unstructured.Unstructured{}
	if err := load("aigw-httproute.yaml", &route.Object); err != nil {
		return err
	}
	if err := admit(ctx, c, route, "aigw-httproute.yaml"); err != nil {
		return err
	}

	heading("A BackendTLSPolicy whose hostname the server certificate does not cover is refused, with the names that would match")
	bad := btp.DeepCopy()
	bad.SetName("aigw-mtls-typo")
	bad.SetResourceVersion("")
	bad.SetAnnotations(nil)
	_ = unstructured.SetNestedField(bad.Object, "aigw.ai-gateway.svc.cluster", "spec", "validation", "hostname")
	if err := c.Create(ctx, bad); err == nil {
		return fmt.Errorf("the BackendTLSPolicy with a wrong hostname was admitted")
	} else {
		fmt.Println(err)
	}

	heading("A BackendTLSPolicy whose CA did not issue the server certificate is refused")
	other, err := harness.Issue(otherCA(), nil)
	if err != nil {
		return err
	}
	if err := c.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "other-ca", Namespace: ns, Labels: map[string]string{"aigw": "mtls"}},
		Data:       map[string]string{"ca.crt": string(other.CertPEM)},
	}); err != nil {
		return err
	}
	wrongCA := btp.DeepCopy()
	wrongCA.SetName("aigw-mtls-other-ca")
	wrongCA.SetResourceVersion("")
	wrongCA.SetAnnotations(nil)
	_ = unstructured.SetNestedSlice(wrongCA.Object, []any{map[string]any{"group": "", "kind": "ConfigMap", "name": "other-ca"}}, "spec", "validation", "caCertificateRefs")
	// The webhook's cache sees the new ConfigMap within moments.
	deadline = time.Now().Add(30 * time.Second)
	for {
		err := c.Create(ctx, wrongCA.DeepCopy())
		if err != nil {
			fmt.Println(err)
			break
		}
		_ = c.Delete(ctx, wrongCA)
		if time.Now().After(deadline) {
			return fmt.Errorf("the BackendTLSPolicy with another CA was admitted")
		}
		time.Sleep(200 * time.Millisecond)
	}

	heading("A Gateway without a backend client certificate is refused: aigw would refuse NGF's connections")
	noCert := gw.DeepCopy()
	noCert.SetName("aigw-no-client-cert")
	noCert.SetResourceVersion("")
	unstructured.RemoveNestedField(noCert.Object, "spec", "tls")
	if err := c.Create(ctx, noCert); err == nil {
		return fmt.Errorf("the Gateway without a client certificate was admitted")
	} else {
		fmt.Println(err)
	}
	return nil
}

// otherCA is a self-signed CA of its own (CN=Other CA).
func otherCA() *cmapi.Certificate {
	crt, _, _ := harness.SeedCertificates(ns)
	crt.Name, crt.Spec.SecretName, crt.Spec.CommonName = "other-ca", "other-ca", "Other CA"
	return crt
}

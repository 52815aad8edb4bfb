package harness

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/cert-manager/cert-manager/pkg/util/pki"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Issued is a certificate issued the way cert-manager's SelfSigned and CA issuers do, with its key.
type Issued struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte // the certificate, then the issuer's chain when the issuer is not a root
	KeyPEM  []byte
	CAPEM   []byte // the issuing CA (the certificate itself when self-signed)
}

// Issue signs crt's spec with issuer's key, or self-signs it when issuer is nil. It stands in for
// the cert-manager controller, which cannot run here, using cert-manager's own pki package.
func Issue(crt *cmapi.Certificate, issuer *Issued) (*Issued, error) {
	key, err := pki.GeneratePrivateKeyForCertificate(crt)
	if err != nil {
		return nil, err
	}
	tmpl, err := pki.CertificateTemplateFromCertificate(crt)
	if err != nil {
		return nil, err
	}
	signerCert, signerKey := tmpl, crypto.Signer(key)
	if issuer != nil {
		signerCert, signerKey = issuer.Cert, issuer.Key
	}
	certPEM, cert, err := pki.SignCertificate(tmpl, signerCert, key.Public(), signerKey)
	if err != nil {
		return nil, fmt.Errorf("signing %s: %w", crt.Name, err)
	}
	keyPEM, err := pki.EncodePKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	out := &Issued{Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM, CAPEM: certPEM}
	if issuer != nil {
		out.CAPEM = issuer.CAPEM
		if string(issuer.CertPEM) != string(issuer.CAPEM) {
			out.CertPEM = append(append([]byte{}, certPEM...), issuer.CertPEM...)
		}
	}
	return out, nil
}

// Secret is what cert-manager writes for crt: type kubernetes.io/tls with tls.crt, tls.key and
// ca.crt, carrying the labels and annotations of spec.secretTemplate.
func (i *Issued) Secret(crt *cmapi.Certificate) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:        crt.Spec.SecretName,
			Namespace:   crt.Namespace,
			Annotations: map[string]string{cmapi.CertificateNameKey: crt.Name},
		},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: i.CertPEM, corev1.TLSPrivateKeyKey: i.KeyPEM, "ca.crt": i.CAPEM},
	}
	if t := crt.Spec.SecretTemplate; t != nil {
		s.Labels = t.Labels
		for k, v := range t.Annotations {
			s.Annotations[k] = v
		}
	}
	return s
}

// SeedCertificates are the walkthrough's three certificates as cert-manager Certificates in
// namespace: the internal CA (secret aigw-ca), the aigw server certificate and NIC's client
// certificate, all with secretTemplate label aigw=mtls.
func SeedCertificates(namespace string) (ca, server, client *cmapi.Certificate) {
	labelled := &cmapi.CertificateSecretTemplate{Labels: map[string]string{"aigw": "mtls"}}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"aigw": "mtls"}}
	}
	year := &metav1.Duration{Duration: 365 * 24 * time.Hour}
	ca = &cmapi.Certificate{ObjectMeta: meta("aigw-ca"), Spec: cmapi.CertificateSpec{
		IsCA: true, CommonName: "Internal CA", SecretName: "aigw-ca", SecretTemplate: labelled, Duration: year,
		PrivateKey: &cmapi.CertificatePrivateKey{Algorithm: cmapi.ECDSAKeyAlgorithm, Size: 256},
		IssuerRef:  cmmeta.IssuerReference{Name: "aigw-selfsigned"},
	}}
	server = &cmapi.Certificate{ObjectMeta: meta("aigw-server"), Spec: cmapi.CertificateSpec{
		SecretName: "aigw-server-tls", SecretTemplate: labelled, Duration: year,
		DNSNames:   []string{"aigw." + namespace + ".svc.cluster.local", "aigw." + namespace + ".svc"},
		Usages:     []cmapi.KeyUsage{cmapi.UsageServerAuth, cmapi.UsageDigitalSignature, cmapi.UsageKeyEncipherment},
		PrivateKey: &cmapi.CertificatePrivateKey{Algorithm: cmapi.ECDSAKeyAlgorithm, Size: 256},
		IssuerRef:  cmmeta.IssuerReference{Name: "aigw-ca-issuer"},
	}}
	client = &cmapi.Certificate{ObjectMeta: meta("aigw-nic-client"), Spec: cmapi.CertificateSpec{
		SecretName: "aigw-nic-client-tls", SecretTemplate: labelled, Duration: year, CommonName: "nginx-ingress-client",
		Usages:     []cmapi.KeyUsage{cmapi.UsageClientAuth, cmapi.UsageDigitalSignature, cmapi.UsageKeyEncipherment},
		PrivateKey: &cmapi.CertificatePrivateKey{Algorithm: cmapi.ECDSAKeyAlgorithm, Size: 256},
		IssuerRef:  cmmeta.IssuerReference{Name: "aigw-ca-issuer"},
	}}
	return ca, server, client
}

package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/tools"
)

// HelmBinary is $HELM, else the helm `make helm` builds into bin/, else helm on the PATH.
func HelmBinary() (string, error) { return tools.Helm.Path() }

// LocalControlPlane is the chart's networkPolicy.webhookFrom for the API server these tests start:
// it calls webhooks from loopback.
var LocalControlPlane = []string{"--set", "networkPolicy.webhookFrom[0].ipBlock.cidr=127.0.0.1/32"}

// RenderChart renders charts/aigw-mtls-webhook with helm template, with LocalControlPlane and args.
func RenderChart(release, namespace string, args ...string) ([]*unstructured.Unstructured, error) {
	helm, err := HelmBinary()
	if err != nil {
		return nil, err
	}
	// A helm built by go install assumes Kubernetes 1.20, below the chart's kubeVersion.
	args = append(append(append([]string{}, LocalControlPlane...), "--kube-version", K8sVersion), args...)
	cmd := exec.Command(helm, append([]string{"template", release, filepath.Join(RepoRoot(), "charts", "aigw-mtls-webhook"), "--namespace", namespace}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helm template: %v\n%s", err, stderr.String())
	}
	return DecodeYAML(out)
}

// DecodeYAML splits YAML documents into objects.
func DecodeYAML(text []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(text)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, err
		}
		if string(j) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			return nil, err
		}
		objs = append(objs, u)
	}
}

// IssueCertificates issues every cert-manager Certificate among objs as cert-manager would,
// following issuerRef to the SelfSigned and CA Issuers among objs, and returns the Secrets
// cert-manager would write.
func IssueCertificates(objs []*unstructured.Unstructured) (map[string]*Issued, []client.Object, error) {
	issuers := map[string]cmapi.Issuer{}
	var certs []*cmapi.Certificate
	for _, o := range objs {
		switch o.GetKind() {
		case "Issuer":
			var i cmapi.Issuer
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &i); err != nil {
				return nil, nil, err
			}
			issuers[i.Namespace+"/"+i.Name] = i
		case "Certificate":
			var c cmapi.Certificate
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &c); err != nil {
				return nil, nil, err
			}
			certs = append(certs, &c)
		}
	}
	issued := map[string]*Issued{}
	var secrets []client.Object
	for len(secrets) < len(certs) {
		progress := false
		for _, c := range certs {
			key := c.Namespace + "/" + c.Spec.SecretName
			if issued[key] != nil {
				continue
			}
			iss, ok := issuers[c.Namespace+"/"+c.Spec.IssuerRef.Name]
			if !ok {
				return nil, nil, fmt.Errorf("Certificate %s/%s: Issuer %s not among the objects", c.Namespace, c.Name, c.Spec.IssuerRef.Name)
			}
			var by *Issued
			switch {
			case iss.Spec.SelfSigned != nil:
			case iss.Spec.CA != nil:
				if by = issued[c.Namespace+"/"+iss.Spec.CA.SecretName]; by == nil {
					continue // its CA is not issued yet
				}
			default:
				return nil, nil, fmt.Errorf("Issuer %s: only SelfSigned and CA issuers are supported", iss.Name)
			}
			i, err := Issue(c, by)
			if err != nil {
				return nil, nil, err
			}
			issued[key] = i
			secrets = append(secrets, i.Secret(c))
			progress = true
		}
		if !progress {
			return nil, nil, errors.New("the Certificates cannot all be issued (issuer cycle or missing CA)")
		}
	}
	return issued, secrets, nil
}

// PointWebhooksAt rewrites the clientConfig of every webhook in the rendered webhook
// configurations to url + its service path and caBundle, keeping everything else (selectors,
// rules, failurePolicy), and writes them to the API server.
func PointWebhooksAt(ctx context.Context, c client.Client, objs []*unstructured.Unstructured, url string, caBundle []byte) error {
	m, v, err := webhookConfigurations(objs)
	if err != nil {
		return err
	}
	for i := range m.Webhooks {
		if m.Webhooks[i].ClientConfig, err = pointClientConfig(m.Webhooks[i].ClientConfig, url, caBundle); err != nil {
			return err
		}
	}
	for i := range v.Webhooks {
		if v.Webhooks[i].ClientConfig, err = pointClientConfig(v.Webhooks[i].ClientConfig, url, caBundle); err != nil {
			return err
		}
	}
	if err := upsert(ctx, c, m, &admissionregistrationv1.MutatingWebhookConfiguration{}); err != nil {
		return err
	}
	return upsert(ctx, c, v, &admissionregistrationv1.ValidatingWebhookConfiguration{})
}

// webhookConfigurations are the one mutating and the one validating configuration among objs.
func webhookConfigurations(objs []*unstructured.Unstructured) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	var m *admissionregistrationv1.MutatingWebhookConfiguration
	var v *admissionregistrationv1.ValidatingWebhookConfiguration
	for _, o := range objs {
		switch o.GetKind() {
		case "MutatingWebhookConfiguration":
			m = &admissionregistrationv1.MutatingWebhookConfiguration{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, m); err != nil {
				return nil, nil, err
			}
		case "ValidatingWebhookConfiguration":
			v = &admissionregistrationv1.ValidatingWebhookConfiguration{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, v); err != nil {
				return nil, nil, err
			}
		}
	}
	if m == nil || v == nil {
		return nil, nil, errors.New("the rendering holds no mutating or no validating webhook configuration")
	}
	return m, v, nil
}

// pointClientConfig calls url + the service path of cfg, trusting caBundle.
func pointClientConfig(cfg admissionregistrationv1.WebhookClientConfig, url string, caBundle []byte) (admissionregistrationv1.WebhookClientConfig, error) {
	if cfg.Service == nil || cfg.Service.Path == nil {
		return cfg, fmt.Errorf("clientConfig without a service path: %+v", cfg)
	}
	u := url + *cfg.Service.Path
	return admissionregistrationv1.WebhookClientConfig{URL: &u, CABundle: caBundle}, nil
}

// upsert creates obj, or updates the live object of the same name with it.
func upsert(ctx context.Context, c client.Client, obj, live client.Object) error {
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), live); err != nil {
		return c.Create(ctx, obj)
	}
	obj.SetResourceVersion(live.GetResourceVersion())
	return c.Update(ctx, obj)
}

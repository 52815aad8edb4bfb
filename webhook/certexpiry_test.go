package webhook

import (
	"encoding/pem"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
)

// The expiry series are bounded: past the bound, the Secrets first in namespace/name order keep
// their series and the rest are counted, so a tenant writing labelled Secrets cannot grow every
// scrape (pure unit test: the collector over a fake reader).
func TestCertificateExpirySeriesBounded(t *testing.T) {
	crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSignedServing(t).Certificate[0]})
	var objs []client.Object
	for _, ns := range []string{"team-b", "team-a"} {
		for i := range 3 {
			objs = append(objs, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s%d", i), Namespace: ns, Labels: map[string]string{"aigw": "mtls"}},
				Type:       corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": crt}})
		}
	}
	objs = append(objs, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "unlabelled", Namespace: "team-a"}, Data: map[string][]byte{"tls.crt": crt}})
	// Labelled Secrets without the key, first in namespace/name order, take no series slot.
	for i := range 5 {
		objs = append(objs, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("empty-%d", i), Namespace: "aaa", Labels: map[string]string{"aigw": "mtls"}},
			Data: map[string][]byte{"other": []byte("x")}})
	}
	reader := fake.NewClientBuilder().WithObjects(objs...).Build()

	c := &certExpiryCollector{}
	c.watch(reader, aigw.DefaultSettings(), 4)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	want := `
# HELP aigw_mtls_certificate_expiry_series_omitted Labelled Secrets with no aigw_mtls_certificate_expiry_timestamp_seconds series because there are more than --max-expiry-series of them (the first in namespace/name order have one).
# TYPE aigw_mtls_certificate_expiry_series_omitted gauge
aigw_mtls_certificate_expiry_series_omitted 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "aigw_mtls_certificate_expiry_series_omitted"); err != nil {
		t.Error(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		if mf.GetName() != "aigw_mtls_certificate_expiry_timestamp_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got = append(got, labels["namespace"]+"/"+labels["secret"])
		}
	}
	if strings.Join(got, ",") != "team-a/s0,team-a/s1,team-a/s2,team-b/s0" {
		t.Errorf("expiry series for %v, want the first 4 labelled Secrets in namespace/name order", got)
	}

	c.watch(reader, aigw.DefaultSettings(), DefaultExpirySeries)
	if n := testutil.CollectAndCount(c, "aigw_mtls_certificate_expiry_timestamp_seconds"); n != 6 {
		t.Errorf("%d expiry series within the bound, want one per labelled Secret (6)", n)
	}
}

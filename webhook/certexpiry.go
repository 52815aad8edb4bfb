package webhook

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/certs"
)

// certExpiryDesc: when the certificates of the labelled Secrets expire, read from the informer
// cache at each scrape (so a deleted Secret leaves no stale series).
var certExpiryDesc = prometheus.NewDesc("aigw_mtls_certificate_expiry_timestamp_seconds",
	"Expiry (notAfter, Unix seconds) of the certificates in the Secrets labelled with the selector: "+
		"key tls.crt is the Secret's own certificate (aigw server, NIC client, cert-manager's CA), "+
		"key ca.crt of the nginx.org/ca bundle its latest-expiring CA.",
	[]string{"namespace", "secret", "key"}, nil)

// certExpiryOmittedDesc: how many labelled Secrets the expiry series leave out, past the bound.
var certExpiryOmittedDesc = prometheus.NewDesc("aigw_mtls_certificate_expiry_series_omitted",
	"Labelled Secrets with no aigw_mtls_certificate_expiry_timestamp_seconds series because there are more "+
		"than --max-expiry-series of them (the first in namespace/name order have one).",
	nil, nil)

// DefaultExpirySeries bounds the expiry series one scrape exports: a series per labelled Secret
// lets anyone who may write one in a served namespace grow every scrape, and each one parses its
// certificates. 4096 single-certificate Secrets fit in the parse cache (certs.CacheBytes at about
// 3.5 KiB an entry), so a scrape within the bound parses nothing twice.
const DefaultExpirySeries = 4096

type certExpiryCollector struct {
	source atomic.Pointer[certExpirySource]
}

type certExpirySource struct {
	reader   client.Reader
	settings aigw.Settings
	max      int
}

var certExpiry = &certExpiryCollector{}

func init() { metrics.Registry.MustRegister(certExpiry) }

// watch makes the collector read the labelled Secrets from reader, exporting at most max series
// (the last manager built wins).
func (c *certExpiryCollector) watch(reader client.Reader, s aigw.Settings, max int) {
	c.source.Store(&certExpirySource{reader: reader, settings: s, max: max})
}

func (c *certExpiryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- certExpiryDesc
	ch <- certExpiryOmittedDesc
}

func (c *certExpiryCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.source.Load()
	if src == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var l corev1.SecretList
	// Read only: the cache's objects are not copied for each scrape.
	if err := src.reader.List(ctx, &l, client.MatchingLabels{src.settings.SelectorKey: src.settings.SelectorValue}, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	// Only Secrets with the key take part in the bound: others would use up series slots.
	items := slices.DeleteFunc(l.Items, func(s corev1.Secret) bool { _, ok := s.Data[expiryKey(s, src.settings)]; return !ok })
	omitted := 0
	if len(items) > src.max {
		slices.SortFunc(items, func(a, b corev1.Secret) int {
			return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
		})
		omitted = len(items) - src.max
		items = items[:src.max]
	}
	ch <- prometheus.MustNewConstMetric(certExpiryOmittedDesc, prometheus.GaugeValue, float64(omitted))
	for _, s := range items {
		key := expiryKey(s, src.settings)
		memo := ""
		if s.ResourceVersion != "" {
			memo = s.Namespace + "/" + s.Name + "/" + key + "@" + s.ResourceVersion
		}
		list, err := certs.ParseCached(memo, s.Data[key])
		if err != nil || len(list) == 0 {
			continue
		}
		// A leaf's notAfter is its own; a CA bundle's the latest of its CAs.
		c := list[0]
		if key != corev1.TLSCertKey {
			c = certs.Latest(list)
		}
		ch <- prometheus.MustNewConstMetric(certExpiryDesc, prometheus.GaugeValue, float64(c.NotAfter.Unix()), s.Namespace, s.Name, key)
	}
}

// expiryKey is the key whose certificates the expiry series reports: the CA bundle's of an
// nginx.org/ca Secret, else tls.crt.
func expiryKey(s corev1.Secret, settings aigw.Settings) string {
	if s.Type == "nginx.org/ca" {
		return settings.CAKey
	}
	return corev1.TLSCertKey
}

package harness

import (
	"slices"
	"testing"
)

func TestPromQLNames(t *testing.T) {
	for _, c := range []struct {
		expr            string
		metrics, labels []string
	}{
		{`up`, []string{"up"}, nil},
		{`sum by (kind, webhook) (rate(aigw_mtls_admissions_total{outcome="denied"}[5m]))`,
			[]string{"aigw_mtls_admissions_total"}, []string{"kind", "webhook", "outcome"}},
		{`histogram_quantile(0.99, sum by (webhook, le) (rate(controller_runtime_webhook_latency_seconds_bucket[5m])))`,
			[]string{"controller_runtime_webhook_latency_seconds_bucket"}, []string{"webhook", "le"}},
		{`count(max by (namespace, policy) (aigw_mtls_policy_problems) > 0) or vector(0)`,
			[]string{"aigw_mtls_policy_problems"}, []string{"namespace", "policy"}},
		{`min by (namespace, secret, key) (x) - time()`, []string{"x"}, []string{"namespace", "secret", "key"}},
		{`sum(a{b=~"c|d", e!="f,g}"}) without (h) / on (i) group_left (j) k offset 5m`,
			[]string{"a", "k"}, []string{"b", "e", "h", "i", "j"}},
		{`{__name__=~"a|b", outcome="error"} > bool 1e3 and x:rate5m[1h:5m]`,
			[]string{"x:rate5m"}, []string{"outcome"}},
		{`SUM BY (a) (b) # c{d="e"}`, []string{"b"}, []string{"a"}},
		{`a{b='it\'s'} unless Inf < NaN`, []string{"a"}, []string{"b"}},
	} {
		m, l, err := PromQLNames(c.expr)
		if err != nil || !slices.Equal(m, c.metrics) || !slices.Equal(l, c.labels) {
			t.Errorf("%s: want metrics %q labels %q, got %q %q %v", c.expr, c.metrics, c.labels, m, l, err)
		}
	}
	for _, expr := range []string{
		`label_replace(up, "x", "$1", "instance", "(.*)")`,
		`rate(x[$__rate_interval])`,
		`{"http.requests"}`,
		`a{b="c}`,
	} {
		if m, l, err := PromQLNames(expr); err == nil {
			t.Errorf("%s: want refused, got %q %q", expr, m, l)
		}
	}
}

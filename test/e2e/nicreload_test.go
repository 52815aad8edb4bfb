package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

// annotationTrail polls a ConfigMap's CA-bundle annotation every 50ms and records each value it
// takes, with when it was first seen.
type annotationTrail struct {
	values []string
	seen   []time.Time
	stop   chan struct{}
	done   chan struct{}
}

func followAnnotation(key client.ObjectKey) *annotationTrail {
	a := &annotationTrail{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		last := "\x00"
		for {
			var cm corev1.ConfigMap
			if err := env.Client.Get(context.Background(), key, &cm); err == nil {
				if v := cm.Annotations[aigw.AnnotationCABundle]; v != last {
					a.values, a.seen, last = append(a.values, v), append(a.seen, time.Now()), v
				}
			}
			select {
			case <-a.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return a
}

func (a *annotationTrail) snapshot() ([]string, []time.Time) {
	close(a.stop)
	<-a.done
	return a.values, a.seen
}

// waitBundle polls the CA sync's Secret until its bundle is want.
func waitBundle(t *testing.T, key client.ObjectKey, want []byte) {
	t.Helper()
	eventually(t, "the CA sync writes the new bundle", func() error {
		var s corev1.Secret
		if err := env.Client.Get(context.Background(), key, &s); err != nil {
			return err
		}
		if string(s.Data["ca.crt"]) != string(want) {
			return fmt.Errorf("%s holds another bundle", key)
		}
		return nil
	})
}

// After the CA sync changes a bundle, NIC's ConfigMap gets a new annotation once, no sooner than
// the delay; nothing happens while the reload is not configured, nor for a write that leaves the
// bundle as it was. The webhooks started here have their own CA sync source and target names, so
// no other test's CA sync moves the digest.
func TestNICReloadAfterCABundleChange(t *testing.T) {
	ctx := context.Background()
	const nicNS, space, delay = "nic-reload-nginx", "nic-reload-aigw", 2 * time.Second
	newNamespace(t, nicNS)
	newNamespace(t, space)
	nicCM := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx-ingress", Namespace: nicNS, Annotations: map[string]string{"team": "edge"}},
		Data:       map[string]string{"ssl-protocols": "TLSv1.3"},
	}
	if err := env.Client.Create(ctx, nicCM); err != nil {
		t.Fatal(err)
	}
	o := webhook.DefaultOptions()
	o.CASyncSource = "nic-reload-ca"
	o.Settings.CASecret = "nic-reload-internal-ca"
	target := client.ObjectKey{Namespace: space, Name: o.Settings.CASecret}
	firstCA, src := issueCA(t, space, 365*24*time.Hour)
	src.Name = o.CASyncSource

	// Not configured: the CA sync runs, the ConfigMap is left alone.
	off, err := harness.StartWebhook(env.Config, o)
	if err != nil {
		t.Fatal(err)
	}
	trail := followAnnotation(client.ObjectKeyFromObject(nicCM))
	if err := env.Client.Create(ctx, src); err != nil {
		t.Fatal(err)
	}
	waitBundle(t, target, firstCA.CertPEM)
	time.Sleep(2 * delay)
	if err := off.Stop(); err != nil {
		t.Fatal(err)
	}
	if values, _ := trail.snapshot(); len(values) != 1 || values[0] != "" {
		t.Fatalf("reload not configured: the ConfigMap's annotation took the values %q", values)
	}

	o.NICConfigMap, o.NICReloadDelay = nicNS+"/nginx-ingress", delay
	// Lower bounds, so the timing assertions need no tolerance: nothing can be seen before them.
	started := time.Now()
	on, err := harness.StartWebhook(env.Config, o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = on.Stop() }()
	trail = followAnnotation(client.ObjectKeyFromObject(nicCM))
	// Enabled with a bundle already in place: one annotation, after the delay.
	eventually(t, "the first annotation", func() error {
		var cm corev1.ConfigMap
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(nicCM), &cm); err != nil {
			return err
		}
		if cm.Annotations[aigw.AnnotationCABundle] == "" {
			return fmt.Errorf("not annotated yet")
		}
		return nil
	})
	if d := time.Since(started); d < delay {
		t.Errorf("annotated %s after the reload started, before the %s delay", d, delay)
	}

	// cert-manager rotates the CA: the CA sync writes the new bundle; the annotation follows once.
	newCA, rotated := issueCA(t, space, 365*24*time.Hour)
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(src), src); err != nil {
		t.Fatal(err)
	}
	src.Data = rotated.Data
	rotating := time.Now()
	if err := env.Client.Update(ctx, src); err != nil {
		t.Fatal(err)
	}
	waitBundle(t, target, append(append([]byte{}, newCA.CertPEM...), firstCA.CertPEM...))
	time.Sleep(2*delay + time.Second)

	// A write that leaves the bundle as it is (a label on the CA sync's Secret) changes nothing.
	var s corev1.Secret
	if err := env.Client.Get(ctx, target, &s); err != nil {
		t.Fatal(err)
	}
	s.Labels["touched"] = "yes"
	if err := env.Client.Update(ctx, &s); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * delay)

	values, seen := trail.snapshot()
	if len(values) != 3 || values[0] != "" || values[1] == "" || values[2] == "" || values[1] == values[2] {
		t.Fatalf("annotation values %q: want none, then one per bundle (the one found, the rotated one)", values)
	}
	if d := seen[2].Sub(rotating); d < delay {
		t.Errorf("annotated %s after the CA rotation, want at least the %s delay", d, delay)
	}
	var cm corev1.ConfigMap
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(nicCM), &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Annotations["team"] != "edge" || cm.Data["ssl-protocols"] != "TLSv1.3" {
		t.Errorf("the ConfigMap lost what it held: annotations %v data %v", cm.Annotations, cm.Data)
	}
	evs, err := kube.EventsV1().Events(nicNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs.Items {
		if e.Reason == "CABundleChanged" && e.Regarding.Name == "nginx-ingress" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d CABundleChanged events, want 2", n)
	}
}

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
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
	t.Parallel() // waits on timers, in namespaces of its own (main_test.go, "Parallel tests")
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
	o.NICReloadMinInterval = 0 // this test follows each change; TestNICReloadCoalescesChanges the interval
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

// nicConfigMap creates NIC's main ConfigMap in namespace and returns its key.
func nicConfigMap(t *testing.T, namespace string) client.ObjectKey {
	t.Helper()
	newNamespace(t, namespace)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "nginx-ingress", Namespace: namespace}}
	if err := env.Client.Create(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	return client.ObjectKeyFromObject(cm)
}

// annotationOf polls NIC's ConfigMap until it carries the CA-bundle annotation, and returns it.
func annotationOf(t *testing.T, key client.ObjectKey) string {
	t.Helper()
	var v string
	eventually(t, "the CA-bundle annotation on "+key.String(), func() error {
		var cm corev1.ConfigMap
		if err := env.Client.Get(context.Background(), key, &cm); err != nil {
			return err
		}
		if v = cm.Annotations[aigw.AnnotationCABundle]; v == "" {
			return fmt.Errorf("not annotated yet")
		}
		return nil
	})
	return v
}

// A tenant copies the CA sync's Secret into a namespace of their own, with its annotations and
// ownerReference, and updates it again and again: NIC's ConfigMap does not move, neither when the
// CA sync is limited to its namespaces nor when it runs in every namespace (the ownerReference
// then names a source UID that does not exist in the tenant's namespace).
func TestNICReloadIgnoresForgedCABundles(t *testing.T) {
	t.Parallel() // waits on timers, in namespaces of its own (main_test.go, "Parallel tests")
	ctx := context.Background()
	const space, tenant = "nic-forge-aigw", "nic-forge-tenant"
	nicCM := nicConfigMap(t, "nic-forge-nginx")
	newNamespace(t, space)
	newNamespace(t, tenant)
	o := webhook.DefaultOptions()
	o.CASyncSource, o.Settings.CASecret = "nic-forge-ca", "nic-forge-internal-ca"
	o.NICConfigMap, o.NICReloadDelay = nicCM.String(), 200*time.Millisecond
	o.NICReloadMinInterval = 0 // every counted change would show
	ca, src := issueCA(t, space, 365*24*time.Hour)
	src.Name = o.CASyncSource
	if err := env.Client.Create(ctx, src); err != nil {
		t.Fatal(err)
	}
	var forged *corev1.Secret
	for i, namespaces := range [][]string{{space}, {"*"}} {
		o.CASyncNamespaces = namespaces
		w, err := harness.StartWebhook(env.Config, o)
		if err != nil {
			t.Fatal(err)
		}
		ownKey := client.ObjectKey{Namespace: space, Name: o.Settings.CASecret}
		waitBundle(t, ownKey, ca.CertPEM)
		before := annotationOf(t, nicCM)
		if i == 0 {
			var s corev1.Secret
			if err := env.Client.Get(ctx, ownKey, &s); err != nil {
				t.Fatal(err)
			}
			forged = &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: tenant, Labels: s.Labels, Annotations: s.Annotations, OwnerReferences: s.OwnerReferences},
				Type:       s.Type,
				Data:       s.Data,
			}
			if err := env.Client.Create(ctx, forged); err != nil {
				t.Fatal(err)
			}
		}
		trail := followAnnotation(nicCM)
		for n := 0; n < 10; n++ {
			other, _ := issueCA(t, tenant, time.Hour)
			forged.Data = map[string][]byte{"ca.crt": other.CertPEM}
			if err := env.Client.Update(ctx, forged); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * o.NICReloadDelay)
		}
		time.Sleep(5 * o.NICReloadDelay)
		values, _ := trail.snapshot()
		if err := w.Stop(); err != nil {
			t.Fatal(err)
		}
		if len(values) != 1 || values[0] != before {
			t.Errorf("CA sync namespaces %v: 10 updates of a forged %s/%s moved NIC's ConfigMap annotation %q → %q", namespaces, tenant, o.Settings.CASecret, before, values)
		}
	}
}

// bundleDigest is the NIC reload's digest of one CA sync Secret holding bundle.
func bundleDigest(ref string, bundle []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00", ref, len(bundle))
	h.Write(bundle)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:32]
}

// Ten CA changes in a row, each one past the delay, annotate NIC's ConfigMap once or twice within
// the minimum interval (once more for each further interval the changes took), not ten times; the
// last annotation names the last bundle.
func TestNICReloadCoalescesChanges(t *testing.T) {
	t.Parallel() // waits on timers, in namespaces of its own (main_test.go, "Parallel tests")
	ctx := context.Background()
	// Longer than the ten changes take, even on a loaded machine.
	const space, minInterval = "nic-coalesce-aigw", 30 * time.Second
	nicCM := nicConfigMap(t, "nic-coalesce-nginx")
	newNamespace(t, space)
	o := webhook.DefaultOptions()
	o.CASyncSource, o.Settings.CASecret, o.CASyncNamespaces = "nic-coalesce-ca", "nic-coalesce-internal-ca", []string{space}
	o.NICConfigMap, o.NICReloadDelay, o.NICReloadMinInterval = nicCM.String(), 200*time.Millisecond, minInterval
	ca, src := issueCA(t, space, 365*24*time.Hour)
	src.Name = o.CASyncSource
	if err := env.Client.Create(ctx, src); err != nil {
		t.Fatal(err)
	}
	w, err := harness.StartWebhook(env.Config, o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	target := client.ObjectKey{Namespace: space, Name: o.Settings.CASecret}
	waitBundle(t, target, ca.CertPEM)
	first := annotationOf(t, nicCM)
	trail := followAnnotation(nicCM)
	var bundle []byte
	changing := time.Now()
	for n := 0; n < 10; n++ {
		next, rotated := issueCA(t, space, 365*24*time.Hour)
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(src), src); err != nil {
			t.Fatal(err)
		}
		src.Data = rotated.Data
		if err := env.Client.Update(ctx, src); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the CA sync writes the new CA", func() error {
			var s corev1.Secret
			if err := env.Client.Get(ctx, target, &s); err != nil {
				return err
			}
			if !strings.HasPrefix(string(s.Data["ca.crt"]), string(next.CertPEM)) {
				return fmt.Errorf("%s does not start with the new CA yet", target)
			}
			bundle = s.Data["ca.crt"]
			return nil
		})
		time.Sleep(2 * o.NICReloadDelay) // past the delay: without the interval, each change annotates
	}
	// On a loaded machine the ten changes may outlast the interval: each further interval they took
	// allows one more annotation, never one per change.
	took := time.Since(changing)
	most := 3 + int(took/minInterval)
	last := bundleDigest(target.String(), bundle)
	for deadline := time.Now().Add(minInterval + 20*time.Second); ; time.Sleep(100 * time.Millisecond) {
		var cm corev1.ConfigMap
		if err := env.Client.Get(ctx, nicCM, &cm); err != nil {
			t.Fatal(err)
		}
		if cm.Annotations[aigw.AnnotationCABundle] == last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("annotation %q, want the last bundle's %q", cm.Annotations[aigw.AnnotationCABundle], last)
		}
	}
	time.Sleep(2 * o.NICReloadDelay)
	values, _ := trail.snapshot()
	if len(values) < 2 || len(values) > most || values[0] != first || values[len(values)-1] != last {
		t.Errorf("annotation values %q after 10 changes in %s: want %q, then 1 to %d annotations ending with %q", values, took.Round(time.Second), first, most-1, last)
	}
}

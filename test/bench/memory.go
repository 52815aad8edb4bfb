package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// memory reads the RSS of the real `serve` process once its informer cache has synced (/readyz)
// and a settle period has passed: with no extra Secrets, with c.secrets unlabelled 2 KiB Secrets
// in the API server, and with c.labelled labelled 2 KiB Secrets on top. Only labelled Secrets
// enter the cache (label selector on the list/watch), so the unlabelled ones should cost nothing.
func (b *bench) memory() error {
	c := b.cfg
	type state struct {
		name      string
		rss, heap []float64 // MiB
	}
	measure := func(name string) (*state, error) {
		s := &state{name: name}
		for i := 0; i < c.memRuns; i++ {
			p, err := b.startServe("mem-"+name, "")
			if err != nil {
				return nil, err
			}
			time.Sleep(c.settle)
			kib, err := rssKiB(p.pid())
			if err != nil {
				return nil, err
			}
			heap := scrape(p.metrics, "go_memstats_heap_inuse_bytes")
			p.stop()
			s.rss = append(s.rss, float64(kib)/1024)
			s.heap = append(s.heap, heap/(1<<20))
			logf("memory %-10s run %d: RSS %.1f MiB, heap in use %.1f MiB", name, i, float64(kib)/1024, heap/(1<<20))
		}
		return s, nil
	}
	logf("memory: %d unlabelled and %d labelled 2 KiB Secrets, %d runs per state, settle %s", c.secrets, c.labelled, c.memRuns, c.settle)
	none, err := measure("none")
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := b.createSecrets("bench-unlabelled", c.secrets, false); err != nil {
		return err
	}
	logf("created %d unlabelled Secrets in %s", c.secrets, time.Since(t0).Round(time.Second))
	unlabelled, err := measure("unlabelled")
	if err != nil {
		return err
	}
	t0 = time.Now()
	if err := b.createSecrets("bench-labelled", c.labelled, true); err != nil {
		return err
	}
	logf("created %d labelled Secrets in %s", c.labelled, time.Since(t0).Round(time.Second))
	labelled, err := measure("labelled")
	if err != nil {
		return err
	}
	for _, s := range []*state{none, unlabelled, labelled} {
		report("memory_rss_"+s.name, round3(median(s.rss)), "MiB")
		report("memory_heap_inuse_"+s.name, round3(median(s.heap)), "MiB")
	}
	report("memory_rss_ratio_unlabelled_vs_none", round3(median(unlabelled.rss)/median(none.rss)), "x")
	report("memory_rss_ratio_labelled_vs_none", round3(median(labelled.rss)/median(none.rss)), "x")
	return nil
}

// createSecrets creates n Opaque Secrets of 2 KiB (random bytes) in a new namespace.
func (b *bench) createSecrets(ns string, n int, labelled bool) error {
	ctx := context.Background()
	if err := b.env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	var labels map[string]string
	if labelled {
		labels = map[string]string{"aigw": "mtls"}
	}
	jobs := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for w := 0; w < 20; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				blob := make([]byte, 2048)
				_, _ = rand.Read(blob)
				s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("blob-%05d", i), Namespace: ns, Labels: labels},
					Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"blob": blob}}
				if _, err := b.kube.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	return nil
}

// scrape returns the value of an unlabelled Prometheus gauge (0 when absent).
func scrape(url, name string) float64 {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, name+" ") {
			v, _ := strconv.ParseFloat(strings.TrimSpace(l[len(name):]), 64)
			return v
		}
	}
	return 0
}

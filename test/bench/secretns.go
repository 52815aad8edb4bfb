package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/kinds"
)

// secretNamespaces compares the two ways serve holds the Secrets of many served namespaces: one
// watch per namespace (--secret-namespaces alone, a Role each) and one cluster-wide watch kept to
// those namespaces (--one-secret-informer). For each size of c.scaleSizes tenants (each a
// namespace with the scale bench's objects), both serve the tenants' namespaces, and it measures:
// the time until serve is ready and has answered a VirtualServer review reading tenant-0's Secrets
// (the Secret informers synced), and the RSS once settled.
func (b *bench) secretNamespaces() error {
	if b.cfg.scaleMemLimit != "" {
		b.serveEnv = append(b.serveEnv, "GOMEMLIMIT="+b.cfg.scaleMemLimit)
	}
	created := 0
	for _, n := range b.cfg.scaleSizes {
		if err := b.createTenants(created, n); err != nil {
			return err
		}
		created = n
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf("tenant-%d", i)
		}
		body, err := vsReview("tenant-0")
		if err != nil {
			return err
		}
		for _, mode := range []struct {
			name  string
			extra []string
		}{
			{"per-namespace", []string{"--secret-namespaces=" + strings.Join(names, ",")}},
			{"one-informer", []string{"--secret-namespaces=" + strings.Join(names, ","), "--one-secret-informer"}},
		} {
			start := time.Now()
			p, err := b.startServe(fmt.Sprintf("secretns-%s-%d", mode.name, n), "", mode.extra...)
			if err != nil {
				return err
			}
			if err := postTo(client(p, 1), p.url+kinds.VirtualServer.ValidatePath(), body); err != nil {
				p.stop()
				return fmt.Errorf("%s: admission review: %w", mode.name, err)
			}
			ready := time.Since(start).Seconds()
			time.Sleep(b.cfg.settle)
			m, err := memStatus(p.pid())
			p.stop()
			if err != nil {
				return err
			}
			logf("secretns %d namespaces, %s: ready and first review in %.2fs, RSS %.1f MiB steady, %.1f MiB peak", n, mode.name, ready, mib(m.rss), mib(m.hwm))
			pre := fmt.Sprintf("secretns_%d_%s_", n, strings.ReplaceAll(mode.name, "-", "_"))
			report(pre+"ready", round3(ready), "s")
			report(pre+"rss_steady", round3(mib(m.rss)), "MiB")
			report(pre+"rss_peak", round3(mib(m.hwm)), "MiB")
		}
	}
	return nil
}

package probe

import (
	"context"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/checker"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/tools"
)

// TestProbeOpenSSLStandIn: the probe against OpenSSL's s_server in the network namespace,
// configured as aigw is (its server certificate, client certificates required from the CA, whose
// name it sends in the CertificateRequest), is ✓; the same server without -Verify asks for no
// client certificate and the probe names it.
func TestProbeOpenSSLStandIn(t *testing.T) {
	openssl := tools.OpenSSL.Need(t)
	n, err := newNetns()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.delete(); err != nil {
			t.Error(err)
		}
	})
	now := time.Now()
	day := 24 * time.Hour
	ca := issue(t, "aigw-ca", nil, true, nil, 0, now.Add(-day), now.Add(365*day))
	nic := issue(t, "nic-client", ca, false, nil, x509.ExtKeyUsageClientAuth, now.Add(-day), now.Add(90*day))
	server := issue(t, "aigw", ca, false, []string{sslName}, x509.ExtKeyUsageServerAuth, now.Add(-day), now.Add(90*day))
	dir := t.TempDir()
	files := map[string][]byte{"server.crt": server.pem(), "server.key": server.keyPEM(t), "ca.crt": ca.pem()}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i, tc := range []struct {
		name string
		args []string
		want []rules.ID
	}{
		{"openssl-verify", []string{"-Verify", "1"}, nil},
		{"openssl-no-verify", nil, []rules.ID{rules.ProbeNoClientCertRequest.ID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := 18443 + i
			addr := net.JoinHostPort(n.ip, strconv.Itoa(port))
			args := append([]string{"netns", "exec", n.name, openssl, "s_server", "-accept", addr, "-cert", filepath.Join(dir, "server.crt"),
				"-key", filepath.Join(dir, "server.key"), "-CAfile", filepath.Join(dir, "ca.crt"), "-www", "-quiet"}, tc.args...)
			srv := exec.Command("ip", args...)
			var out strings.Builder
			srv.Stdout, srv.Stderr = &out, &out
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
			deadline := time.Now().Add(10 * time.Second)
			for {
				c, err := net.DialTimeout("tcp", addr, time.Second)
				if err == nil {
					_ = c.Close()
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("openssl s_server does not listen on %s: %v\n%s", addr, err, out.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
			ctx := context.Background()
			ns := "probe-" + tc.name
			apply(t, ctx, ns, n.ip, port, false, "", ca, nic, server)
			o := checker.DefaultOptions()
			o.Namespace = ns
			o.Probe.Enabled = true
			report, err := checker.Run(ctx, kube, o)
			if err != nil {
				t.Fatal(err)
			}
			var got []rules.ID
			var lines []string
			for _, c := range report.Checks {
				if c.Section == checker.SectionProbe {
					lines = append(lines, string(c.Status)+" "+c.Message)
					if c.Status != checker.StatusOK {
						got = append(got, c.Rule)
					}
				}
			}
			if len(lines) == 0 || !slices.Equal(got, tc.want) {
				t.Fatalf("probe rules %v, want %v; lines:\n%s", got, tc.want, strings.Join(lines, "\n"))
			}
			if tc.want == nil && !strings.Contains(lines[0], "asks for a client certificate from [CN=aigw-ca]") {
				t.Errorf("the ✓ line does not name the CA s_server asks for: %s", lines[0])
			}
			t.Logf("probe:\n%s", strings.Join(lines, "\n"))
		})
	}
}

package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
)

// TestCheckCommandProbe: the real binary's `check --probe` names an aigw that has not reloaded in
// its Probe section and exits 1; without --probe it makes no connection to aigw at all.
func TestCheckCommandProbe(t *testing.T) {
	n, err := newNetns()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.delete(); err != nil {
			t.Error(err)
		}
	})
	dir := t.TempDir()
	binary := filepath.Join(dir, "aigw-mtls-webhook")
	build := exec.Command("go", "build", "-o", binary, "./cmd/aigw-mtls-webhook")
	build.Dir = harness.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: env.Config.Host, CertificateAuthorityData: env.Config.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: env.Config.CertData, ClientKeyData: env.Config.KeyData, Token: env.Config.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}

	now := time.Now()
	day := 24 * time.Hour
	ca := issue(t, "aigw-ca", nil, true, nil, 0, now.Add(-365*day), now.Add(365*day))
	client := issue(t, "nic-client", ca, false, nil, x509.ExtKeyUsageClientAuth, now.Add(-day), now.Add(90*day))
	loaded := issue(t, "aigw", ca, false, []string{sslName}, x509.ExtKeyUsageServerAuth, now.Add(-60*day), now.Add(30*day))
	renewed := issue(t, "aigw", ca, false, []string{sslName}, x509.ExtKeyUsageServerAuth, now.Add(-time.Hour), now.Add(90*day))
	ln, err := n.listen()
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	counted := &countingListener{Listener: ln, n: &conns}
	standIn{served: loaded, clientAuth: tls.RequireAndVerifyClientCert, clientCA: ca, sni: &sniLog{}}.serve(t, counted)
	ns := "probe-cli"
	apply(t, context.Background(), ns, n.ip, ln.Addr().(*net.TCPAddr).Port, false, "", ca, client, renewed)

	run := func(args ...string) (string, int) {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(binary, append([]string{"check", "--kubeconfig", kubeconfig, "--context", "envtest", "-n", ns}, args...)...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		if stderr.Len() > 0 {
			t.Logf("stderr: %s", stderr.String())
		}
		return stdout.String(), cmd.ProcessState.ExitCode()
	}
	out, code := run()
	if strings.Contains(out, "  Probe\n") || conns.Load() != 0 {
		t.Errorf("check without --probe: %d connection(s) to aigw, output:\n%s", conns.Load(), out)
	}
	out, code = run("--probe")
	if code != 1 || !strings.Contains(out, "  Probe\n") || !strings.Contains(out, "✗ Policy/"+ns+"/aigw-mtls: [PROBE_STALE_SERVER_CERT]") || !strings.Contains(out, "it has not reloaded") {
		t.Errorf("check --probe: exit %d, want 1 naming PROBE_STALE_SERVER_CERT under Probe; output:\n%s", code, out)
	}
	if conns.Load() == 0 {
		t.Error("check --probe made no connection to aigw")
	}
}

type countingListener struct {
	net.Listener
	n *atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

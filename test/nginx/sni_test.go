package nginx_test

// Whether nginx sends SNI to aigw, and which, as the probe assumes it (internal/probe/targets.go):
// real nginx with the directives NIC v5.5.4 and NGF v2.6.7 render, in front of a TLS server that
// records the ServerName of each ClientHello.
//
//   - NIC renders proxy_ssl_server_name from egressMTLS.serverName and proxy_ssl_name from sslName
//     (internal/configs/policy.go addEgressMTLSConfig; version2/nginx.virtualserver.tmpl, "with
//     $l.EgressMTLS" and "with $s.EgressMTLS"): off sends none, on sends sslName;
//   - nginx's own default is off (src/http/modules/ngx_http_proxy_module.c
//     ngx_http_proxy_merge_loc_conf), whatever proxy_ssl_name says;
//   - NGF renders proxy_ssl_server_name on and proxy_ssl_name validation.hostname for a valid
//     BackendTLSPolicy (internal/controller/nginx/config/servers_template.go, ngfProxySSLVerify).
//
// The upstream names differ from sslName, so an SNI taken from $proxy_host would show.

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/nginx/nicconf"
	"github.com/aigw-mtls/aigw-mtls-webhook/test/tools"
)

// sniCase is one nginx server in front of its own recording TLS server.
type sniCase struct {
	name     string
	srvDirs  []string // in the server block
	locDirs  []string // in the location
	wantSNI  string   // "": none
	upstream string
	addr     string // the recording TLS server
	port     int    // nginx's
	mu       sync.Mutex
	seen     []string // ServerName of every ClientHello the TLS server got
	status   int
	body     string
}

func (c *sniCase) record(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, name)
}

func (c *sniCase) hellos() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen...)
}

// nicEgressDirectives is what NIC renders at level for an egressMTLS Policy that verifies aigw
// with the CA in caPEM and checks sslName, serverName as given (nicconf.Decide, nicconf.Directives).
func nicEgressDirectives(t *testing.T, dir string, caPEM []byte, serverName bool, level nicconf.Level) []string {
	d := nicconf.Decide(namespace, policyName, nicconf.Spec{EgressMTLS: &nicconf.EgressMTLS{
		TrustedCertSecret: caSecret, VerifyServer: true, Protocols: "TLSv1.2 TLSv1.3", ServerName: serverName, SSLName: aigwHost,
	}}, map[string]nicconf.Secret{caSecret: {Type: nicconf.SecretTypeCA, Data: map[string][]byte{"ca.crt": caPEM}}}, dir)
	if d.Outcome != nicconf.Render {
		t.Fatalf("NIC model: %s", d)
	}
	for path, content := range d.Files {
		writeFile(t, path, content)
	}
	dirs := nicconf.Directives(*d.Config, level, false, dir)
	for i := range dirs {
		dirs[i] += ";"
	}
	return dirs
}

func TestNginxSNIToAigw(t *testing.T) {
	bin := tools.Nginx.Need(t)
	now := time.Now()
	dir := t.TempDir()
	root := issue(t, now, certSpec{cn: "Internal CA", isCA: true, notAfter: now.Add(24 * time.Hour)}, nil)
	server := issue(t, now, certSpec{cn: aigwHost, dns: []string{aigwHost}, eku: serverAuth}, root)
	ca := pemChain(root)
	bundle := filepath.Join(dir, "ngf-ca.crt")
	writeFile(t, bundle, ca)

	const otherName = "aigw.ai-gateway.svc" // not verified here: only what nginx sends counts
	cases := []*sniCase{
		{name: "NIC serverName false (route)", locDirs: nicEgressDirectives(t, dir, ca, false, nicconf.RouteLevel)},
		{name: "NIC serverName true (route)", locDirs: nicEgressDirectives(t, dir, ca, true, nicconf.RouteLevel), wantSNI: aigwHost},
		{name: "NIC serverName true (server)", srvDirs: nicEgressDirectives(t, dir, ca, true, nicconf.ServerLevel), wantSNI: aigwHost},
		{name: "nginx default, proxy_ssl_name set", locDirs: []string{"proxy_ssl_name " + aigwHost + ";"}},
		{name: "NGF BackendTLSPolicy", locDirs: ngfProxySSLVerify(aigwHost, bundle), wantSNI: aigwHost},
		{name: "on, proxy_ssl_name another name", locDirs: []string{"proxy_ssl_server_name on;", "proxy_ssl_name " + otherName + ";"}, wantSNI: otherName},
	}

	kp := tls.Certificate{Certificate: [][]byte{server.der}, PrivateKey: server.key, Leaf: server.x509}
	for i, c := range cases {
		c.upstream = fmt.Sprintf("sni_upstream_%d", i)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c.addr = ln.Addr().String()
		srv := &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, okBody) }),
			TLSConfig: &tls.Config{Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS12,
				GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) { c.record(h.ServerName); return nil, nil }},
			ReadHeaderTimeout: 5 * time.Second,
		}
		go func() { _ = srv.ServeTLS(ln, "", "") }()
		t.Cleanup(func() { _ = srv.Close() })
		c.port = freePort(t)
	}

	var b strings.Builder
	if os.Geteuid() == 0 {
		b.WriteString("user root;\n")
	}
	fmt.Fprintf(&b, `worker_processes 1;
error_log %[1]s/error.log info;
events { worker_connections 64; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/tmp/client_body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
`, dir)
	for _, c := range cases {
		fmt.Fprintf(&b, `
    # %[1]s
    upstream %[2]s {
        server %[3]s;
    }
    server {
        listen 127.0.0.1:%[4]d;
%[5]s        location / {
            proxy_connect_timeout 3s;
            proxy_read_timeout 3s;
            proxy_http_version 1.1;
%[6]s            proxy_pass https://%[2]s;
        }
    }
`, c.name, c.upstream, c.addr, c.port, indent(strings.Join(c.srvDirs, "\n")+"\n", "        "), indent(strings.Join(c.locDirs, "\n")+"\n", "            "))
	}
	b.WriteString("}\n")
	conf := filepath.Join(dir, "nginx.conf")
	writeFile(t, conf, []byte(b.String()))
	if out, err := nginxT(bin, dir, conf); err != nil {
		t.Fatalf("nginx -t: %v\n%s\n%s", err, out, b.String())
	}
	releasePorts()
	stop, err := startNginx(bin, dir, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)

	client := &http.Client{Timeout: 5 * time.Second}
	for _, c := range cases {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", c.port))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		c.status, c.body = resp.StatusCode, string(body)
	}
	stop()

	for _, c := range cases {
		got := c.hellos()
		if c.status != http.StatusOK || c.body != okBody {
			errorLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Errorf("%s: status %d %q, expected the request to reach the TLS server\n%s", c.name, c.status, c.body, tail(string(errorLog), 5))
			continue
		}
		if len(got) == 0 {
			t.Errorf("%s: the TLS server saw no ClientHello", c.name)
			continue
		}
		for _, sni := range got {
			if sni != c.wantSNI {
				t.Errorf("%s: nginx sent SNI %q, expected %q (directives %q %q)", c.name, sni, c.wantSNI, c.srvDirs, c.locDirs)
			}
		}
		t.Logf("%-36s SNI %q", c.name, got[0])
	}
}

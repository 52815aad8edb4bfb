package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/aigw-mtls/aigw-mtls-webhook/webhook"
)

func serve(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := webhook.DefaultOptions()
	sf := bindSettings(fs)
	var kubeconfig, exclude string
	fs.StringVar(&o.CertDir, "cert-dir", o.CertDir, "directory holding the serving tls.crt and tls.key (reloaded when they change)")
	fs.IntVar(&o.Port, "webhook-port", o.Port, "webhook HTTPS port")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", o.MetricsAddr, "Prometheus metrics address (0 disables)")
	fs.StringVar(&o.HealthAddr, "health-probe-bind-address", o.HealthAddr, "health (/healthz) and readiness (/readyz) address")
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig (default: in-cluster config, then $KUBECONFIG)")
	fs.BoolVar(&o.LeaderElect, "leader-elect", false, "elect one replica to run the CA sync and the Policy audit (every replica serves admission)")
	fs.StringVar(&o.Namespace, "leader-election-namespace", os.Getenv("POD_NAMESPACE"), "namespace of the leader-election lease (default $POD_NAMESPACE)")
	fs.StringVar(&o.CASyncSource, "ca-sync-source-secret", o.CASyncSource, "cert-manager CA Secret copied into the nginx.org/ca Secret (--ca-secret) of its namespace; empty disables the CA sync")
	fs.StringVar(&exclude, "exclude-namespaces", strings.Join(o.ExcludeNamespaces, ","), "namespaces never mutated or validated (comma list)")
	zo := zap.Options{}
	zo.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	s, err := sf.settings()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	o.Settings = s
	o.ExcludeNamespaces = splitList(exclude)
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zo)))

	cfg, err := restConfig(kubeconfig)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if err := webhook.Run(ctrl.SetupSignalHandler(), cfg, o); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return ctrl.GetConfig()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

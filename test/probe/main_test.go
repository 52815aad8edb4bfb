// Package probe runs the live TLS probe (check --probe) against stand-ins for aigw: Go crypto/tls
// servers configured as aigw is (its server certificate, client certificates required from a CA),
// listening on an address inside a network namespace the test creates, whose EndpointSlices are
// written on a real kube-apiserver (envtest).
package probe

import (
	"os"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aigw-mtls/aigw-mtls-webhook/test/harness"
)

var (
	kube client.Client
	env  *harness.Env
)

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, "probe end-to-end tests", func(e *harness.Env) (func() error, error) {
		kube, env = e.Client, e
		return func() error { return nil }, nil
	}))
}

package check

import (
	"io"

	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// The webhook served in this process logs through controller-runtime: discarded here (the tests
// assert on answers and objects), and set, so controller-runtime prints no "log.SetLogger(...)
// was never called" stack trace.
func init() { logf.SetLogger(zap.New(zap.WriteTo(io.Discard))) }

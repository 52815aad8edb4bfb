package rules

import (
	"time"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// Rule judges one object: raw is the object, oldRaw the object it replaces (nil on CREATE).
// internal/kinds names each kind's.
type Rule func(raw, oldRaw []byte, namespace string, s aigw.Settings, objs objects.Objects, now time.Time) (Findings, error)

#!/usr/bin/env bash
# Installs promtool (built from the Go module proxy) into bin/ when it is missing, and prints its
# path as the last line. PROMTOOL_VERSION overrides the version (Prometheus v3.x is Go module
# version v0.3xx); GOBIN the install folder.
set -euo pipefail
cd "$(dirname "$0")/.."
PROMTOOL_VERSION="${PROMTOOL_VERSION:-v0.316.0}"
GOBIN="${GOBIN:-$PWD/bin}"
promtool="$GOBIN/promtool"
if [ ! -x "$promtool" ]; then
	echo "building promtool $PROMTOOL_VERSION into $GOBIN (about ten minutes on two cores, once)" >&2
	mkdir -p "$GOBIN"
	GOBIN="$GOBIN" go install "github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_VERSION"
fi
echo "$promtool"

#!/usr/bin/env bash
# Installs helm (built from the Go module proxy) into bin/ when it is missing, and prints its path
# as the last line. HELM_VERSION overrides the version; GOBIN the install folder.
set -euo pipefail
cd "$(dirname "$0")/.."
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
GOBIN="${GOBIN:-$PWD/bin}"
helm="$GOBIN/helm"
# A helm built by `go install` reports only major.minor (v3.22), so the check is for presence.
if [ ! -x "$helm" ]; then
	echo "building helm $HELM_VERSION into $GOBIN (about a minute, once)" >&2
	mkdir -p "$GOBIN"
	GOBIN="$GOBIN" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi
echo "$helm"

#!/usr/bin/env bash
# Installs a Go command (built from the Go module proxy) into bin/ when it is missing, and prints
# its path as the last line: hack/go-install.sh NAME PACKAGE@VERSION "ABOUT HOW LONG".
# $<NAME in upper case> (e.g. KUSTOMIZE) names a binary of your own instead; GOBIN the folder.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: hack/go-install.sh NAME PACKAGE@VERSION [DURATION]}
pkg=${2:?usage: hack/go-install.sh NAME PACKAGE@VERSION [DURATION]}
took=${3:-about a minute}
var=$(echo "$name" | tr '[:lower:]-' '[:upper:]_')
if [ -n "${!var:-}" ]; then
	echo "${!var}"
	exit 0
fi
GOBIN="${GOBIN:-$PWD/bin}"
bin="$GOBIN/$name"
if [ ! -x "$bin" ]; then
	echo "building $name (${pkg#*@}) from the Go module proxy into $GOBIN ($took, once)" >&2
	mkdir -p "$GOBIN"
	GOBIN="$GOBIN" go install "$pkg"
fi
echo "$bin"

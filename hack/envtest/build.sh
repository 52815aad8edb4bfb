#!/usr/bin/env bash
# Builds kube-apiserver and etcd for envtest from the Go module proxy into a cached folder
# and prints that folder as the last line. Reuses binaries already present.
set -euo pipefail
K8S_VERSION=${K8S_VERSION:-1.37.2}
ETCD_VERSION=${ETCD_VERSION:-3.6.16}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${ENVTEST_DIR:-$root/bin/k8s/$K8S_VERSION}
mkdir -p "$out"
work=${ENVTEST_WORK:-$root/bin/.envtest-build}

if [ ! -x "$out/kube-apiserver" ]; then
  echo "building kube-apiserver v$K8S_VERSION for envtest from the Go module proxy into $out (about 5 minutes on 2 cores, once)" >&2
  mkdir -p "$work/kube-apiserver"
  cd "$work/kube-apiserver"
  minor=${K8S_VERSION#*.}; minor=${minor%%.*}
  cat > go.mod <<MOD
module envtest/kube-apiserver

go 1.26
MOD
  go mod edit -require=k8s.io/kubernetes@v$K8S_VERSION
  # k8s.io/kubernetes replaces its staging repos with local paths; point them at the published modules.
  gomod=$(GOFLAGS=-mod=mod go mod download -json k8s.io/kubernetes@v$K8S_VERSION | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  for m in $(sed -n 's#^\s*\(k8s.io/[^ ]*\) => ./staging/src/.*#\1#p' "$gomod"); do
    go mod edit -replace="$m=$m@v0.${K8S_VERSION#*.}"
  done
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
  GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || true
  GOFLAGS=-mod=mod go build -o "$out/kube-apiserver" \
    -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    k8s.io/kubernetes/cmd/kube-apiserver
fi

if [ ! -x "$out/etcd" ]; then
  echo "building etcd v$ETCD_VERSION for envtest from the Go module proxy into $out (about a minute, once)" >&2
  mkdir -p "$work/etcd"
  cd "$work/etcd"
  cat > go.mod <<MOD
module envtest/etcd

go 1.26
MOD
  cat > main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  go mod edit -require=go.etcd.io/etcd/server/v3@v$ETCD_VERSION
  GOFLAGS=-mod=mod go mod tidy >/dev/null
  GOFLAGS=-mod=mod go build -ldflags "-s -w" -o "$out/etcd" .
fi
echo "$out"

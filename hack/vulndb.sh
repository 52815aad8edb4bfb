#!/usr/bin/env bash
# Builds the Go vulnerability database that `make vulncheck` reads, offline, from the OSV entries of
# the golang.org/x/vulndb module (fetched like any module, from the Go module proxy), and prints its
# folder as the last line. Rebuilt only when VULNDB_VERSION changes: bump that pseudo-version
# in the Makefile (newest: `go list -m golang.org/x/vulndb@master`) to take newer vulnerabilities.
# VULNDB_DIR overrides the folder (default bin/vulndb).
set -euo pipefail
cd "$(dirname "$0")/.."
VULNDB_VERSION="${VULNDB_VERSION:?the golang.org/x/vulndb version: make vulncheck sets it (Makefile)}"
out="${VULNDB_DIR:-$PWD/bin/vulndb}"
if [ "$(cat "$out/VERSION" 2>/dev/null)" != "$VULNDB_VERSION" ]; then
	echo "building the vulnerability database from golang.org/x/vulndb@$VULNDB_VERSION into $out (about 25 MB from the Go module proxy, seconds, once)" >&2
	# Outside this module, so the download leaves go.mod and go.sum alone.
	src=$(cd / && GOFLAGS= go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
	[ -d "$src/data/osv" ] || { echo "golang.org/x/vulndb@$VULNDB_VERSION has no data/osv folder" >&2; exit 1; }
	mkdir -p "$(dirname "$out")"
	go run ./hack/vulndb -osv "$src/data/osv" -out "$out"
	echo "$VULNDB_VERSION" > "$out/VERSION"
fi
echo "$out"

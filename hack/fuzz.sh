#!/usr/bin/env bash
# Fuzzes every fuzz target of each package given for $FUZZTIME (default 10s) each:
# hack/fuzz.sh ./patches ./webhook. Each package's instrumented test binary is built once
# (go test -c -fuzz), into a folder of this run's own, rather than relinked for every target, and
# run from the package's folder as go test runs it: seeds from testdata/fuzz, new inputs kept in
# go test's own cache, a failing input written to testdata/fuzz/<target>/, go test's 10m timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
cache=$(go env GOCACHE)/fuzz
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for pkg in "$@"; do
	import=$(go list "$pkg")
	bin=$out/$(basename "$import").test
	go test -c -fuzz . -o "$bin" "$pkg"
	targets=$(cd "$pkg" && "$bin" -test.list '^Fuzz')
	[ -n "$targets" ] || { echo "hack/fuzz.sh: $pkg has no fuzz target" >&2; exit 1; }
	for target in $targets; do
		echo "fuzz $pkg $target for $fuzztime"
		log=$out/fuzz.log
		(cd "$pkg" && "$bin" -test.run '^$' -test.fuzz "^$target\$" -test.fuzztime "$fuzztime" \
			-test.fuzzcachedir "$cache/$import" -test.timeout 10m -test.paniconexit0) 2>&1 | tee "$log"
		# The binary exits 0 when the pattern matches no target.
		if grep -q 'no fuzz tests to fuzz' "$log"; then
			echo "hack/fuzz.sh: $pkg: $target was not fuzzed" >&2
			exit 1
		fi
	done
done

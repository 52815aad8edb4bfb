#!/usr/bin/env bash
# Prints the path of nginx, openssl or promtool as the last line: $NGINX / $OPENSSL / $PROMTOOL when
# set, else the one on the PATH, else one unpacked from Debian's packages into bin/ (apt-get download
# and dpkg-deb -x: no root needed, nothing installed on the system), with the shared libraries it
# lacks beside it. promtool comes from the prometheus package (Prometheus 2.42 in Debian 12).
# AIGW_DEB_TOOLS=1 unpacks from the packages even when the tool is on the PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
tool=${1:?usage: hack/deb-tool.sh nginx|openssl|promtool}
case "$tool" in
nginx) pkgs="nginx" bin=usr/sbin/nginx var=NGINX ;;
openssl) pkgs="openssl" bin=usr/bin/openssl var=OPENSSL ;;
promtool) pkgs="prometheus" bin=usr/bin/promtool var=PROMTOOL ;;
*) echo "hack/deb-tool.sh: unknown tool $tool (nginx, openssl or promtool)" >&2; exit 2 ;;
esac
if [ -n "${!var:-}" ]; then
	[ -x "${!var}" ] || { echo "$var=${!var} is not an executable: point $var at $tool, or unset it to use the one on the PATH (else Debian's package, fetched into bin/)" >&2; exit 1; }
	echo "${!var}"
	exit 0
fi
if [ "${AIGW_DEB_TOOLS:-}" != 1 ] && command -v "$tool" >/dev/null; then
	command -v "$tool"
	exit 0
fi
out=$PWD/bin/$tool
runs() { "$out" -v >/dev/null 2>&1 || "$out" version >/dev/null 2>&1 || "$out" --version >/dev/null 2>&1; }
if [ -x "$out" ] && runs; then
	echo "$out"
	exit 0
fi
root=$PWD/bin/deb/$tool
# Unpacked before (the wrapper alone is missing or stale): only the wrapper is written again.
if [ ! -x "$root/$bin" ]; then
for need in apt-get apt-cache dpkg-deb; do
	command -v "$need" >/dev/null || {
		echo "$tool not found, and $need is missing to fetch it from Debian's packages: install $tool, or set $var=/path/to/$tool" >&2
		exit 1
	}
done

echo "fetching $tool from Debian's packages into bin/ (apt-get download, dpkg-deb -x; 10 to 20 seconds, once)" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Without root, apt reads package lists from a folder of ours, filled by apt-get update when the
# system's lists are empty (a fresh container).
apt=(apt-get -qq)
cache=(apt-cache)
# As root, apt would download as its _apt user, which cannot write to our folder.
[ "$(id -u)" != 0 ] || apt+=(-o APT::Sandbox::User=root)
if [ -z "$(ls /var/lib/apt/lists/ 2>/dev/null | grep _Packages)" ]; then
	if [ "$(id -u)" = 0 ]; then
		apt-get update -qq >&2
	else
		lists=$PWD/bin/deb/apt
		mkdir -p "$lists/lists/partial" "$lists/cache/archives/partial"
		opts=(-o "Dir::State::Lists=$lists/lists" -o "Dir::Cache=$lists/cache" -o Debug::NoLocking=1)
		apt+=("${opts[@]}")
		cache+=("${opts[@]}")
		[ -n "$(ls "$lists/lists" | grep _Packages || true)" ] || "${apt[@]}" update >&2
	fi
fi
download() { (cd "$work" && "${apt[@]}" download "$@" >&2); }
download $pkgs
rm -rf "$root"
mkdir -p "$root"
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$root"; done
rm -f "$work"/*.deb

# Shared libraries the machine lacks come from the packages' own dependencies (libc excepted).
libdirs="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu:$root/usr/lib/aarch64-linux-gnu:$root/lib/aarch64-linux-gnu"
if ldd "$root/$bin" 2>/dev/null | grep -q 'not found'; then
	deps=$("${cache[@]}" depends --no-recommends --no-suggests $pkgs | awk '/ Depends: / {print $2}' | grep -E '^(lib|zlib)' | grep -v '^libc6$' | sort -u)
	echo "$tool lacks $(ldd "$root/$bin" | grep -c 'not found') shared libraries here: fetching $(echo $deps)" >&2
	download $deps
	for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$root"; done
	if LD_LIBRARY_PATH=$libdirs ldd "$root/$bin" | grep 'not found' >&2; then
		echo "$tool still lacks the libraries above: install $tool, or set $var=/path/to/$tool" >&2
		exit 1
	fi
fi
fi
# The wrapper finds the unpacked files beside itself, so bin/ may be moved or linked elsewhere.
cat >"$out" <<SH
#!/bin/sh
# $tool unpacked from Debian's packages by hack/deb-tool.sh
root="\$(cd "\$(dirname "\$0")" && pwd)/deb/$tool"
LD_LIBRARY_PATH="\$root/usr/lib/x86_64-linux-gnu:\$root/lib/x86_64-linux-gnu:\$root/usr/lib/aarch64-linux-gnu:\$root/lib/aarch64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "\$root/$bin" "\$@"
SH
chmod +x "$out"
runs || { echo "$out does not run" >&2; exit 1; }
echo "$out"

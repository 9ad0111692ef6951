#!/usr/bin/env bash
# Builds etcd-grpc-load offline from Debian's packages: golang-go and
# golang-etcd-server-dev (etcd's Go client and its dependencies under
# /usr/share/gocode), in GOPATH mode — nothing is downloaded.
#   bash bench/etcd-grpc-load/build.sh OUT_BINARY
set -euo pipefail
out=${1:?usage: build.sh OUT_BINARY}
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v go >/dev/null || [ ! -d /usr/share/gocode/src/go.etcd.io/etcd/clientv3 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq golang-go golang-etcd-server-dev >/dev/null
fi
gopath=$(mktemp -d /tmp/etcd-grpc-load.XXXXXX)
trap 'rm -rf "$gopath"' EXIT
mkdir -p "$gopath/src/etcd-grpc-load"
cp "$here/main.go" "$gopath/src/etcd-grpc-load/"
mkdir -p "$(dirname "$out")"
cd "$gopath/src/etcd-grpc-load"
GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOFLAGS= GOPROXY=off GOCACHE="$gopath/cache" \
  go build -o "$out" .
echo "built $out"

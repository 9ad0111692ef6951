#!/bin/sh
# Builds the frame decoder's libFuzzer target with clang (ASan + UBSan) in its
# own build directory and runs it for SECONDS (default 60).
#   net/fuzz/run.sh 300
# Needs clang and its runtime (Debian: clang, libclang-rt-14-dev). The corpus
# grows in build-fuzz/frame-corpus; crashes land in build-fuzz/.
set -eu
seconds="${1:-60}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${CORAFT_FUZZ_BUILD_DIR:-$root/build-fuzz}"
jobs="${CORAFT_FUZZ_JOBS:-2}"

launcher=""
if command -v ccache >/dev/null 2>&1; then launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"; fi
cmake -S "$root" -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCORAFT_FUZZ=ON -DCORAFT_BUILD_TESTS=OFF -DCORAFT_BUILD_BENCH=OFF $launcher >/dev/null
# Builds share the machine: take the same lock as every other build.
if command -v flock >/dev/null 2>&1; then
  flock "${CORAFT_BUILD_LOCK:-/tmp/coraft-build.lock}" cmake --build "$build" -j"$jobs" --target frame_fuzz
else
  cmake --build "$build" -j"$jobs" --target frame_fuzz
fi

corpus="$build/frame-corpus"
mkdir -p "$corpus"
cd "$build"
exec ./net/frame_fuzz -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 "$corpus"

#!/usr/bin/env bash
# Runs every test suite (Zig unit tests, bun test, deno test) and ends with one line
# "N passed, N failed" that counts them all. Exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
BUN=.tools/node_modules/.bin/bun
ZIG="env PYTHONPATH=.tools/zig python3 -m ziglang"
passed=0
failed=0
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

echo "== zig unit tests"
if $ZIG build test --summary all >"$log/zig" 2>&1; then :; fi
cat "$log/zig" | grep -E "tests? passed|pass|fail|error" | tail -5
zp=$(grep -oE '[0-9]+/[0-9]+ tests passed' "$log/zig" | tail -1 | cut -d/ -f1)
zt=$(grep -oE '[0-9]+/[0-9]+ tests passed' "$log/zig" | tail -1 | cut -d/ -f2 | cut -d' ' -f1)
if [ -n "$zp" ]; then passed=$((passed + zp)); failed=$((failed + zt - zp)); else failed=$((failed + 1)); cat "$log/zig"; fi

echo "== bun test"
$BUN test --timeout 120000 test/ 2>&1 | tee "$log/bun"
bp=$(grep -E '^ *[0-9]+ pass$' "$log/bun" | tail -1 | awk '{print $1}')
bf=$(grep -E '^ *[0-9]+ fail$' "$log/bun" | tail -1 | awk '{print $1}')
if [ -n "$bp" ]; then passed=$((passed + bp)); failed=$((failed + ${bf:-0})); else failed=$((failed + 1)); fi

if ls test/deno/*.deno.ts >/dev/null 2>&1; then
  echo "== deno test"
  NO_COLOR=1 .tools/node_modules/.bin/deno test --allow-all --no-check --no-lock test/deno/*.deno.ts 2>&1 | tee "$log/deno"
  dline=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$log/deno" | tail -1)
  dp=$(echo "$dline" | grep -oE '[0-9]+ passed' | awk '{print $1}')
  df=$(echo "$dline" | grep -oE '[0-9]+ failed' | awk '{print $1}')
  if [ -n "$dp" ]; then passed=$((passed + dp)); failed=$((failed + ${df:-0})); else failed=$((failed + 1)); fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

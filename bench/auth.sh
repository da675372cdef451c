#!/usr/bin/env bash
# Access-token verifications per second on one core and argon2id logins per second
# (bench/auth-verify.c). Issue 3 sets >= 50,000 verifications/s as the target.
#   bench/auth.sh [verify_seconds [login_seconds]]
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory MODE=release build/release/libslipway.a >/dev/null
cc -std=c17 -D_GNU_SOURCE -O2 -Iinclude -Isrc bench/auth-verify.c build/release/libslipway.a \
  $(pkg-config --libs jansson libcrypto libargon2) -lpthread -lm -o build/release/auth-verify
taskset -c 0 build/release/auth-verify "${1:-3}" "${2:-3}"

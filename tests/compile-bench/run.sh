#!/usr/bin/env bash
# Compile-time cost of the resolver attributes: 200 resolvers in one `#[Object]` impl, each
#   attributed:   #[require_mfa(max_age = "15m")] #[audited(severity = "high", fields(id))]
#                 (written with their full paths)
#   instrumented: #[tracing::instrument(skip(self))]
#   plain:        no attribute
# Each variant is its own crate in a generated workspace (dependencies built once, shared); the
# time is that of rebuilding the crate alone (`touch src/lib.rs && cargo build`), median of RUNS.
#
# Usage: tests/compile-bench/run.sh [RESOLVERS=200] [RUNS=3]
# Env: CARGO_TARGET_DIR (default: <repo>/target), OUT_DIR (default: a temp dir).
set -euo pipefail

resolvers=${1:-200}
runs=${2:-3}
repo=$(cd "$(dirname "$0")/../.." && pwd)
if [[ -n ${OUT_DIR:-} ]]; then
  out=$OUT_DIR
else
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}

generate() { # name attributes
  local name=$1 attrs=$2 dir=$out/$1
  mkdir -p "$dir/src"
  cat > "$dir/Cargo.toml" <<TOML
[package]
name = "compile-bench-$name"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
rail-graphql-security = { path = "$repo/rail-graphql-security" }
async-graphql = { version = "=7.2.1", default-features = false }
tracing = "0.1"
TOML
  {
    echo '#![allow(missing_docs, clippy::all)]'
    echo 'pub struct Query;'
    echo '#[async_graphql::Object]'
    echo 'impl Query {'
    for i in $(seq 1 "$resolvers"); do
      echo "    $attrs"
      echo "    async fn field_$i(&self, id: i32) -> async_graphql::Result<i32> {"
      echo "        Ok(id + $i)"
      echo '    }'
    done
    echo '}'
  } > "$dir/src/lib.rs"
}

mkdir -p "$out"
cat > "$out/Cargo.toml" <<TOML
[workspace]
resolver = "3"
members = ["attributed", "instrumented", "plain"]
TOML
cp "$repo/Cargo.lock" "$out/Cargo.lock"
generate attributed '#[rail_graphql_security::require_mfa(max_age = "15m")] #[rail_graphql_security::audited(severity = "high", fields(id))]'
generate instrumented '#[tracing::instrument(skip(self))]'
generate plain ''

cd "$out"
echo "building dependencies and each variant once (not timed)..." >&2
if ! cargo build --offline --quiet --workspace; then
  echo "error: the generated crates in $out do not build; see the errors above" >&2
  exit 1
fi

declare -A median
for variant in plain instrumented attributed; do
  times=()
  for _ in $(seq 1 "$runs"); do
    touch "$variant/src/lib.rs"
    start=$(date +%s.%N)
    cargo build --offline --quiet -p "compile-bench-$variant"
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc)")
  done
  median[$variant]=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
  echo "$variant: ${times[*]} s (median ${median[$variant]} s)"
done
echo "attributed / instrumented = $(echo "scale=2; ${median[attributed]} / ${median[instrumented]}" | bc)"
echo "attributed / plain        = $(echo "scale=2; ${median[attributed]} / ${median[plain]}" | bc)"
echo "instrumented / plain      = $(echo "scale=2; ${median[instrumented]} / ${median[plain]}" | bc)"

#!/usr/bin/env bash
# Compile-time cost of the resolver attributes: 200 resolvers in one `#[Object]` impl, each
#   attributed:   #[require_mfa(max_age = "15m")] #[audited(severity = "high", fields(id))]
#                 (written with their full paths)
#   instrumented: #[tracing::instrument(skip(self))]
#   plain:        no attribute
# Each variant is its own crate in a generated workspace (dependencies built once, shared); the
# time is that of rebuilding the crate alone (`touch src/lib.rs && cargo build`), median of RUNS,
# with incremental compilation off: an unchanged file would otherwise reuse most of the previous
# build and hide what the expanded code costs to compile.
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
export CARGO_INCREMENTAL=0

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

# Runs are interleaved (each round builds every variant) so a change in the machine's load hits
# all variants alike. Wall time and CPU time (user + system of cargo and rustc) are both
# recorded; on a shared machine the CPU time is the steadier of the two.
variants=(plain instrumented attributed)
declare -A wall cpu
TIMEFORMAT='%R %U %S'
for _ in $(seq 1 "$runs"); do
  for variant in "${variants[@]}"; do
    touch "$variant/src/lib.rs"
    if ! { time cargo build --offline --quiet -p "compile-bench-$variant"; } 2>"$out/time.txt"; then
      cat "$out/time.txt" >&2
      exit 1
    fi
    read -r real user sys < <(tail -n 1 "$out/time.txt")
    wall[$variant]+="$real "
    cpu[$variant]+="$(echo "$user + $sys" | bc) "
  done
done

median() { printf '%s\n' $1 | sort -n | sed -n "$(( (runs + 1) / 2 ))p"; }
declare -A wall_median cpu_median
for variant in "${variants[@]}"; do
  wall_median[$variant]=$(median "${wall[$variant]}")
  cpu_median[$variant]=$(median "${cpu[$variant]}")
  echo "$variant: wall ${wall[$variant]}s (median ${wall_median[$variant]} s); cpu ${cpu[$variant]}s (median ${cpu_median[$variant]} s)"
done
ratio() { echo "scale=2; $1 / $2" | bc; }
for pair in "attributed instrumented" "attributed plain" "instrumented plain"; do
  read -r a b <<<"$pair"
  printf '%-26s wall %s  cpu %s\n' "$a / $b" "$(ratio "${wall_median[$a]}" "${wall_median[$b]}")" \
    "$(ratio "${cpu_median[$a]}" "${cpu_median[$b]}")"
done

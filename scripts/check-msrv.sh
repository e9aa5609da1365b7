#!/usr/bin/env bash
# MSRV check: the declared `rust-version` must be at least every dependency's own `rust-version`
# (the true minimum: polars' sysinfo needs 1.95), and CI must build with exactly that toolchain
# (the MSRV is what the fmt, clippy and test steps after this one compile with).
set -euo pipefail
cd "$(dirname "$0")/.."
msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
rustc_version=$(rustc --version | awk '{print $2}')
case "$rustc_version" in
  "$msrv" | "$msrv".*) ;;
  *) echo "rustc $rustc_version is not the declared MSRV $msrv: CI must build with the MSRV toolchain" >&2; exit 1 ;;
esac
cargo metadata --format-version 1 --locked | python3 -c '
import json, sys
msrv = tuple(int(x) for x in sys.argv[1].split("."))
meta = json.load(sys.stdin)
used = {n["id"] for n in meta["resolve"]["nodes"]}
late = [(p["name"], p["rust_version"]) for p in meta["packages"]
        if p["id"] in used and p.get("rust_version")
        and tuple(int(x) for x in p["rust_version"].split(".")) > msrv]
if late:
    sys.exit("dependencies need a newer Rust than rust-version = %s: %s" % (sys.argv[1], late))
print("MSRV %s: rustc matches, no dependency needs more" % sys.argv[1])
' "$msrv"

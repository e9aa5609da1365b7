#!/usr/bin/env bash
# Byte-identity check between two liqsim binaries: each builds the default, hadouken-v2 and pippi
# datasets from their scenarios and runs them, into folders of its own; every file of the datasets
# and of the outputs must be byte-identical. Used to show that a refactor changed no behaviour.
#
#   scripts/compare-outputs.sh OLD_LIQSIM NEW_LIQSIM [WORK_DIR]
#
# Exit 0 and "identical: N files" when they agree; otherwise the differing files and exit 1.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OLD_LIQSIM NEW_LIQSIM [WORK_DIR]" >&2; exit 2; }
old=$(realpath "$1")
new=$(realpath "$2")
work=${3:-$(mktemp -d)}
cd "$(dirname "$0")/.."
scenarios=(scenarios/eth-crash.toml scenarios/hadouken-v2.toml scenarios/pippi.toml)
for side in old new; do
  exe=${!side}
  mkdir -p "$work/$side"
  for scenario in "${scenarios[@]}"; do
    name=$(basename "$scenario" .toml)
    echo "== $side: $scenario" >&2
    "$exe" run "$scenario" --datasets "$work/$side/datasets" --out "$work/$side/out/$name" >"$work/$side/$name.stdout"
  done
done
list() { (cd "$work/$1" && find datasets out -type f ! -name .liqsim | LC_ALL=C sort | xargs sha256sum); }
if diff <(list old) <(list new); then
  echo "identical: $(list new | wc -l) files"
else
  echo "outputs differ (sha256 of each file above: < old, > new)" >&2
  exit 1
fi

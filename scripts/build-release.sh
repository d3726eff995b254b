#!/usr/bin/env bash
# Builds the extension package of an earlier release from its git tag (default: the release
# the upgrade test starts from) into target/releases/<tag>/, once; later calls reuse it.
# Debug profile: the package only has to install and run, and shares compiled dependencies
# with `cargo pgrx test`.
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-v0.1.0}
source "$(dirname "$0")/pg.sh"
OUT=$PWD/target/releases/$TAG
if [ -f "$OUT/.built" ]; then
  echo "$OUT"
  exit 0
fi
# A clone without tags still has the commit: fall back to the commit the tag names.
declare -A TAG_COMMITS=([v0.1.0]=84fffc5)
REF=$TAG
if ! git rev-parse -q --verify "$TAG^{commit}" >/dev/null; then
  REF=${TAG_COMMITS[$TAG]:?unknown release $TAG}
fi
SRC=$PWD/target/releases/src-$TAG
rm -rf "$SRC" "$OUT"
mkdir -p "$SRC"
git archive "$REF" | tar -x -C "$SRC"
# git archive stamps files with the commit's time: older than any artifact in the shared target
# directory, so cargo could take a library built from other sources for this one. Stamp them now.
find "$SRC" -type f -exec touch {} +
(cd "$SRC" && CARGO_TARGET_DIR=$PWD/../../../target cargo pgrx package --debug \
    --pg-config "$PG_CONFIG" --out-dir "$OUT" >&2)
touch "$OUT/.built"
echo "$OUT"

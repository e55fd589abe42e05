#!/bin/sh
# Regenerate the protobuf-c code of SmrtChat from the .proto files.
#
#   scripts/gen-proto.sh PROTO_DIR OUT_DIR
#
# protoc-c 1.4.x (Debian bookworm) refuses proto3 `optional` fields ("code generator --c_out
# hasn't been updated to support optional fields in proto3"). A proto3 `optional` field is, by
# definition, a field inside a one-member "synthetic" oneof named `_<field>`; the wire format is
# identical. So this script copies the schemas to a temporary directory, rewrites every
#     optional TYPE NAME = N;
# into
#     oneof _NAME { TYPE NAME = N; }
# (the oneof protoc itself would synthesize) and runs protoc-c on the copy. In C, presence of an
# optional field is then `msg->_NAME_case == <PREFIX>___NAME_NAME` instead of a `has_NAME` flag.
# The .proto files under PROTO_DIR are never modified.
set -eu
PROTO_DIR=$1
OUT_DIR=$2
PROTOC_C=${PROTOC_C:-protoc-c}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
(cd "$PROTO_DIR" && find smrt -name '*.proto' | LC_ALL=C sort) > "$tmp/list"
while read -r f; do
  mkdir -p "$tmp/src/$(dirname "$f")"
  sed -E 's/^([[:space:]]*)optional[[:space:]]+([A-Za-z0-9_.]+)[[:space:]]+([A-Za-z0-9_]+)[[:space:]]*=[[:space:]]*([0-9]+)[[:space:]]*;(.*)$/\1oneof _\3 { \2 \3 = \4; }\5/' \
    "$PROTO_DIR/$f" > "$tmp/src/$f"
  if grep -Eq '^[[:space:]]*optional[[:space:]]' "$tmp/src/$f"; then
    echo "gen-proto.sh: an optional field in $f was not rewritten" >&2
    exit 1
  fi
done < "$tmp/list"
mkdir -p "$tmp/out"
(cd "$tmp/src" && $PROTOC_C -I. --c_out="$tmp/out" $(cat "$tmp/list"))
rm -rf "$OUT_DIR/smrt"
mkdir -p "$OUT_DIR"
cp -R "$tmp/out/smrt" "$OUT_DIR/"

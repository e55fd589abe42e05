#!/usr/bin/env bash
# Regenerates the protobuf Python modules of smrtchat from the repository's proto/ tree.
#   scripts/gen_proto.sh [OUT_DIR]   (default: src/smrtchat/v1)
# protoc writes `from smrt.chat.v1 import x_pb2`; the imports are rewritten to
# `from smrtchat.v1 import x_pb2` so the modules live inside the smrtchat package.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
proto_root="${SMRTCHAT_PROTO_ROOT:-$here/../../proto}"
out="${1:-$here/src/smrtchat/v1}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
protoc -I "$proto_root" --python_out="$tmp" "$proto_root"/smrt/chat/v1/*.proto
mkdir -p "$out"
rm -f "$out"/*_pb2.py
for f in "$tmp"/smrt/chat/v1/*_pb2.py; do
  sed -e 's/^from smrt\.chat\.v1 import /from smrtchat.v1 import /' "$f" > "$out/$(basename "$f")"
done

#!/usr/bin/env bash
# Fails when the committed generated modules differ from what protoc makes of proto/ now.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$here/scripts/gen_proto.sh" "$tmp"
status=0
for f in "$tmp"/*_pb2.py; do
  if ! diff -q "$f" "$here/src/smrtchat/v1/$(basename "$f")" >/dev/null 2>&1; then
    echo "out of date: src/smrtchat/v1/$(basename "$f")"; status=1
  fi
done
for f in "$here"/src/smrtchat/v1/*_pb2.py; do
  [ -e "$tmp/$(basename "$f")" ] || { echo "stale: src/smrtchat/v1/$(basename "$f")"; status=1; }
done
[ $status = 0 ] || echo "generated Python code is out of date with proto/: run 'make -C clients/python proto'"
exit $status

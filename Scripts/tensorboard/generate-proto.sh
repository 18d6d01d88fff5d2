#!/usr/bin/env bash
# Regenerates Sources/CamwatchPublish/TensorBoard/TensorBoardEvent.pb.swift from tensorboard_event.proto.
#
# Needs protoc (Debian: apt-get install protobuf-compiler) and builds protoc-gen-swift from the same
# swift-protobuf release Package.swift depends on, once, into a cache directory outside the repository
# (the first build takes several minutes). The generated file is committed: builds and CI never run this.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
version="${SWIFT_PROTOBUF_VERSION:-1.39.0}"
cache="${CAMWATCH_PROTOC_GEN_SWIFT_CACHE:-$HOME/.cache/camwatch-protoc-gen-swift}/$version"

command -v protoc >/dev/null || { echo "generate-proto.sh: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }

if [ ! -x "$cache/bin/protoc-gen-swift" ]; then
    rm -rf "$cache/src"
    mkdir -p "$cache"
    git clone --quiet --depth 1 --branch "$version" https://github.com/apple/swift-protobuf "$cache/src"
    swift build --package-path "$cache/src" --product protoc-gen-swift
    mkdir -p "$cache/bin"
    cp "$(swift build --package-path "$cache/src" --show-bin-path)/protoc-gen-swift" "$cache/bin/"
fi

out="$root/Sources/CamwatchPublish/TensorBoard"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
protoc --plugin=protoc-gen-swift="$cache/bin/protoc-gen-swift" \
    --proto_path="$here" --swift_out="$work" --swift_opt=Visibility=Internal \
    "$here/tensorboard_event.proto"
cp "$work/tensorboard_event.pb.swift" "$out/TensorBoardEvent.pb.swift"
echo "wrote $out/TensorBoardEvent.pb.swift (protoc $(protoc --version | cut -d' ' -f2), protoc-gen-swift $version)"

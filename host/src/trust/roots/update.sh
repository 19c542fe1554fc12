#!/bin/sh
# Refreshes the embedded trust roots from the `sigstore` package on PyPI (see README.md).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pip download --quiet --no-deps --only-binary=:all: ${1:-sigstore} -d "$tmp"
cd "$tmp" && unzip -q ./*.whl 'sigstore/_store/*'
for name in trusted_root.json root.json; do
    cp "sigstore/_store/https%3A%2F%2Ftuf-repo-cdn.sigstore.dev/$name" "$here/production/"
    cp "sigstore/_store/https%3A%2F%2Ftuf-repo-cdn.sigstage.dev/$name" "$here/staging/"
done
sha256sum ./*.whl "$here"/*/*.json

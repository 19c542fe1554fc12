#!/usr/bin/env bash
# Install Debian packages the tests or benchmarks need, only when their program is missing.
#
# Usage: tests/tools/apt-install.sh PACKAGE:PROGRAM...
#   e.g. tests/tools/apt-install.sh docker-registry:/usr/bin/docker-registry
# Runs `apt-get update` once, and only if at least one PROGRAM is missing, so a machine that
# has everything needs no network. Must run as root (as it does on CI and dev machines here).
set -euo pipefail

missing=()
for spec in "$@"; do
    package=${spec%%:*}
    program=${spec#*:}
    if ! command -v "$program" >/dev/null 2>&1; then
        missing+=("$package")
    fi
done

if ((${#missing[@]} == 0)); then
    exit 0
fi

sudo=()
if ((EUID != 0)); then
    sudo=(sudo)
fi
echo "apt-install: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

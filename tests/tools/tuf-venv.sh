#!/usr/bin/env bash
# Make the Python venv with python-tuf that tests/tools/tuf-repo.py runs in (the TUF
# repositories of the trust-root tests). Idempotent: nothing happens when the pinned versions
# are already there.
#
# Usage: tests/tools/tuf-venv.sh [VENV_DIR]   (default: <repo>/target/tools/tuf-venv)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=${1:-$here/../../target/tools/tuf-venv}
# python-tuf's metadata API; securesystemslib's [crypto] extra (pyca/cryptography) makes the
# ECDSA P-256 keys Sigstore's repositories use.
packages=(tuf==7.0.1 securesystemslib[crypto]==1.6.0 cryptography==50.0.2)

if [[ -x $venv/bin/python ]] && "$venv/bin/python" -c \
    'import importlib.metadata as m, sys; sys.exit(m.version("tuf") != "7.0.1")' 2>/dev/null; then
    exit 0
fi
# Debian splits venv support (ensurepip) into python3-venv.
if ! python3 -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    "$here/apt-install.sh" python3-venv:/nonexistent-python3-venv-marker
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}"
echo "tuf-venv: python-tuf ready in $venv"

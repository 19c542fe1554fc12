#!/usr/bin/env bash
# Fetch the independent signers/verifiers the end-to-end tests drive: cosign 2.5 and skopeo 1.18
# with sigstore support, from Debian 13 "trixie". Debian 12's skopeo (1.9) is built with sigstore
# disabled and Debian 12 has no cosign, so the tests use trixie's packages.
#
# Nothing is installed system-wide: the .debs are downloaded with a private apt state (own
# sources list, lists, cache and dpkg status under $TOOLS/apt) and unpacked with `dpkg-deb -x`
# into $TOOLS/trixie. cosign (Go, needs only glibc >= 2.34) runs on Debian 12 as it is; skopeo
# needs trixie's glibc and is started through its loader by tests/tools/skopeo.
#
# Usage: tests/tools/fetch-signers.sh [TOOLS_DIR]   (default: <repo>/target/tools)
# Leaves TOOLS_DIR/cosign and TOOLS_DIR/skopeo (symlinks) and does nothing when both already run.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
tools=${1:-$repo/target/tools}
mkdir -p "$tools"
tools=$(cd "$tools" && pwd)
root=$tools/trixie
apt_state=$tools/apt

# The versions the tests were written against; a different minor version fails loudly here
# rather than as a puzzling test failure.
want_cosign=2.5
want_skopeo=1.18

# Debian's cosign build reports "GitVersion: devel", so the package versions are recorded in
# $root/VERSIONS when unpacking, and checked together with a run of each tool.
have_tools() {
    [[ -x $tools/cosign && -x $tools/skopeo && -r $root/VERSIONS ]] || return 1
    grep -q "^cosign $want_cosign\." "$root/VERSIONS" || return 1
    grep -q "^skopeo $want_skopeo\." "$root/VERSIONS" || return 1
    "$tools/cosign" version >/dev/null 2>&1 || return 1
    "$tools/skopeo" --version 2>/dev/null | grep -q "version $want_skopeo\." || return 1
}

link_tools() {
    ln -sfn "$root/usr/bin/cosign" "$tools/cosign"
    ln -sfn "$here/skopeo" "$tools/skopeo"
}

if have_tools; then
    echo "fetch-signers: cosign $want_cosign and skopeo $want_skopeo already in $tools"
    exit 0
fi

# Use the Debian mirror this machine's apt already uses, with the suite changed to trixie.
mirror=${MIRROR:-}
if [[ -z $mirror ]]; then
    mirror=$(sed -n 's/^URIs:[[:space:]]*\(http[^[:space:]]*\/debian\/\?\)[[:space:]]*$/\1/p' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 || true)
fi
if [[ -z $mirror && -r /etc/apt/sources.list ]]; then
    mirror=$(awk '$1 == "deb" && $0 !~ /security/ {
        for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\/.*\/debian\/?$/) { print $i; exit } }' \
        /etc/apt/sources.list)
fi
if [[ -z $mirror ]]; then
    echo "fetch-signers: no Debian mirror found in /etc/apt; set MIRROR=<uri>" >&2
    exit 1
fi

mkdir -p "$apt_state"/{lists/partial,cache/archives/partial,preferences.d,debs} "$root"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" \
    >"$apt_state/sources.list"
: >"$apt_state/status"
apt_opts=(
    -o "Dir::Etc::sourcelist=$apt_state/sources.list"
    -o "Dir::Etc::sourceparts=-"
    -o "Dir::Etc::preferencesparts=$apt_state/preferences.d"
    -o "Dir::State::Lists=$apt_state/lists"
    -o "Dir::State::status=$apt_state/status"
    -o "Dir::Cache=$apt_state/cache"
    -o "APT::Sandbox::User=root"
)

echo "fetch-signers: downloading cosign, skopeo and skopeo's runtime libraries from trixie ($mirror)"
apt-get "${apt_opts[@]}" -qq update
rm -f "$apt_state"/debs/*.deb
# skopeo's shared libraries: glibc 2.41 (and its loader), gpgme and what gpgme links, sqlite.
(cd "$apt_state/debs" && apt-get "${apt_opts[@]}" -qq download \
    cosign skopeo libc6 libgpgme11t64 libassuan9 libgpg-error0 libsqlite3-0)

rm -f "$root/VERSIONS"
for deb in "$apt_state"/debs/*.deb; do
    dpkg-deb -x "$deb" "$root"
    dpkg-deb --show --showformat='${Package} ${Version}\n' "$deb" >>"$root/VERSIONS"
done
link_tools

if ! have_tools; then
    echo "fetch-signers: unpacked tools do not report cosign $want_cosign / skopeo $want_skopeo:" >&2
    "$tools/cosign" version >&2 || true
    "$tools/skopeo" --version >&2 || true
    exit 1
fi
echo "fetch-signers: cosign and skopeo ready in $tools"

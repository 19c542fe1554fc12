#!/usr/bin/env bash
# Fetch the independent signers/verifiers the end-to-end tests drive:
#   - cosign 2.5 and skopeo 1.18 with sigstore support, from Debian 13 "trixie" (Debian 12's
#     skopeo 1.9 is built with sigstore disabled and Debian 12 has no cosign);
#   - cosign 3.1 from Debian "sid": it writes Sigstore bundles as OCI referrers by default;
#   - containerd 2.1 (with ctr) from Debian "sid": it runs image verifiers at pull time.
#
# Nothing is installed system-wide: the .debs are downloaded with a private apt state per suite
# (own sources list, lists, cache and dpkg status under $TOOLS/apt-<suite>) and unpacked with
# `dpkg-deb -x` into $TOOLS/<suite>. cosign (Go, needs only glibc >= 2.34) runs on Debian 12 as
# it is; skopeo needs trixie's glibc and is started through its loader by tests/tools/skopeo.
#
# Usage: tests/tools/fetch-signers.sh [TOOLS_DIR]   (default: <repo>/target/tools)
# Leaves TOOLS_DIR/cosign (2.5), TOOLS_DIR/cosign3 (3.1), TOOLS_DIR/skopeo, TOOLS_DIR/containerd
# and TOOLS_DIR/ctr (2.1) (symlinks) and
# downloads nothing for a suite whose tools already run.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
tools=${1:-$repo/target/tools}
mkdir -p "$tools"
tools=$(cd "$tools" && pwd)

# The versions the tests were written against; a different minor version fails loudly here
# rather than as a puzzling test failure. Debian's cosign build reports "GitVersion: devel", so
# the package versions are recorded in <suite>/VERSIONS when unpacking, and checked together
# with a run of each tool.
want_cosign=2.5
want_skopeo=1.18
want_cosign3=3.1
want_containerd=2.1

# "<suite> <package> <version prefix>": the suite's VERSIONS file names that package version.
has_version() {
    grep -q "^$2 $3\." "$tools/$1/VERSIONS" 2>/dev/null
}

have_trixie() {
    [[ -x $tools/cosign && -x $tools/skopeo ]] || return 1
    has_version trixie cosign "$want_cosign" && has_version trixie skopeo "$want_skopeo" || return 1
    "$tools/cosign" version >/dev/null 2>&1 || return 1
    "$tools/skopeo" --version 2>/dev/null | grep -q "version $want_skopeo\." || return 1
}

have_sid() {
    [[ -x $tools/cosign3 && -x $tools/containerd && -x $tools/ctr ]] || return 1
    has_version sid cosign "$want_cosign3" && has_version sid containerd "$want_containerd" \
        || return 1
    "$tools/cosign3" version >/dev/null 2>&1 || return 1
    "$tools/containerd" --version 2>/dev/null | grep -q " v\?$want_containerd\." || return 1
}

# Use the Debian mirror this machine's apt already uses, with the suite changed.
find_mirror() {
    local mirror=${MIRROR:-}
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
        return 1
    fi
    echo "$mirror"
}

# fetch SUITE PACKAGE...: download the packages from SUITE and unpack them into $tools/SUITE.
fetch() {
    local suite=$1 mirror
    shift
    mirror=$(find_mirror)
    local root=$tools/$suite apt_state=$tools/apt-$suite
    mkdir -p "$apt_state"/{lists/partial,cache/archives/partial,preferences.d,debs} "$root"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" \
        >"$apt_state/sources.list"
    : >"$apt_state/status"
    local apt_opts=(
        -o "Dir::Etc::sourcelist=$apt_state/sources.list"
        -o "Dir::Etc::sourceparts=-"
        -o "Dir::Etc::preferencesparts=$apt_state/preferences.d"
        -o "Dir::State::Lists=$apt_state/lists"
        -o "Dir::State::status=$apt_state/status"
        -o "Dir::Cache=$apt_state/cache"
        -o "APT::Sandbox::User=root"
    )
    echo "fetch-signers: downloading $* from $suite ($mirror)"
    apt-get "${apt_opts[@]}" -qq update
    rm -f "$apt_state"/debs/*.deb
    (cd "$apt_state/debs" && apt-get "${apt_opts[@]}" -qq download "$@")
    rm -f "$root/VERSIONS"
    local deb
    for deb in "$apt_state"/debs/*.deb; do
        dpkg-deb -x "$deb" "$root"
        dpkg-deb --show --showformat='${Package} ${Version}\n' "$deb" >>"$root/VERSIONS"
    done
}

if have_trixie; then
    echo "fetch-signers: cosign $want_cosign and skopeo $want_skopeo already in $tools"
else
    # skopeo's shared libraries: glibc 2.41 (and its loader), gpgme and what gpgme links, sqlite.
    fetch trixie cosign skopeo libc6 libgpgme11t64 libassuan9 libgpg-error0 libsqlite3-0
    ln -sfn "$tools/trixie/usr/bin/cosign" "$tools/cosign"
    ln -sfn "$here/skopeo" "$tools/skopeo"
fi

if have_sid; then
    echo "fetch-signers: cosign $want_cosign3 and containerd $want_containerd already in $tools"
else
    fetch sid cosign containerd
    ln -sfn "$tools/sid/usr/bin/cosign" "$tools/cosign3"
    ln -sfn "$tools/sid/usr/bin/containerd" "$tools/containerd"
    ln -sfn "$tools/sid/usr/bin/ctr" "$tools/ctr"
fi

if ! have_trixie || ! have_sid; then
    echo "fetch-signers: unpacked tools do not report cosign $want_cosign / skopeo" \
        "$want_skopeo / cosign $want_cosign3 / containerd $want_containerd:" >&2
    cat "$tools"/{trixie,sid}/VERSIONS >&2 || true
    exit 1
fi
echo "fetch-signers: cosign $want_cosign, skopeo $want_skopeo, cosign $want_cosign3 and" \
    "containerd $want_containerd ready in $tools"

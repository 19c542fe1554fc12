#!/bin/sh
# Regenerates the RFC 3161 vectors in this directory (README.md says what each file is): a
# test CA issuing two TSAs (ECDSA P-384, RSA-3072), an unrelated untrusted CA and TSA, and
# `openssl ts` responses over the signatures of two conformance bundles, read in place from
# $SIGWARD_CONFORMANCE_DIR (default ../shared/conformance beside the repo). Run from anywhere.
#
# Needs openssl, python3 (to read the bundles) and faketime: `openssl ts -reply` stamps the
# clock's time, and a keyless bundle's verified times must all fall inside its leaf
# certificate's ten minutes, so the responses are made with the clock set inside them.
set -eu
# A relative SIGWARD_CONFORMANCE_DIR is relative to where make.sh was started.
conformance=$(cd "${SIGWARD_CONFORMANCE_DIR:-$(dirname "$0")/../../../../../shared/conformance}" && pwd)
cd "$(dirname "$0")"
command -v faketime >/dev/null || {
  echo "make.sh: needs faketime (Debian: apt-get install faketime)" >&2
  exit 1
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
TSA_SERIAL=$tmp/serial; export TSA_SERIAL; echo 01 > "$TSA_SERIAL"
export TZ=UTC

# The CAs date from 2023 and last twenty years, the TSAs from 2024 and last ten: each TSA
# certificate lies within its CA's validity, and both cover the bundles' times.
CA_ISSUED='2023-01-01 00:00:00'
TSA_ISSUED='2024-01-01 00:00:00'
# Inside the leaf validity of rekor2-timestamp-with-embedded-cert (18:51:36 to 19:01:36).
REKOR2_TIME='2025-08-06 18:55:00'
# Inside the leaf validity of happy-path-v0.3 (2024-03-19 17:26:26 to 17:36:26).
V03_TIME='2024-03-19 17:30:00'

key() { # out, genpkey args
  out=$1; shift
  quiet openssl genpkey "$@" -out "$out"
}
ca() { # name, subject
  quiet faketime "$CA_ISSUED" openssl req -x509 -new -config openssl-ts.cnf -extensions ca_ext \
    -key "$1.key" -subj "$2" -days 7305 -sha384 -out "$1.pem"
}
tsa() { # name, subject, issuer
  openssl req -new -config openssl-ts.cnf -key "$1.key" -subj "$2" -out "$tmp/$1.csr"
  quiet faketime "$TSA_ISSUED" openssl x509 -req -in "$tmp/$1.csr" -CA "$3.pem" -CAkey "$3.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha384 \
    -extfile openssl-ts.cnf -extensions tsa_ext -out "$1.pem"
}
signature() { # bundle case, out: the bundle's messageSignature.signature, decoded
  python3 - "$conformance/bundle-verify/$1/bundle.sigstore.json" "$2" <<'PY'
import base64, json, sys
with open(sys.argv[1]) as bundle:
    signature = json.load(bundle)["messageSignature"]["signature"]
with open(sys.argv[2], "wb") as out:
    out.write(base64.b64decode(signature))
PY
}
stamp() { # time ("now" for the real clock), tsa, imprint hash, stamped file, out
  quiet openssl ts -query -config openssl-ts.cnf -data "$4" "-$3" -cert -no_nonce \
    -out "$tmp/request.tsq"
  # The TSA's own signing digest: SHA-384 for the P-384 key, SHA-256 for the others.
  case $2 in tsa-ecdsa) digest=sha384 ;; *) digest=sha256 ;; esac
  clock=$1; set -- openssl ts -reply -config openssl-ts.cnf -queryfile "$tmp/request.tsq" \
    -signer "$2.pem" -inkey "$2.key" "-$digest" -out "$5"
  if [ "$clock" = now ]; then quiet "$@"; else quiet faketime "$clock" "$@"; fi
}
# Runs a command, showing what it printed only when it fails: `openssl ts` reports optional
# settings it did not find on stderr even when it succeeds.
quiet() {
  "$@" 2> "$tmp/stderr" || { cat "$tmp/stderr" >&2; return 1; }
}

# The trusted CA and its two TSAs; an unrelated CA and TSA that no trust root lists.
key ca.key -algorithm EC -pkeyopt ec_paramgen_curve:P-384
key tsa-ecdsa.key -algorithm EC -pkeyopt ec_paramgen_curve:P-384
key tsa-rsa.key -algorithm RSA -pkeyopt rsa_keygen_bits:3072
key untrusted-ca.key -algorithm EC -pkeyopt ec_paramgen_curve:P-384
key untrusted-tsa.key -algorithm EC -pkeyopt ec_paramgen_curve:P-256
ca ca '/O=sigward test/CN=sigward test TSA CA'
tsa tsa-ecdsa '/O=sigward test/CN=sigward test TSA ECDSA P-384' ca
tsa tsa-rsa '/O=sigward test/CN=sigward test TSA RSA-3072' ca
ca untrusted-ca '/O=sigward test/CN=untrusted TSA CA'
tsa untrusted-tsa '/O=sigward test/CN=untrusted TSA' untrusted-ca

# Over the signature of rekor2-timestamp-with-embedded-cert.
signature rekor2-timestamp-with-embedded-cert "$tmp/rekor2.sig"
stamp "$REKOR2_TIME" tsa-ecdsa sha256 "$tmp/rekor2.sig" ecdsa-sha256.tsr
stamp "$REKOR2_TIME" tsa-ecdsa sha384 "$tmp/rekor2.sig" ecdsa-sha384.tsr
stamp "$REKOR2_TIME" tsa-rsa sha512 "$tmp/rekor2.sig" rsa-sha512.tsr
stamp "$REKOR2_TIME" untrusted-tsa sha256 "$tmp/rekor2.sig" untrusted.tsr
# The artifact stamped instead of the signature: a wrong message imprint.
stamp "$REKOR2_TIME" tsa-ecdsa sha256 "$conformance/bundle-verify/a.txt" wrong-imprint.tsr
# Made now: long after the bundle's leaf certificate expired.
stamp now tsa-ecdsa sha256 "$tmp/rekor2.sig" ecdsa-sha256-now.tsr
# 33 distinct valid responses (one more than a bundle may carry), base64, one per line.
: > many.b64
for _ in $(seq 33); do
  stamp "$REKOR2_TIME" tsa-ecdsa sha256 "$tmp/rekor2.sig" "$tmp/one.tsr"
  base64 -w0 "$tmp/one.tsr" >> many.b64; echo >> many.b64
done

# Over the signature of happy-path-v0.3 (which has a SET).
signature happy-path-v0.3 "$tmp/v03.sig"
stamp "$V03_TIME" tsa-ecdsa sha256 "$tmp/v03.sig" v03-ecdsa-sha256.tsr
stamp "$V03_TIME" untrusted-tsa sha256 "$tmp/v03.sig" v03-untrusted.tsr

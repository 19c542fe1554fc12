#!/bin/sh
# Regenerates the key vectors in this directory with OpenSSL (run from anywhere).
# Each <name>/ holds pub.pem, msg (the signed bytes) and sig (the raw signature).
set -eu
cd "$(dirname "$0")"
msg='{"critical":{"identity":{"docker-reference":"example.test/app"},"image":{"docker-manifest-digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"},"type":"cosign container image signature"},"optional":null}'
make_case() { # name, genpkey args, dgst args
  name=$1; shift; gen=$1; shift
  mkdir -p "$name"; printf '%s' "$msg" > "$name/msg"
  # shellcheck disable=SC2086
  openssl genpkey $gen -out "$name/key.pem" 2>/dev/null
  openssl pkey -in "$name/key.pem" -pubout -out "$name/pub.pem"
  if [ "$name" = ed25519 ]; then
    openssl pkeyutl -sign -rawin -inkey "$name/key.pem" -in "$name/msg" -out "$name/sig"
  else
    # shellcheck disable=SC2068
    openssl dgst $@ -sign "$name/key.pem" -out "$name/sig" "$name/msg"
  fi
  rm "$name/key.pem"
}
make_case p256 "-algorithm EC -pkeyopt ec_paramgen_curve:P-256" -sha256
make_case p384-sha256 "-algorithm EC -pkeyopt ec_paramgen_curve:P-384" -sha256
make_case p384-sha384 "-algorithm EC -pkeyopt ec_paramgen_curve:P-384" -sha384
make_case p521-sha256 "-algorithm EC -pkeyopt ec_paramgen_curve:P-521" -sha256
make_case p521-sha512 "-algorithm EC -pkeyopt ec_paramgen_curve:P-521" -sha512
make_case rsa2048-pkcs1 "-algorithm RSA -pkeyopt rsa_keygen_bits:2048" -sha256
make_case rsa4096-pss "-algorithm RSA -pkeyopt rsa_keygen_bits:4096" "-sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32"
make_case ed25519 "-algorithm ED25519"
# RSA 1024 is too small: only the public key is kept.
mkdir -p rsa1024; openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 2>/dev/null | openssl pkey -pubout -out rsa1024/pub.pem
# PKCS#1 "RSA PUBLIC KEY" form of the 2048-bit key.
openssl rsa -pubin -in rsa2048-pkcs1/pub.pem -RSAPublicKey_out -out rsa2048-pkcs1/pub-pkcs1.pem 2>/dev/null
# secp256k1 is a curve we do not accept.
mkdir -p secp256k1; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 2>/dev/null | openssl pkey -pubout -out secp256k1/pub.pem

#!/bin/sh
# Regenerates the image-verification cases with OpenSSL. Every case verifies a `.sig` layer
# for the image whose manifest is manifest.json, in repository registry.test/team/app; see
# README.md.
set -eu
cd "$(dirname "$0")"
# An OCI image manifest with the empty config and no layers: the image the cases sign.
printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}' > manifest.json
D=sha256:$(sha256sum manifest.json | cut -d' ' -f1)
OTHER=sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
T='cosign container image signature'
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/key.pem" 2>/dev/null
openssl pkey -in "$tmp/key.pem" -pubout -out key.pub
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null | openssl pkey -pubout -out other.pub
payload() { # reference digest type optional
  printf '{"critical":{"identity":{"docker-reference":"%s"},"image":{"docker-manifest-digest":"%s"},"type":"%s"},"optional":%s}' "$1" "$2" "$3" "$4"
}
case_() { # name expect payload-text [annotations]
  mkdir -p "$1"; printf '%s' "$3" > "$1/payload"; echo "$2" > "$1/expect"
  [ -n "${4:-}" ] && printf '%s\n' "$4" > "$1/annotations"
  openssl dgst -sha256 -sign "$tmp/key.pem" "$1/payload" | base64 -w0 > "$1/signature"
}
case_ cosign-tagless verified "$(payload registry.test/team/app $D "$T" null)"
case_ skopeo-tagged verified "$(payload registry.test/team/app:v1 $D "$T" '{"creator":"skopeo","timestamp":1700000000}')"
case_ annotations verified "$(payload registry.test/team/app $D "$T" '{"env":"prod","team":"a"}')" "env=prod
team=a"
case_ capitalised-keys verified "$(printf '{"Critical":{"Identity":{"docker-reference":"registry.test/team/app"},"Image":{"Docker-manifest-digest":"%s"},"Type":"%s"},"Optional":null}' $D "$T")"
case_ other-image_fail manifest-digest-mismatch "$(payload registry.test/team/app $OTHER "$T" null)"
case_ other-repository_fail reference-mismatch "$(payload registry.test/team/app2 $D "$T" null)"
case_ wrong-type_fail wrong-payload-type "$(payload registry.test/team/app $D "something else" null)"
case_ not-json_fail malformed-payload "this is not json"
case_ annotation-missing_fail annotation-mismatch "$(payload registry.test/team/app $D "$T" '{"env":"prod"}')" "env=dev"
case_ annotation-number_fail annotation-mismatch "$(payload registry.test/team/app $D "$T" '{"n":1}')" "n=1"
case_ wrong-key_fail signature-mismatch "$(payload registry.test/team/app $D "$T" null)"
touch wrong-key_fail/use-other-key
case_ garbage-base64_fail invalid-signature-encoding "$(payload registry.test/team/app $D "$T" null)"
printf '%s' '%%% not base64 %%%' > garbage-base64_fail/signature

#!/usr/bin/env bash
# make_certs.sh — throw-away certificates for the TLS tests (openssl CLI).
#   make_certs.sh DIR ca NAME                  a CA: DIR/NAME.crt, DIR/NAME.key
#   make_certs.sh DIR cert NAME SANS CA        a certificate for SANS
#                                              ("DNS:node1.example,IP:10.0.0.1"),
#                                              signed by CA: DIR/NAME.{crt,key}
#   make_certs.sh DIR expired NAME SANS CA     the same, expired a year ago
#                                              (signed under faketime)
set -euo pipefail
dir=$1 cmd=$2 name=$3
mkdir -p "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/$1.key" 2> /dev/null; }
case "$cmd" in
  ca)
    key "$name"
    openssl req -x509 -new -key "$dir/$name.key" -sha256 -days 30 -subj "/CN=$name" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out "$dir/$name.crt" 2> /dev/null
    ;;
  cert | expired)
    sans=$4 ca=$5
    key "$name"
    openssl req -new -key "$dir/$name.key" -subj "/CN=$name" -out "$dir/$name.csr" 2> /dev/null
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n' "$sans" > "$dir/$name.ext"
    sign=(openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca.crt" -CAkey "$dir/$ca.key" -CAcreateserial
      -sha256 -extfile "$dir/$name.ext" -out "$dir/$name.crt")
    if [ "$cmd" = expired ]; then
      command -v faketime > /dev/null || { echo "make_certs.sh: expired needs faketime" >&2; exit 3; }
      faketime -f '-400d' "${sign[@]}" -days 30 2> /dev/null
    else
      "${sign[@]}" -days 30 2> /dev/null
    fi
    rm -f "$dir/$name.csr" "$dir/$name.ext"
    ;;
  *) echo "make_certs.sh: unknown command '$cmd'" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# deps.sh: installs, from Debian's packages, everything odoobot's tests and
# sandbox need. Idempotent: apt runs only when a package is missing.
set -euo pipefail
pkgs=(nginx postgresql python3-venv pebble git dbus systemd openssl ca-certificates iproute2 util-linux procps)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps: missing packages ${missing[*]}; run as root (apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "deps: Go is not on PATH (odoobot needs Go 1.26)" >&2; exit 1; }

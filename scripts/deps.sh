#!/usr/bin/env bash
# deps.sh: installs, from Debian's packages, everything odoobot's tests and
# sandbox need. Idempotent: apt runs only when a package is missing.
set -euo pipefail
pkgs=(nginx postgresql postgresql-contrib python3-venv pebble git dbus systemd openssl ca-certificates iproute2 util-linux procps logrotate)
# python3-packaging: a release build evaluates requirements.txt's markers with it.
pkgs+=(python3-packaging)
# restic: the offsite copy of every backup (encrypted, deduplicated).
pkgs+=(restic)
# pgbackrest: the cluster's continuous WAL archive, for restores to a time.
pkgs+=(pgbackrest)
# The Python packages real Odoo 17 and 19 run on (Odoo's own Debian
# package uses them): the real-Odoo tests need them before odoobot's first
# release build; `odoobot setup` installs what else a release's
# debian/control asks (serve installs nothing).
pkgs+=(python3-babel python3-chardet python3-cryptography python3-dateutil
  python3-decorator python3-docutils python3-freezegun python3-geoip2
  python3-gevent python3-greenlet python3-idna python3-pil python3-jinja2
  python3-libsass python3-lxml python3-markupsafe python3-num2words
  python3-ofxparse python3-passlib python3-polib python3-psutil
  python3-psycopg2 python3-pydot python3-openssl python3-pypdf2 python3-serial
  python3-ldap python3-stdnum python3-tz python3-usb python3-qrcode
  python3-reportlab python3-requests python3-rjsmin python3-urllib3
  python3-vobject python3-werkzeug python3-xlrd python3-xlsxwriter python3-xlwt
  python3-zeep python3-asn1crypto python3-cbor2 python3-magic python3-openpyxl)
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

# sandbox-bin.sh, sourced by the scripts that run tests or the bot in the
# sandbox host: builds odoobot and the e2e test binary into SANDBOX_BIN
# (under the sandbox's state directory, which the sandbox sees whatever
# directory the checkout is in), and sets ODOOBOT_REAL_ODOO_ENV to the
# real Odoo sources (ODOOBOT_ODOO_REPO_17_0=… ODOOBOT_ODOO_REPO_19_0=…),
# empty with a note when there are none. SANDBOX_BIN may be set to build
# elsewhere (two checkouts testing side by side); it must be a directory the
# sandbox sees (not under /tmp or /run).
SANDBOX_BIN=${SANDBOX_BIN:-/var/lib/odoobot-sandbox/bin}
mkdir -p "$SANDBOX_BIN"
go build -trimpath -o "$SANDBOX_BIN/odoobot" ./cmd/odoobot
go test -c -o "$SANDBOX_BIN/e2e.test" ./e2e
ODOOBOT_REAL_ODOO_ENV=""
if sources=$(scripts/odoo-sources.sh /var/lib/odoobot-sandbox/odoo-src); then
  while read -r v url; do
    ODOOBOT_REAL_ODOO_ENV="$ODOOBOT_REAL_ODOO_ENV ODOOBOT_ODOO_REPO_${v//./_}=$url"
  done <<<"$sources"
else
  echo "sandbox: no real Odoo source: the real-Odoo tests will fail under make test (see above for how to provide one)" >&2
fi

#!/usr/bin/env bash
# odoo-sources.sh DEST: the real Odoo sources the real-Odoo tests build
# releases from, as git repositories DEST/17.0 and DEST/19.0 (branch named
# after the version, one commit each). It prints, one a line,
# "VERSION REPO_URL".
#
# Where they come from, first found wins:
#   ODOO_TEST_REPO   a git URL or path with branches 17.0 and 19.0 (e.g.
#                    a mirror of odoo/odoo): printed as is, nothing copied.
#   ODOO_TEST_TARBALLS a directory holding odoo-17.0-*.tar.gz and
#                    odoo-19.0-*.tar.gz, unpacked once into DEST; when
#                    unset, the first of ../shared/odoo beside the checkout
#                    and /work/shared/odoo that holds them.
# With neither it fails, saying how to provide one.
#
# odoo-sources.sh --where prints the tarball directory found (nothing, and
# exit 1, when there is none): scripts/test.sh hands it to the Go tests.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
versions=(17.0 19.0)

# tarball_dir prints the directory holding the tarballs of every version.
tarball_dir() {
  local d v ok
  for d in ${ODOO_TEST_TARBALLS:-"$top/../shared/odoo" /work/shared/odoo}; do
    ok=1
    for v in "${versions[@]}"; do
      ls "$d"/odoo-"$v"-*.tar.gz >/dev/null 2>&1 || ok=0
    done
    if [ "$ok" = 1 ]; then (cd "$d" && pwd); return 0; fi
  done
  return 1
}

if [ "${1:-}" = --where ]; then tarball_dir; exit; fi
dest=${1:?usage: odoo-sources.sh DEST | --where}
if [ -n "${ODOO_TEST_REPO:-}" ]; then
  for v in "${versions[@]}"; do
    git ls-remote --exit-code --heads -- "$ODOO_TEST_REPO" "$v" >/dev/null ||
      { echo "odoo-sources: ODOO_TEST_REPO has no branch $v" >&2; exit 1; }
    echo "$v $ODOO_TEST_REPO"
  done
  exit 0
fi
tarballs=$(tarball_dir || true)
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME="odoobot tests" GIT_AUTHOR_EMAIL=tests@odoobot.invalid GIT_AUTHOR_DATE=2026-01-01T00:00:00Z
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL" GIT_COMMITTER_DATE="$GIT_AUTHOR_DATE"
for v in "${versions[@]}"; do
  repo=$dest/$v
  if [ ! -f "$repo/.git/odoobot-complete" ]; then
    tgz=$( [ -n "$tarballs" ] && ls "$tarballs"/odoo-"$v"-*.tar.gz 2>/dev/null | head -n 1 || true)
    if [ -z "$tgz" ]; then
      echo "odoo-sources: no real Odoo $v source: set ODOO_TEST_REPO to a git URL or path with branches 17.0 and 19.0 (e.g. a mirror of odoo/odoo), or ODOO_TEST_TARBALLS to a directory holding odoo-$v-*.tar.gz" >&2
      exit 1
    fi
    rm -rf "$repo" "$repo.tmp"
    mkdir -p "$repo.tmp"
    tar xzf "$tgz" -C "$repo.tmp" --strip-components=1
    git -C "$repo.tmp" init -q -b "$v"
    git -C "$repo.tmp" add -A
    git -C "$repo.tmp" commit -q --no-gpg-sign -m "odoo $v"
    # Packed, as a served repository is: a clone of loose objects would
    # pack them all first, and time that a real source never costs.
    git -C "$repo.tmp" repack -a -d -q
    touch "$repo.tmp/.git/odoobot-complete"
    mv "$repo.tmp" "$repo"
  fi
  echo "$v file://$repo"
done

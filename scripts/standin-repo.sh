#!/usr/bin/env bash
# standin-repo.sh DEST
#
# Makes DEST (created if missing; it must not be a git repository yet) a git
# repository holding the stand-in Odoo -- a test double, not Odoo -- from
# internal/standin/files, in one commit on branch 19.0 with a fixed author
# and date. It is the same commit, with the same ID, as Go's
# standin.MakeRepo, so that
#   git clone --depth 1 --branch 19.0 file://DEST
# gives the release builder what the tests give it. The user's and the
# system's git configuration are ignored.
set -euo pipefail
dest=${1:?usage: standin-repo.sh DEST}
src="$(cd "$(dirname "$0")/.." && pwd)/internal/standin/files"
[ -f "$src/odoo-bin" ] || { echo "standin-repo: $src/odoo-bin not found" >&2; exit 1; }
[ -e "$dest/.git" ] && { echo "standin-repo: $dest is already a git repository" >&2; exit 1; }
mkdir -p "$dest"
(cd "$src" && find . -name __pycache__ -prune -o -type f -print0) |
  while IFS= read -r -d '' f; do
    mkdir -p "$dest/$(dirname "$f")"
    cp "$src/$f" "$dest/$f"
    chmod 644 "$dest/$f"
  done
chmod 755 "$dest/odoo-bin"
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME="odoobot tests" GIT_AUTHOR_EMAIL=tests@odoobot.invalid GIT_AUTHOR_DATE=2026-01-01T00:00:00Z
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL" GIT_COMMITTER_DATE="$GIT_AUTHOR_DATE"
git -C "$dest" init -q -b 19.0
git -C "$dest" add -A
git -C "$dest" commit -q --no-gpg-sign -m "stand-in Odoo 19.0 (test double)"
git -C "$dest" rev-parse HEAD

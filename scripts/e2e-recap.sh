#!/usr/bin/env bash
# e2e-recap.sh LOG: after a failed end-to-end run, prints what failed in
# a few lines, so the end of the output says why without reading a log
# of a thousand lines: each failed test, and each message a failed test
# wrote from a line of e2e/*_test.go that is not a t.Log/t.Logf call (so
# its errors, and a helper's messages, which are reported at the
# caller's line), cut to its first lines.
set -euo pipefail
cd "$(dirname "$0")/.."
log=${1:-bin/e2e.log}
echo "== what failed (all of it in $log)"
awk -v maxlines=8 -v maxtotal=150 '
FNR == NR { if (match($0, /--- FAIL: [^ ]+/)) failed[substr($0, RSTART + 10, RLENGTH - 10)] = 1; next }
/^=== (RUN|NAME|CONT) / { current = $3; keep = 0; next }
function source(file, n,    line, i) {
  if (!(file in seen)) {
    seen[file] = 1
    i = 0
    while ((getline line < ("e2e/" file)) > 0) src[file, ++i] = line
    close("e2e/" file)
  }
  return src[file, n]
}
function out(s) { if (++total <= maxtotal) print s; else if (total == maxtotal + 1) print "  …" }
/^ *--- FAIL/ { out($0); keep = 0; next }
match($0, /^ *[A-Za-z0-9_]+_test\.go:[0-9]+: /) {
  head = substr($0, 1, RLENGTH)
  indent = match(head, /[^ ]/) - 1
  split(substr(head, indent + 1), loc, ":")
  keep = (current in failed) && source(loc[1], loc[2] + 0) !~ /\.Logf?\(/
  if (keep) { out($0); shown = 1 }
  next
}
keep {
  if (match($0, /^ */) && RLENGTH > indent) {
    if (++shown <= maxlines) out($0)
    else if (shown == maxlines + 1) out(sprintf("%*s…", indent + 4, ""))
  } else keep = 0
}
' "$log" "$log"

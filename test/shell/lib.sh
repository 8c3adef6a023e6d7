# Helpers for the shell tests; source it first. Each test runs in a scratch
# folder removed at exit, with the built programs first on PATH.
set -u
T=$(mktemp -d "${TMPDIR:-/tmp}/fundus-sh.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"
failures=0
checks=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# run CMD...: runs a command, keeping its stdout, stderr and status in
# $T/out, $T/err and $status.
run() {
  "$@" >"$T/out" 2>"$T/err"
  status=$?
}

# expect_status N DESCRIPTION
expect_status() {
  checks=$((checks + 1))
  if [ "$status" -ne "$1" ]; then
    fail "$2: exit status $status, expected $1; stderr: $(head -c 500 "$T/err")"
  fi
}

# expect_match FILE REGEX DESCRIPTION
expect_match() {
  checks=$((checks + 1))
  grep -Eq -- "$2" "$1" || fail "$3: '$2' not in $(basename "$1"): $(head -c 500 "$1")"
}

expect_no_match() {
  checks=$((checks + 1))
  ! grep -Eq -- "$2" "$1" || fail "$3: '$2' unexpectedly in $(basename "$1")"
}

expect_empty() {
  checks=$((checks + 1))
  [ ! -s "$1" ] || fail "$2: $(basename "$1") is not empty: $(head -c 500 "$1")"
}

skip() {
  echo "skip: $*"
  exit 77
}

# finish: the closing line and the exit status.
finish() {
  echo "$((checks - failures)) passed, $failures failed"
  [ "$failures" -eq 0 ]
}

programs() {
  for p in "$FUNDUS_BUILD"/tools/fundus-*; do
    [ -x "$p" ] && [ -f "$p" ] && echo "$p"
  done
}

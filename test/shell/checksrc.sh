# The sources keep STYLE.md's bans (scripts/checksrc).
. "$FUNDUS_SOURCE/test/shell/lib.sh"
command -v git >/dev/null && git -C "$FUNDUS_SOURCE" rev-parse >/dev/null 2>&1 ||
  skip "not a git checkout"
checks=$((checks + 1))
"$FUNDUS_SOURCE/scripts/checksrc" >"$T/out" 2>&1 || fail "scripts/checksrc: $(cat "$T/out")"
finish

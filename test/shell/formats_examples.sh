# The EXAMPLES of man/fundus-formats.5 run as written: each "$ command" in a
# literal block must print exactly the lines that follow it. The page's own
# "$ cat records.jsonl" block provides the records the others read.
. "$FUNDUS_SOURCE/test/shell/lib.sh"

command -v jq >/dev/null || skip "jq is not installed (scripts/setup installs it)"
page="$FUNDUS_SOURCE/man/fundus-formats.5"

# The literal blocks of EXAMPLES, with the roff escapes they use undone.
awk '
/^\.Sh / { ex = ($2 == "EXAMPLES") }
ex && /^\.Bd -literal/ { lit = 1; next }
ex && /^\.Ed/ { lit = 0; next }
ex && lit { gsub(/\\e/, "\\"); gsub(/\\&/, ""); print }
' "$page" >"$T/examples"

n=0
cmd=
want=
run_example() {
  [ -n "$cmd" ] || return 0
  if [ "$cmd" = "cat records.jsonl" ] && [ ! -e records.jsonl ]; then
    printf '%s' "$want" >records.jsonl
  fi
  n=$((n + 1))
  checks=$((checks + 1))
  got=$(bash -c "$cmd" 2>&1)
  if [ "$got" != "$(printf '%s' "$want")" ]; then
    fail "example '$cmd' printed:
$got
instead of:
$want"
  fi
}
while IFS= read -r line; do
  case "$line" in
  '$ '*)
    run_example
    cmd=${line#'$ '}
    want=
    ;;
  *) [ -n "$cmd" ] && want="$want$line
" ;;
  esac
done <"$T/examples"
run_example

checks=$((checks + 1))
[ "$n" -ge 6 ] || fail "found only $n examples in fundus-formats.5"
finish

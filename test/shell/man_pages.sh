# Every program has a man page that documents exactly the options its
# --help lists, and every man page passes mandoc's lint.
. "$FUNDUS_SOURCE/test/shell/lib.sh"

man="$FUNDUS_SOURCE/man"
command -v mandoc >/dev/null || skip "mandoc is not installed (scripts/setup installs it)"

for page in "$man"/*.[0-9]; do
  checks=$((checks + 1))
  # Style notes are advice; warnings and errors are mistakes.
  if ! mandoc -T lint -W warning "$page" >"$T/lint" 2>&1; then
    fail "mandoc lint $(basename "$page"): $(head -c 800 "$T/lint")"
  fi
done

for p in $(programs); do
  name=$(basename "$p")
  page="$man/$name.1"
  checks=$((checks + 1))
  if [ ! -f "$page" ]; then
    fail "$name has no man page (man/$name.1)"
    continue
  fi
  "$p" --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u >"$T/help.opts"
  # mdoc writes a long option as "Fl -name" (or "Fl \-name").
  grep -oE 'Fl \\?-[a-z][a-z0-9-]*' "$page" | sed -E 's/^Fl \\?-/--/' | sort -u >"$T/man.opts"
  checks=$((checks + 1))
  if ! diff "$T/help.opts" "$T/man.opts" >"$T/diff"; then
    fail "$name: --help and man/$name.1 list different options (< help, > man): $(tr '\n' ' ' <"$T/diff")"
  fi
  checks=$((checks + 1))
  grep -q '^\.Sh EXIT STATUS' "$page" || fail "man/$name.1 has no EXIT STATUS section"
done
finish

# fundus-detect: several runs on one output file at once never corrupt it:
# with --wait they take turns and the result is that of one run; without,
# the one that finds the file locked exits 4 having done nothing; runs over
# disjoint halves make the union; processes appending to one standard
# output (xargs -P, >>) never mix their lines.
. "$FUNDUS_SOURCE/test/shell/lib.sh"
command -v jq >/dev/null || skip "jq is not installed (scripts/setup installs it)"
command -v random_model >/dev/null || skip "random_model (test/helpers) is not built"

random_model m.fdm disc-centre 5 optic_disc
fundus-synth --quiet -n 16 --size 400x300 -o in >/dev/null

canon() {
  jq -c . "$1" | sort
}

run fundus-detect -m m.fdm --top 2 -j 1 -o ref.jsonl in
expect_status 0 "reference run"

# valid FILE DESCRIPTION: every line a record, no image twice.
valid() {
  checks=$((checks + 1))
  jq -e . "$1" >/dev/null 2>&1 || fail "$2: a line is not JSON"
  checks=$((checks + 1))
  [ "$(jq -r .id "$1" | sort | uniq -d)" = "" ] || fail "$2: an image twice"
}

# Two runs with --wait over the same images: one does them, the other finds nothing left.
fundus-detect -m m.fdm --top 2 -j 1 --wait -o both.jsonl in 2>err1 & p1=$!
fundus-detect -m m.fdm --top 2 -j 1 --wait -o both.jsonl in 2>err2 & p2=$!
wait $p1; s1=$?
wait $p2; s2=$?
checks=$((checks + 1))
[ "$((s1 + s2))" -eq 3 ] && { [ $s1 -eq 0 ] || [ $s2 -eq 0 ]; } ||
  fail "--wait: exit statuses $s1 and $s2, expected 0 and 3: $(cat err1 err2)"
valid both.jsonl "--wait"
checks=$((checks + 1))
[ "$(canon both.jsonl)" = "$(canon ref.jsonl)" ] || fail "--wait: not the reference's records"

# Without --wait: one runs, the other exits 4 at once (or 3 if it came after).
fundus-detect -m m.fdm --top 2 -j 1 -o race.jsonl in 2>err1 & p1=$!
fundus-detect -m m.fdm --top 2 -j 1 -o race.jsonl in 2>err2 & p2=$!
wait $p1; s1=$?
wait $p2; s2=$?
checks=$((checks + 1))
case "$s1 $s2" in
  "0 4" | "4 0" | "0 3" | "3 0") ;;
  *) fail "no --wait: exit statuses $s1 and $s2: $(cat err1 err2)" ;;
esac
valid race.jsonl "no --wait"
checks=$((checks + 1))
[ "$(canon race.jsonl)" = "$(canon ref.jsonl)" ] || fail "no --wait: not the reference's records"
if [ "$s1" -eq 4 ] || [ "$s2" -eq 4 ]; then
  expect_match "$( [ "$s1" -eq 4 ] && echo err1 || echo err2)" "'race\.jsonl' is in use by another run: nothing done" "lock message"
fi

# Disjoint halves into one output at once: the union.
ls in/*.jpg | head -8 >half1
ls in/*.jpg | tail -n +9 >half2
fundus-detect -m m.fdm --top 2 -j 1 --wait -o halves.jsonl <half1 2>err1 & p1=$!
fundus-detect -m m.fdm --top 2 -j 1 --wait -o halves.jsonl <half2 2>err2 & p2=$!
wait $p1; s1=$?
wait $p2; s2=$?
checks=$((checks + 1))
[ "$s1" -eq 0 ] && [ "$s2" -eq 0 ] || fail "halves: exit statuses $s1 and $s2: $(cat err1 err2)"
valid halves.jsonl "halves"
checks=$((checks + 1))
[ "$(canon halves.jsonl)" = "$(canon ref.jsonl)" ] || fail "halves: not the union"

# xargs -P 3 appending to one file through standard output: whole lines, all of them.
ls in/*.jpg | xargs -n 4 -P 3 fundus-detect -q -m m.fdm --top 40 --threshold 0 -j 1 >>xargs.jsonl
status=$?
expect_status 0 "xargs -P"
valid xargs.jsonl "xargs -P"
checks=$((checks + 1))
[ "$(wc -l <xargs.jsonl)" -eq 16 ] || fail "xargs -P: $(wc -l <xargs.jsonl) records, expected 16"
# Runs over disjoint lists concatenate into the result of one run.
checks=$((checks + 1))
[ "$(jq -r .id xargs.jsonl | sort)" = "$(jq -r .id ref.jsonl | sort)" ] || fail "xargs -P: other images"

# GNU parallel as fundus-detect(1) shows it, with this host as the only sshlogin.
if command -v parallel >/dev/null; then
  ls in/*.jpg | parallel --will-cite --sshlogin 2/: -N 5 --pipe \
    fundus-detect -q -j 1 -m m.fdm --top 2 >parallel.jsonl
  status=$?
  expect_status 0 "GNU parallel --pipe"
  valid parallel.jsonl "GNU parallel"
  checks=$((checks + 1))
  [ "$(canon parallel.jsonl)" = "$(canon ref.jsonl)" ] || fail "GNU parallel: not the reference's records"
else
  echo "note: GNU parallel is not installed: its example is not run"
fi
finish

# fundus-detect -o under cron's conditions: a run killed (SIGKILL) in the
# middle leaves a file of whole records, and the next run continues it to
# the very output of an uninterrupted run (compared as sorted sets of
# records without the timing fields); likewise after half a record was
# left at the end of the file.
. "$FUNDUS_SOURCE/test/shell/lib.sh"
command -v jq >/dev/null || skip "jq is not installed (scripts/setup installs it)"
command -v random_model >/dev/null || skip "random_model (test/helpers) is not built"

random_model m.fdm disc-centre 3 optic_disc
fundus-synth --quiet -n 30 --size 400x300 -o in >/dev/null

# canon FILE: the records without their timings, sorted.
canon() {
  jq -c 'del(.detect.seconds)' "$1" | sort
}

run fundus-detect -m m.fdm --top 2 --timings -j 2 -o whole.jsonl in
expect_status 0 "uninterrupted run"
checks=$((checks + 1))
[ "$(wc -l <whole.jsonl)" -eq 30 ] || fail "30 records expected, got $(wc -l <whole.jsonl)"

# Killed once some records are out; then continued.
fundus-detect -m m.fdm --top 2 --timings -j 2 -o part.jsonl in 2>/dev/null &
pid=$!
for _ in $(seq 1 600); do
  [ -s part.jsonl ] && [ "$(wc -l <part.jsonl)" -ge 5 ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.02
done
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
n=$(wc -l <part.jsonl)
echo "killed after $n of 30 records"
[ "$n" -ge 30 ] && echo "note: the run ended before it was killed; the resume is trivial"
# Every line of the killed run's output is a whole record.
checks=$((checks + 1))
jq -e . part.jsonl >/dev/null 2>&1 || fail "the killed run left a line that is not JSON"
checks=$((checks + 1))
[ -z "$(tail -c 1 part.jsonl)" ] || fail "the killed run left a last line without newline"
run fundus-detect -m m.fdm --top 2 --timings -j 2 -o part.jsonl in
if [ "$n" -ge 30 ]; then expect_status 3 "resume with nothing left"; else expect_status 0 "resume"; fi
checks=$((checks + 1))
[ "$(canon part.jsonl)" = "$(canon whole.jsonl)" ] ||
  fail "killed + resumed differs from uninterrupted: $(diff <(canon part.jsonl) <(canon whole.jsonl) | head -c 800)"
# The records of the first run were not written again.
checks=$((checks + 1))
[ "$(jq -r .id part.jsonl | sort | uniq -d)" = "" ] || fail "an image twice in the output"

# Half a record at the end (a crash inside a write): cut off, that image done again.
head -n 17 whole.jsonl >cut.jsonl
sed -n 18p whole.jsonl | head -c 150 >>cut.jsonl
run fundus-detect -m m.fdm --top 2 -j 1 -o cut.jsonl in
expect_status 0 "resume after half a record"
expect_match "$T/err" "cut off an incomplete last line \(150 bytes\)" "repair reported"
checks=$((checks + 1))
[ "$(canon cut.jsonl)" = "$(canon whole.jsonl)" ] || fail "repaired + resumed differs from uninterrupted"

# Killed again and again, one thread, until done: still the same set.
rm -f many.jsonl
for round in 1 2 3 4 5 6; do
  fundus-detect -q -m m.fdm --top 2 -j 1 -o many.jsonl in &
  pid=$!
  sleep 0.3
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  [ -s many.jsonl ] && [ "$(wc -l <many.jsonl)" -ge 30 ] && break
done
echo "killed $round times"
run fundus-detect -m m.fdm --top 2 -j 1 -o many.jsonl in
checks=$((checks + 1))
[ "$status" -eq 0 ] || [ "$status" -eq 3 ] || fail "last resume: exit status $status"
checks=$((checks + 1))
[ "$(canon many.jsonl)" = "$(canon whole.jsonl)" ] || fail "after $round kills the set differs"
finish

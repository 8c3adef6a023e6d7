# examples/detect/nightly.sh, the cron example, over nights of a folder
# that fills up: new photographs detected and logged, a night with nothing
# new, a photograph still being copied in (it fails, cron is told, and it
# is done the night after), a night that finds the last one still going.
. "$FUNDUS_SOURCE/test/shell/lib.sh"
command -v random_model >/dev/null || skip "random_model (test/helpers) is not built"
nightly="$FUNDUS_SOURCE/examples/detect/nightly.sh"
day=$(date +%F)

random_model od.fdm disc-centre 2 optic_disc
mkdir incoming
fundus-synth --quiet -n 5 --size 400x300 -o day1 >/dev/null
cp day1/synth-00000[0-2].jpg incoming/

# Night 1: three photographs.
run sh "$nightly" incoming results od.fdm
expect_status 0 "first night"
expect_empty "$T/out" "nothing for cron to mail"
expect_empty "$T/err" "nothing for cron to mail (stderr)"
checks=$((checks + 1))
[ "$(wc -l <results/found.jsonl)" -eq 3 ] || fail "3 records after night 1"
checks=$((checks + 1))
[ "$(ls "results/$day" | grep -c '\.jpg$')" -eq 3 ] && [ -f "results/$day/sheet.png" ] ||
  fail "overlays and sheet of the night: $(ls "results/$day")"
expect_match results/log "new photographs detected" "logged"
checks=$((checks + 1))
[ "$(head -1 results/found.csv)" = "image,width,height,label,score,xmin,ymin,xmax,ymax" ] || fail "CSV"

# Night 2: nothing new (one photograph moved into a subfolder: same content).
mkdir incoming/sub
mv incoming/synth-000001.jpg incoming/sub/
rm -rf "results/$day"
run sh "$nightly" incoming results od.fdm
expect_status 0 "a night with nothing new"
expect_match results/log "nothing new" "nothing new logged"
checks=$((checks + 1))
[ ! -d "results/$day" ] || fail "an empty overlay folder was left"

# Night 3: one new photograph, one still being copied (truncated): cron mails the failure.
cp day1/synth-000003.jpg incoming/
head -c 3000 day1/synth-000004.jpg >incoming/synth-000004.jpg
run sh "$nightly" incoming results od.fdm
expect_status 1 "a night with a failure"
expect_match "$T/err" "cannot decode 'incoming/synth-000004\.jpg'" "the failure goes to cron's mail"
expect_match results/log "some photographs failed" "failure logged"
checks=$((checks + 1))
[ "$(wc -l <results/found.jsonl)" -eq 4 ] || fail "4 records after night 3"

# Night 4: the copy is whole now; it is done.
cp day1/synth-000004.jpg incoming/
run sh "$nightly" incoming results od.fdm
expect_status 0 "the photograph that failed is done the night after"
checks=$((checks + 1))
[ "$(wc -l <results/found.jsonl)" -eq 5 ] || fail "5 records after night 4"

# Night 5: last night's run still holds the results.
flock results/found.jsonl sleep 2 &
holder=$!
sleep 0.3
cp day1/synth-000000.jpg incoming/again.jpg
run sh "$nightly" incoming results od.fdm
expect_status 0 "overrun: nothing for cron"
expect_match results/log "still going" "overrun logged"
wait "$holder"
finish

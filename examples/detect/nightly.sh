#!/bin/sh
# Nightly batch detection of a folder that fills up during the day, for
# cron. Each night it detects the photographs that are new (by content:
# renamed or moved ones are not done again), appends their records to one
# results file, rewrites the CSV of all results, draws the night's
# overlays and a contact sheet of them, and logs what happened. A night
# that overruns into the next is not disturbed: the next run finds the
# results locked and leaves. Photographs that failed (say, still being
# copied in) are tried again the next night.
#
#   nightly.sh INCOMING RESULTS [MODEL]
#
# crontab -e:
#   30 2 * * *  /srv/fundus/nightly.sh /srv/incoming /srv/results /srv/od.fdm
#
# RESULTS/found.jsonl   one record per photograph, ever (fundus-formats(5))
# RESULTS/found.csv     the same as CSV, one row per box
# RESULTS/YYYY-MM-DD/   the night's overlays and sheet.png, when there was anything new
# RESULTS/log           one line per night; RESULTS/errors-YYYY-MM-DD.txt the failures
#
# The exit status is fundus-detect's for failures (1) and misuse (2), and
# 0 otherwise, so that cron mails only when something needs a person.
set -u
in=${1:?usage: nightly.sh INCOMING RESULTS [MODEL]}
out=${2:?usage: nightly.sh INCOMING RESULTS [MODEL]}
model=${3:-$out/od.fdm}
day=$(date +%F)
mkdir -p "$out" || exit 1

fundus-detect -q -m "$model" --top 1 -o "$out/found.jsonl" --csv "$out/found.csv" \
  --overlay "$out/$day" --overlay-size 1024 --sheet "$out/$day/sheet.png" \
  "$in" 2>"$out/errors-$day.txt"
status=$?
[ -s "$out/errors-$day.txt" ] || rm -f "$out/errors-$day.txt"
rmdir "$out/$day" 2>/dev/null # a night with nothing new leaves no empty folder

now=$(date '+%F %T')
case $status in
  0) echo "$now: new photographs detected; records in $out/found.jsonl" >>"$out/log" ;;
  1) echo "$now: some photographs failed, see $out/errors-$day.txt" >>"$out/log"
     cat "$out/errors-$day.txt" >&2 # cron mails it
     exit 1 ;;
  3) echo "$now: nothing new" >>"$out/log" ;;
  4) echo "$now: last night's run is still going; nothing done" >>"$out/log" ;;
  *) echo "$now: fundus-detect failed with status $status" >>"$out/log"
     cat "$out/errors-$day.txt" >&2
     exit "$status" ;;
esac
exit 0

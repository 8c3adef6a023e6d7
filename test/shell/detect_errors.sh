# fundus-detect: the failures a user can meet that detect.sh does not
# reach, each named with its file and exit status 1 (2 for misuse): an
# output, CSV, COCO, contact sheet or overlay folder that cannot be
# written, a record stream that cannot be read or holds a bad line, folders
# nested too deep, and an output file holding a line that is not a record.
. "$FUNDUS_SOURCE/test/shell/lib.sh"
command -v random_model >/dev/null || skip "random_model (test/helpers) is not built"

random_model m.fdm disc-centre 7 optic_disc
fundus-synth --quiet -n 2 --size 320x240 -o in >truth.jsonl

# Outputs that cannot be written: each named, exit 1.
run fundus-detect -m m.fdm -o nodir/out.jsonl in
expect_status 1 "-o in a missing folder"
expect_match "$T/err" "^fundus-detect: cannot open 'nodir/out\.jsonl': " "output named"
run fundus-detect -m m.fdm --csv nodir/r.csv in
expect_status 1 "--csv in a missing folder"
expect_match "$T/err" "^fundus-detect: cannot write 'nodir/r\.csv': " "CSV named"
run fundus-detect -m m.fdm --coco nodir/r.json in
expect_status 1 "--coco in a missing folder"
expect_match "$T/err" "^fundus-detect: cannot write 'nodir/r\.json': " "COCO named"
run fundus-detect -m m.fdm --sheet nodir/s.png in
expect_status 1 "--sheet in a missing folder"
expect_match "$T/err" "^fundus-detect: cannot write the contact sheet 'nodir/s\.png': " "sheet named"
touch afile
run fundus-detect -m m.fdm --overlay afile in
expect_status 1 "--overlay where a file is"
expect_match "$T/err" "^fundus-detect: cannot make the folder 'afile': " "overlay folder named"
run fundus-detect -m m.fdm --sheet s.png --sheet-width 200 --sheet-columns 100 in
expect_status 2 "--sheet-columns that do not fit"
expect_match "$T/err" "--sheet-columns: 100 thumbnails a row do not fit in 200 pixels" "misfit named"

# Record streams: a missing one; a bad line among good ones (named with
# its line; the good records still detected).
run fundus-detect -m m.fdm -r missing.jsonl
expect_status 1 "a missing record stream"
expect_match "$T/err" "^fundus-detect: cannot read 'missing\.jsonl': " "record stream named"
{ head -1 truth.jsonl; echo 'not json'; tail -1 truth.jsonl; } >mixed.jsonl
run fundus-detect -m m.fdm -r mixed.jsonl
expect_status 1 "a bad line in a record stream"
expect_match "$T/err" "^fundus-detect: 'mixed\.jsonl': line 2: " "bad line named"
checks=$((checks + 1))
[ "$(wc -l <"$T/out")" -eq 2 ] || fail "the good records detected: $(cat "$T/out")"

# Folders nested deeper than 64 levels: named, nothing detected.
deep=d$(printf '/d%.0s' $(seq 1 65))
mkdir -p "$deep"
cp in/synth-000000.jpg "$deep/"
run fundus-detect -m m.fdm d
expect_status 1 "folders nested too deep"
expect_match "$T/err" "^fundus-detect: cannot read folder 'd(/d)+': folders nested too deep$" "deep folder named"
expect_empty "$T/out" "nothing detected under a folder too deep"

# An output file holding a line that is not a record: warned about, kept.
run fundus-detect -m m.fdm -o held.jsonl in/synth-000000.jpg
expect_status 0 "first run"
echo 'garbage' >>held.jsonl
run fundus-detect -m m.fdm -o held.jsonl in
expect_status 0 "a bad line in the output"
expect_match "$T/err" "^fundus-detect: warning: 'held\.jsonl': line 2: .*\(left as it is\)$" "bad output line named"
checks=$((checks + 1))
[ "$(sed -n 2p held.jsonl)" = "garbage" ] && [ "$(wc -l <held.jsonl)" -eq 3 ] ||
  fail "the bad line kept, one record added: $(cut -c1-60 held.jsonl)"
finish

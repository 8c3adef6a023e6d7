# fundus-synth: photographs that decode at the recorded size, valid records,
# runs that split with --start into the same bytes, the same pixels with any
# number of threads, and its errors: bad options (2), folders it cannot
# create or write (1).
. "$FUNDUS_SOURCE/test/shell/lib.sh"

command -v fundus-synth >/dev/null || skip "fundus-synth is not built"

# json_lines FILE N: FILE holds N lines, each a JSON object (with python3 when
# there is one; a rough shape check otherwise).
json_lines() {
  checks=$((checks + 1))
  lines=$(wc -l <"$1")
  [ "$lines" -eq "$2" ] || fail "$(basename "$1"): $lines lines, expected $2"
  checks=$((checks + 1))
  if command -v python3 >/dev/null; then
    python3 -c 'import json, sys
for n, line in enumerate(open(sys.argv[1]), 1):
    r = json.loads(line)
    assert isinstance(r, dict), "line %d is not an object" % n
    o = r["objects"][0]
    assert o["label"] == "optic_disc" and o["by"] == "synth", "line %d: object" % n
    x0, y0, x1, y1 = o["bbox"]
    assert 0 <= x0 < x1 <= r["width"] and 0 <= y0 < y1 <= r["height"], "line %d: bbox" % n
    m = r["meta"]
    assert m["synthetic"] is True and m["laterality"] in ("L", "R"), "line %d: meta" % n
    assert r["source"]["path"] == r["image"], "line %d: source" % n
' "$1" 2>"$T/pyerr" || fail "$(basename "$1") is not valid records: $(tail -n 1 "$T/pyerr")"
  else
    grep -Evq '^\{.*"objects":\[\{"label":"optic_disc","bbox":\[[0-9., ]+\],"by":"synth"\}\]\}$' "$1" &&
      fail "$(basename "$1") has lines that do not look like records"
  fi
}

# --help and misuse.
run fundus-synth --help
expect_status 0 "--help"
expect_match "$T/out" "--count" "--help lists --count"
expect_match "$T/out" "--sheet" "--help lists --sheet"
expect_empty "$T/err" "--help writes nothing on stderr"

run fundus-synth -n 1 -o nodir --size 100
expect_status 2 "--size 100"
expect_match "$T/err" "^fundus-synth: --size: '100'" "a bad --size is named"
expect_empty "$T/out" "misuse prints no records"
run fundus-synth -n 1 -o nodir --size 20x20
expect_status 2 "--size 20x20"
expect_match "$T/err" "^fundus-synth: --size: .*out of range" "a small --size is out of range"
run fundus-synth -n -3 -o nodir
expect_status 2 "--count -3"
expect_match "$T/err" "^fundus-synth: --count: " "a bad --count is named"
run fundus-synth -n 1 -o nodir --eye middle
expect_status 2 "--eye middle"
expect_match "$T/err" "^fundus-synth: --eye: 'middle'" "a bad --eye is named"
run fundus-synth -n 1 -o nodir --framing wide
expect_status 2 "--framing wide"
expect_match "$T/err" "^fundus-synth: --framing: 'wide'" "a bad --framing is named"
run fundus-synth -n 1 -o nodir --lesions 1.5
expect_status 2 "--lesions 1.5"
expect_match "$T/err" "^fundus-synth: --lesions: " "a bad --lesions is named"
run fundus-synth -n 1 -o nodir --format gif
expect_status 2 "--format gif"
expect_match "$T/err" "^fundus-synth: --format: 'gif'" "a bad --format is named"
run fundus-synth -n 1 -o nodir --seed 9007199254740992
expect_status 2 "--seed 2^53"
expect_match "$T/err" "^fundus-synth: --seed: " "a seed past 2^53 is refused"
run fundus-synth -n 1 -o nodir --seed ' -1'
expect_status 2 "--seed ' -1'"
expect_match "$T/err" "^fundus-synth: --seed: ' -1' is not a whole number" "a negative seed is refused, not wrapped"
run fundus-synth -n 1 -o nodir --no-boxes=yes
expect_status 2 "--no-boxes=yes"
expect_match "$T/err" "^fundus-synth: option '--no-boxes' takes no argument$" "a long-only flag given a value"
run fundus-synth -n 1 -o nodir --s 3
expect_status 2 "--s"
expect_match "$T/err" "^fundus-synth: option '--s' is ambiguous$" "an ambiguous abbreviation"
run fundus-synth -n 1 -o nodir --sheet sheet.gif
expect_status 2 "--sheet sheet.gif"
expect_match "$T/err" "^fundus-synth: --sheet: 'sheet\.gif' must end in \.png or \.jpg" "a bad sheet name"
run fundus-synth -n 1
expect_status 2 "no --output"
expect_match "$T/err" "missing --output" "a missing --output is named"
expect_match "$T/err" "Try 'fundus-synth --help'" "misuse points to --help"
run fundus-synth -o nodir
expect_status 2 "no --count"
expect_match "$T/err" "missing --count" "a missing --count is named"
[ ! -e nodir ] || fail "misuse created the output folder"

# A run: files that decode at the sizes in the records.
run fundus-synth -n 3 --size 320x240 --seed 7 -o a
expect_status 0 "fundus-synth -n 3"
cp "$T/out" a.jsonl
json_lines a.jsonl 3
for i in 0 1 2; do
  f=a/synth-00000$i.jpg
  checks=$((checks + 1))
  [ -s "$f" ] || fail "$f is missing"
  expect_match a.jsonl "\"image\":\"$f\"" "the record names $f"
done
if command -v fundus-info >/dev/null; then
  run fundus-info --decode a/synth-000000.jpg a/synth-000001.jpg a/synth-000002.jpg
  expect_status 0 "the photographs decode"
  checks=$((checks + 1))
  [ "$(grep -c '"width":320,"height":240' "$T/out")" -eq 3 ] ||
    fail "decoded sizes are not 320x240: $(head -c 300 "$T/out")"
  expect_match "$T/out" '"format":"jpeg"' "the photographs are JPEG"
fi

# The same run split in two with --start, and with one thread instead of
# several: the same bytes.
run fundus-synth -n 1 --size 320x240 --seed 7 -o b -j 1
expect_status 0 "first part"
cp "$T/out" b.jsonl
run fundus-synth -n 2 --start 1 --size 320x240 --seed 7 -o b -j 2
expect_status 0 "second part"
cat "$T/out" >>b.jsonl
for i in 0 1 2; do
  checks=$((checks + 1))
  cmp -s a/synth-00000$i.jpg b/synth-00000$i.jpg || fail "image $i differs between one run and two"
done
sed 's|"b/|"a/|g' b.jsonl >b2.jsonl
checks=$((checks + 1))
cmp -s a.jsonl b2.jsonl || fail "records differ between one run and two"

# Another seed gives other photographs.
run fundus-synth -n 1 --size 320x240 --seed 8 -o c
expect_status 0 "seed 8"
checks=$((checks + 1))
! cmp -s a/synth-000000.jpg c/synth-000000.jpg || fail "seeds 7 and 8 gave the same image"

# PNG and TIFF, records to a file, a contact sheet.
run fundus-synth -n 2 --size 200x160 -f png -o p --records p.jsonl --sheet p/sheet.png \
  --sheet-width 400 --sheet-columns 2
expect_status 0 "PNG with --records and --sheet"
expect_empty "$T/out" "--records leaves stdout empty"
json_lines p.jsonl 2
expect_match p.jsonl '"format":"png"' "records say png"
run fundus-synth -n 1 --size 200x160 -o dash --records -
expect_status 0 "--records -"
checks=$((checks + 1))
[ "$(wc -l <"$T/out")" -eq 1 ] || fail "--records - does not print the record on stdout"
checks=$((checks + 1))
[ ! -e ./- ] || fail "--records - made a file named '-'"
run fundus-synth -n 1 --size 200x160 -f tiff -o t --eye R --framing disc
expect_status 0 "TIFF"
expect_match "$T/out" '"laterality":"R"' "--eye R"
expect_match "$T/out" '"framing":"disc"' "--framing disc"
if command -v fundus-info >/dev/null; then
  run fundus-info --decode p/synth-000000.png t/synth-000000.tif p/sheet.png
  expect_status 0 "PNG, TIFF and the sheet decode"
  expect_match "$T/out" '"format":"png".*' "PNG"
  expect_match "$T/out" '"format":"tiff"' "TIFF"
  expect_match "$T/out" '"width":400,' "the sheet is 400 wide"
fi

# Errors: a folder that cannot be created; a folder that cannot be written.
echo x >afile
run fundus-synth -n 1 --size 200x160 -o afile/sub
expect_status 1 "output under a file"
expect_match "$T/err" "^fundus-synth: cannot create 'afile/sub': " "the folder is named"
expect_empty "$T/out" "no records when nothing was written"
run fundus-synth -n 1 --size 200x160 -o afile
expect_status 1 "output is a file"
expect_match "$T/err" "^fundus-synth: cannot create 'afile': exists and is not a folder$" "a file is no folder"
run fundus-synth -n 1 --size 200x160 -o afile/sub --records r.jsonl
expect_status 1 "output under a file, with --records"
checks=$((checks + 1))
[ ! -e r.jsonl ] || fail "--records file written although the run failed"
run fundus-synth -n 1 --size 200x160 -o rn --records nodir/r.jsonl
expect_status 1 "--records in a missing folder"
expect_match "$T/err" "^fundus-synth: cannot write 'nodir/r\.jsonl': .*No such file" "the records file is named"
checks=$((checks + 1))
[ ! -e rn/synth-000000.jpg ] || fail "photographs made although the records file cannot be written"
mkdir ro
chmod 555 ro
if [ ! -w ro ]; then
  run fundus-synth -n 2 --size 200x160 -o ro
  expect_status 1 "a read-only folder"
  expect_match "$T/err" "^fundus-synth: cannot write 'ro/synth-000000.jpg': " "the file is named"
  expect_empty "$T/out" "no record for an image that was not written"
elif [ -d /proc/self ] && ! (: >/proc/fundus-synth-probe) 2>/dev/null; then
  # Root writes anywhere on a normal file system; /proc takes no new files.
  run fundus-synth -n 2 --size 200x160 -o /proc
  expect_status 1 "a folder that takes no files (/proc)"
  expect_match "$T/err" "^fundus-synth: cannot write '/proc/synth-000000.jpg': " "the file is named"
  expect_empty "$T/out" "no record for an image that was not written"
fi
chmod 755 ro
finish

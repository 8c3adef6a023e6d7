# fundus-convert on the command line: conversions and their warnings,
# malformed input of every format (one line, file and position, exit 1),
# --validate and --strict, split, merge, filter, stats, standard input.
. "$FUNDUS_SOURCE/test/shell/lib.sh"
command -v fundus-convert >/dev/null || skip "fundus-convert is not built"
have_jq=0
command -v jq >/dev/null && have_jq=1

cat >in.json <<'J'
{"info": {"year": 2026},
 "images": [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 30},
            {"id": 2, "file_name": "b.jpg", "width": 40, "height": 30}],
 "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0.1, 0, 0.6, 10],
                  "area": 6, "iscrowd": 0, "segmentation": [], "score": 0.9}],
 "categories": [{"id": 1, "name": "optic_disc", "supercategory": "eye"}]}
J

# COCO to records: every image, the warning names what records cannot keep.
run fundus-convert in.json
expect_status 0 "coco to records"
expect_match "$T/out" '^\{"image":"a.jpg","width":40,"height":30,"objects":\[\{"label":"optic_disc","bbox":\[0.1,0,0.7,10\],"score":0.9\}\]\}$' "the box in the native frame"
expect_match "$T/out" '^\{"image":"b.jpg","width":40,"height":30,"objects":\[\]\}$' "the image without objects is kept"
expect_match "$T/err" "^fundus-convert: warning: 'in.json': records cannot carry: supercategory \(1 category\), info \(1 file\) \(keep them with --save-labels FILE\)$" "one warning line"
[ "$(wc -l <"$T/err")" -eq 1 ] || fail "coco to records: more than one line on stderr: $(cat "$T/err")"
cp "$T/out" r.jsonl

# --save-labels and --labels bring the file back the same.
run fundus-convert --save-labels cats.json -o r2.jsonl in.json
expect_status 0 "--save-labels"
expect_empty "$T/err" "--save-labels keeps everything"
run fundus-convert --labels cats.json --to coco -o back.json r2.jsonl
expect_status 0 "records to coco"
if [ $have_jq -eq 1 ]; then
  checks=$((checks + 1))
  if ! diff <(jq -S . in.json) <(jq -S . back.json) >"$T/diff"; then
    fail "COCO -> records -> COCO differs: $(head -c 800 "$T/diff")"
  fi
fi

# VOC: 1-based; a score cannot go there, and the warning says so.
run fundus-convert --to voc -o voc r.jsonl
expect_status 0 "records to voc"
expect_match "$T/err" '^fundus-convert: warning: VOC cannot carry: score \(1 object\)$' "VOC names the lost score"
expect_match voc/a.xml '<xmin>1.1</xmin>' "xmin = x0 + 1"
expect_match voc/a.xml '<xmax>0.7</xmax>' "xmax = x1"
[ -f voc/b.xml ] || fail "the image without objects has no VOC file"
run fundus-convert voc
expect_status 0 "voc folder to records"
expect_match "$T/out" '"bbox":\[0.1,0,0.7,10\]' "VOC back to the same box"

# --strict: a conversion that would lose something writes nothing.
run fundus-convert --strict --to voc -o voc2 r.jsonl
expect_status 1 "--strict refuses to lose the score"
expect_match "$T/err" "^fundus-convert: --strict: nothing written" "--strict says why"
[ ! -e voc2 ] || fail "--strict wrote voc2"

# Misuse.
run fundus-convert --to voc r.jsonl
expect_status 2 "--to voc without -o"
expect_match "$T/err" "writes a folder: give it with -o DIR" "names the missing -o"
run fundus-convert --to xml r.jsonl
expect_status 2 "an unknown format"
run fundus-convert
expect_status 2 "no input"

# Malformed input of each format: one line, the file and the position, status 1.
printf '{"images": [{"id": 1,\n "file_name": "a' >cut.json
printf '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n <!ENTITY lol2 "&lol;&lol;&lol;">\n]>\n<annotation>&lol2;</annotation>\n' >bomb.xml
printf '<annotation>\n <filename>a.jpg</filename>\n <object><name>x</bndbox></object>\n</annotation>\n' >tag.xml
printf 'image,xmin,ymin,xmax,ymax,label\na.jpg,1,2,3,4,"disc\n' >quote.csv
printf 'image,xmin,ymin,xmax,ymax,label\na.jpg,1e308,2,3,4,disc\n' >big.csv
printf '{"images":[{"id":1}],"annotations":[{"id":1,"image_id":1,"category_id":1,"bbox":[0,0,-5,2]}]}' >neg.json
mkdir -p y/labels && printf '0 0.5 0.5 0.1\n' >y/labels/a.txt && printf 'disc\n' >y/classes.txt
printf '{"image":"a.jpg","objects":[]}\n{"image":\n' >bad.jsonl
for case in "cut.json:line 2, column 15: unterminated string" \
            "bomb.xml:line 2, column 16: a DTD \(<!DOCTYPE>\) is not accepted in a VOC file" \
            "tag.xml:line 3, column 19: mismatched tag" \
            "quote.csv:line 2, column 15: unterminated quoted field" \
            "big.csv:line 2, column 7: 1e308 is out of range \(beyond 2\^31\)" \
            "neg.json:annotations\[0\].bbox: negative width -5" \
            "bad.jsonl:line 2: column 10: unexpected end of line \(JSON cut short\)"; do
  file=${case%%:*}
  msg=${case#*:}
  run fundus-convert "$file"
  expect_status 1 "malformed $file"
  expect_match "$T/err" "^fundus-convert: cannot read '$file': $msg\$" "the message of $file"
  [ "$(wc -l <"$T/err")" -eq 1 ] || fail "$file: not one line: $(cat "$T/err")"
  expect_empty "$T/out" "nothing written for $file"
done
run fundus-convert --no-image-headers y
expect_status 1 "a YOLO file without an image"
run fundus-convert --images r.jsonl y
expect_status 1 "a YOLO line of 4 fields"
expect_match "$T/err" "^fundus-convert: cannot read 'y': 'y/labels/a.txt': line 1: 4 fields" "the YOLO line"

# Several inputs: the others still read, nothing written, a count at the end.
run fundus-convert r.jsonl cut.json
expect_status 1 "one bad input of two"
expect_match "$T/err" "nothing written: 1 of 2 inputs could not be read" "the count"
expect_empty "$T/out" "nothing written"

# Standard input needs the format.
run sh -c 'fundus-convert - <r.jsonl'
expect_status 0 "records on standard input"
run sh -c 'fundus-convert --from csv --to records - <quote.csv'
expect_status 1 "malformed standard input"
expect_match "$T/err" "^fundus-convert: cannot read '-': line 2, column 15: unterminated quoted field$" "'-' is named"

# A pipe can be read once: its format must be given, not guessed (which
# would read it empty for the reader and convert nothing).
run bash -c 'fundus-convert <(cat quote.csv)'
expect_status 1 "a pipe without --from"
expect_match "$T/err" "cannot read .*: the format of a pipe or device must be given \\(--from\\): it can be read only once" "says what to do"
run bash -c 'fundus-convert --from records <(cat r.jsonl)'
expect_status 0 "a pipe with --from"
checks=$((checks + 1))
[ "$(wc -l <"$T/out")" -eq "$(wc -l <r.jsonl)" ] || fail "the pipe's records: $(cat "$T/out")"

# CSV both ways; keras-retinanet's negative row.
run fundus-convert --to csv r.jsonl
expect_status 0 "records to csv"
expect_match "$T/out" '^image,xmin,ymin,xmax,ymax,label$' "the default header"
expect_match "$T/out" '^b.jpg,,,,,$' "an image without objects"
printf '/d/1.jpg,837,346,981,456,cow\n/d/3.jpg,,,,,\n' >k.csv
run fundus-convert k.csv
expect_status 0 "keras-retinanet csv"
expect_match "$T/out" '^\{"image":"/d/3.jpg","objects":\[\]\}$' "the negative row"

# Validation: a JSON report, status 1 on errors; --strict makes warnings errors.
printf '{"image":"a.jpg","width":10,"height":10,"objects":[{"label":"d","bbox":[20,0,30,5]},{"label":"d","bbox":[2,2,2,5]}]}\n{"image":"b.jpg","width":10,"height":10,"objects":[{"label":"d","bbox":[-1,0,5,5]}]}\n' >v.jsonl
run fundus-convert --validate --no-image-headers v.jsonl
expect_status 1 "--validate with errors"
expect_match "$T/out" '"errors":[[:space:]]*2' "two errors"
expect_match "$T/out" '"check":[[:space:]]*"box_outside"' "box outside"
expect_match "$T/out" '"check":[[:space:]]*"empty_box"' "empty box"
printf '{"image":"b.jpg","width":10,"height":10,"objects":[{"label":"d","bbox":[-1,0,5,5]}]}\n' >w.jsonl
run fundus-convert --validate --no-image-headers w.jsonl
expect_status 0 "--validate with a warning only"
expect_match "$T/out" '"warnings":[[:space:]]*1' "one warning"
run fundus-convert --validate --strict --no-image-headers w.jsonl
expect_status 1 "--validate --strict with a warning"
run fundus-convert --strict --no-image-headers -o out.jsonl v.jsonl
expect_status 1 "--strict conversion of annotations with errors"
expect_match "$T/err" "^fundus-convert: error: 'a.jpg': box \[20,0,30,5\] lies outside the 10 x 10 image$" "the issue on stderr"
[ ! -e out.jsonl ] || fail "--strict wrote out.jsonl"

# Split: seeded, byte-identical images together.
: >s.jsonl
for i in $(seq 1 20); do
  if [ $((i % 5)) -eq 0 ]; then printf 'same' >"img$i.png"; else printf 'img %s' "$i" >"img$i.png"; fi
  printf '{"image":"img%s.png","objects":[]}\n' "$i" >>s.jsonl
done
run fundus-convert split --ratio 0.8,0.2 --seed 3 -o parts s.jsonl
expect_status 0 "split"
n=$(cat parts/train.jsonl parts/val.jsonl | wc -l)
[ "$n" -eq 20 ] || fail "split: $n records in the parts, not 20"
checks=$((checks + 1))
if grep -q 'img5.png' parts/train.jsonl; then side=parts/train.jsonl; else side=parts/val.jsonl; fi
for i in 10 15 20; do
  grep -q "\"img$i.png\"" "$side" || fail "split: img$i.png (a copy of img5.png) is not on the side of img5.png"
done
cp parts/train.jsonl train1
run fundus-convert split --ratio 0.8,0.2 --seed 3 -o parts s.jsonl
checks=$((checks + 1))
cmp -s train1 parts/train.jsonl || fail "split: the same seed gave another split"
run fundus-convert --seed 3 --ratio 0.8,0.2 -o parts2 split s.jsonl
expect_status 0 "split after its options"
checks=$((checks + 1))
cmp -s train1 parts2/train.jsonl || fail "split after its options: another split"
run fundus-convert split -o parts s.jsonl
expect_status 2 "split without --ratio"
run fundus-convert split --count 3,2 --seed 1 -o few s.jsonl
expect_status 0 "split by count"
expect_match "$T/err" "records are in no part" "the rest is named"

# Merge with renaming, filter, stats.
printf '{"image":"a.jpg","objects":[{"label":"disc","bbox":[1,1,5,5]},{"label":"cup","bbox":[2,2,3,3]}]}\n' >alice.jsonl
printf '{"image":"a.jpg","width":40,"height":30,"objects":[{"label":"optic_disc","bbox":[1,1,5,5]}]}\n' >bob.jsonl
printf 'disc,optic_disc\n' >rename.csv
run fundus-convert --rename rename.csv --drop-label cup alice.jsonl bob.jsonl
expect_status 0 "merge"
expect_match "$T/out" '^\{"image":"a.jpg","width":40,"height":30,"objects":\[\{"label":"optic_disc","bbox":\[1,1,5,5\]\}\]\}$' "one record, one disc"
run fundus-convert stats r.jsonl
expect_status 0 "stats"
expect_match "$T/out" '"records_without_objects":[[:space:]]*1' "stats: images without objects"
expect_match "$T/out" '"optic_disc":[[:space:]]*1' "stats: per label"

# A full disk is an error.
if [ -w /dev/full ]; then
  fundus-convert r.jsonl >/dev/full 2>"$T/err"
  status=$?
  expect_status 1 "stdout on a full disk"
fi
# Two images with the same file name in different folders cannot share one
# folder of VOC or YOLO files: refused before anything is written.
cat >clash.jsonl <<'JSONL'
{"image":"a/eye.jpg","width":10,"height":10,"objects":[{"label":"optic_disc","bbox":[1,1,5,5]}]}
{"image":"b/eye.jpg","width":10,"height":10,"objects":[]}
JSONL
for to in voc yolo; do
  run fundus-convert -t $to -o "clash-$to" clash.jsonl
  expect_status 1 "$to: two images for one file"
  expect_match "$T/err" "images 'a/eye.jpg' and 'b/eye.jpg' would both be written to 'eye\.(xml|txt)'" "$to names both images"
  checks=$((checks + 1))
  [ -z "$(find "clash-$to" -type f 2>/dev/null)" ] || fail "$to: files written despite the clash"
done

# A label outside a pinned label map is an error for YOLO too, with nothing written.
printf 'optic_disc\n' >only-disc.txt
printf '{"image":"x.jpg","width":10,"height":10,"objects":[{"label":"cup","bbox":[1,1,5,5]}]}\n' >cup.jsonl
run fundus-convert -t yolo --labels only-disc.txt -o yolo-pinned cup.jsonl
expect_status 1 "yolo: label outside --labels"
expect_match "$T/err" 'label "cup" is not in the label map' "yolo names the label"
checks=$((checks + 1))
[ -z "$(find yolo-pinned -type f 2>/dev/null)" ] || fail "yolo: files written despite the bad label"

# The files options name: missing or malformed, each message names the file
# and why, and the exit status is 1.
printf '{"image":"x.jpg","width":10,"height":10,"objects":[]}\n' >one.jsonl
for opt in --labels --rename --images; do
  run fundus-convert $opt missing.file one.jsonl
  expect_status 1 "$opt missing.file"
  expect_match "$T/err" "^fundus-convert: cannot read 'missing\.file': cannot open: No such file or directory$" "$opt: the file and why"
done
printf 'a,b,c\n' >bad-rename.csv
run fundus-convert --rename bad-rename.csv one.jsonl
expect_status 1 "--rename with a bad line"
expect_match "$T/err" "^fundus-convert: cannot read 'bad-rename\.csv': line 1: expected \"from,to\"$" "--rename: file, line and why"
printf 'disc\n\377\n' >bad-labels.txt
run fundus-convert --labels bad-labels.txt one.jsonl
expect_status 1 "--labels not UTF-8"
expect_match "$T/err" "^fundus-convert: cannot read 'bad-labels\.txt': line 2, column 1: invalid UTF-8" "--labels: file, position and why"
run fundus-convert --save-labels no-such-dir/labels.json one.jsonl
expect_status 1 "--save-labels into a missing folder"
expect_match "$T/err" "^fundus-convert: cannot write 'no-such-dir/labels\.json'" "--save-labels: the file"

finish

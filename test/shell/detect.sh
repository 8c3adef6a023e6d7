# fundus-detect: records from files, folders, lists and records; ids, sizes,
# the detection options; the same output with one thread and two; CSV,
# COCO results and overlays; failures named with exit status 1; the output
# file (skipping, "nothing to do", the lock, a repaired last line); misuse.
# The models have random weights (test/helpers/random_model.c): their
# boxes are junk, but every path runs. Most runs use the small disc-centre
# network ([centre] head); the first ones also yolov3-tiny ([yolo] heads).
. "$FUNDUS_SOURCE/test/shell/lib.sh"
command -v jq >/dev/null || skip "jq is not installed (scripts/setup installs it)"
command -v random_model >/dev/null || skip "random_model (test/helpers) is not built"

random_model m.fdm disc-centre 7 optic_disc
random_model y.fdm yolov3-tiny 7 optic_disc
fundus-synth --quiet -n 3 --size 640x480 -o in >truth.jsonl
fundus-synth --quiet -n 1 --start 3 --size 1000x750 -f png -o in >>truth.jsonl

# jqcheck FILE FILTER DESCRIPTION: the filter must give true for the whole file (slurped).
jqcheck() {
  checks=$((checks + 1))
  [ "$(jq -s "$2" "$1" 2>&1)" = "true" ] || fail "$3: jq -s '$2' on $(head -c 600 "$1")"
}

# A folder: one record per image, in name order, ids of the bytes, sizes, boxes.
run fundus-detect -m m.fdm --top 3 in
expect_status 0 "a folder"
expect_empty "$T/err" "no messages when stderr is not a terminal"
cp "$T/out" folder.jsonl
jqcheck folder.jsonl 'map(.image) == ["in/synth-000000.jpg","in/synth-000001.jpg","in/synth-000002.jpg","in/synth-000003.png"]' "images in name order"
jqcheck folder.jsonl 'map([.width, .height]) == [[640,480],[640,480],[640,480],[1000,750]]' "sizes"
jqcheck folder.jsonl 'all(.[]; .objects | length <= 3 and length >= 1)' "--top 3"

jqcheck folder.jsonl 'all(.[]; . as $r | all($r.objects[]; .bbox[2] <= $r.width and .bbox[3] <= $r.height))' "boxes inside the image"
jqcheck folder.jsonl 'all(.[]; .objects | [.[].score] | . == (sort | reverse))' "best box first"
jqcheck folder.jsonl 'map(.detect.scale) == [2,2,2,2] and (map(.detect.model) | unique | length == 1)' "decode scale and model id"
checks=$((checks + 1))
[ "$(jq -r .detect.model folder.jsonl | head -1)" = "sha256:$(sha256sum m.fdm | cut -c1-64)" ] ||
  fail "detect.model is not the model file's SHA-256"
jq -r '.image + " " + .id' folder.jsonl | while read -r img id; do
  [ "sha256:$(sha256sum "$img" | cut -c1-64)" = "$id" ] || echo "bad id $img" >>"$T/bad"
done
checks=$((checks + 1))
[ ! -s "$T/bad" ] || fail "$(cat "$T/bad")"

# A network with [yolo] heads gives records of the same form.
run fundus-detect -m y.fdm --top 2 in
expect_status 0 "yolov3-tiny"
jqcheck "$T/out" 'length == 4 and all(.[]; .objects | length >= 1 and length <= 2) and all(.[].objects[]; .by == "model:y")' "yolov3-tiny records"

# One thread gives the very same output, in the same order.
run fundus-detect -m m.fdm --top 3 -j 1 in
expect_status 0 "one thread"
checks=$((checks + 1))
cmp -s "$T/out" folder.jsonl || fail "-j 1 and -j 2 differ: $(diff "$T/out" folder.jsonl | head -c 600)"

# Names on standard input, by line and by NUL; '-' among the arguments.
ls in/* >list
run fundus-detect -m m.fdm --top 3 <list
expect_status 0 "names on stdin"
checks=$((checks + 1))
cmp -s "$T/out" folder.jsonl || fail "stdin list differs from the folder"
tr '\n' '\0' <list >list0
run fundus-detect -m m.fdm --top 3 -0 - <list0
expect_status 0 "NUL-separated names"
checks=$((checks + 1))
cmp -s "$T/out" folder.jsonl || fail "-0 list differs from the folder"

# Records: their images are read, their fields kept, their objects replaced.
(cd in && sed 's|"image":"in/|"image":"|' ../truth.jsonl) >relative.jsonl
run fundus-detect -m m.fdm --top 1 -r --image-dir in relative.jsonl
expect_status 0 "records with --image-dir"
cp "$T/out" fromrec.jsonl
jqcheck fromrec.jsonl 'length == 4 and all(.[]; (.objects | length == 1) and .objects[0].by == "model:m")' "objects replaced by detections"
jqcheck fromrec.jsonl 'map(.image) == ["synth-000000.jpg","synth-000001.jpg","synth-000002.jpg","synth-000003.png"]' "image paths as in the records"
jqcheck fromrec.jsonl 'all(.[]; .meta.quality != null)' "the records' other fields kept"
run fundus-detect -m m.fdm --top 1 -r <truth.jsonl
expect_status 0 "records on stdin"
checks=$((checks + 1))
[ "$(jq -r .id "$T/out")" = "$(jq -r .id fromrec.jsonl)" ] || fail "records on stdin: other ids"
echo '{"objects":[]}' >noimage.jsonl
run fundus-detect -m m.fdm -r noimage.jsonl
expect_status 1 "a record without an image"
expect_match "$T/err" "^fundus-detect: 'noimage\.jsonl': line 1: the record names no image$" "record without image named"

# Detection options.
run fundus-detect -m m.fdm --threshold 1 in/synth-000000.jpg
expect_status 0 "--threshold 1"
jqcheck "$T/out" 'length == 1 and .[0].objects == []' "an image with nothing found is still a record"
run fundus-detect -m m.fdm --top 0 --nms 0 --threshold 0.3 in/synth-000000.jpg
expect_status 0 "--top 0 --nms 0"
n_all=$(jq '.objects | length' "$T/out")
run fundus-detect -m m.fdm --top 0 --threshold 0.3 in/synth-000000.jpg
n_nms=$(jq '.objects | length' "$T/out")
checks=$((checks + 1))
[ "$n_nms" -le "$n_all" ] || fail "suppression added boxes: $n_nms > $n_all"
run fundus-detect -m m.fdm --timings --top 1 in/synth-000000.jpg
jqcheck "$T/out" '.[0].detect.seconds | keys == ["boxes","decode","infer","prepare","read"]' "--timings"

# CSV and COCO results of the same run.
run fundus-detect -m m.fdm --top 2 --csv r.csv --coco r.json in
expect_status 0 "--csv and --coco"
checks=$((checks + 1))
[ "$(head -1 r.csv)" = "image,width,height,label,score,xmin,ymin,xmax,ymax" ] || fail "CSV header: $(head -1 r.csv)"
checks=$((checks + 1))
[ "$(tail -n +2 r.csv | wc -l)" -eq "$(jq -s 'map(.objects | length) | add' "$T/out")" ] ||
  fail "one CSV row per box: $(cat r.csv)"
jqcheck r.json '.[0] | length == 8 and all(.[]; .category_id == 1) and (map(.image_id) | unique == [1,2,3,4])' "COCO results"
run fundus-convert --to records r.csv
expect_status 0 "the CSV reads back"

# Overlays: one per image, at the size asked, named by stem and id.
run fundus-detect -m m.fdm --top 2 --overlay ov --overlay-size 320 --overlay-format png in
expect_status 0 "--overlay"
checks=$((checks + 1))
[ "$(ls ov | wc -l)" -eq 4 ] || fail "4 overlays expected: $(ls ov)"
id0=$(jq -r .id folder.jsonl | head -1 | cut -c8-15)
run fundus-info "ov/synth-000000.$id0.png"
expect_status 0 "overlay readable"
expect_match "$T/out" '"width":320,"height":240,.*"format":"png"' "overlay format and size"
run fundus-detect -m m.fdm --overlay ov2 in/synth-000003.png
run fundus-info ov2/synth-000003.*.jpg
expect_match "$T/out" '"width":1000,"height":750,.*"format":"jpeg"' "overlay of a small image at its own size"

# A DICOM photograph is read like any other image.
if command -v img2dcm >/dev/null; then
  img2dcm -vlp --no-checks in/synth-000000.jpg eye.dcm >/dev/null 2>&1
  run fundus-detect -m m.fdm --top 1 eye.dcm
  expect_status 0 "DICOM"
  jqcheck "$T/out" '.[0].image == "eye.dcm" and .[0].width == 640 and (.[0].objects | length == 1)' "DICOM record"
fi

# A contact sheet of the run's images; none when nothing was detected.
run fundus-detect -m m.fdm --top 1 --sheet sheet.png --sheet-width 800 --sheet-columns 2 in
expect_status 0 "--sheet"
run fundus-info sheet.png
expect_status 0 "sheet readable"
expect_match "$T/out" '"width":(7[0-9][0-9]|800),.*"format":"png"' "sheet width and format"
run fundus-detect -m m.fdm -o sheetout.jsonl --sheet sheet2.png in/synth-000000.jpg
run fundus-detect -m m.fdm -o sheetout.jsonl --sheet sheet3.png in/synth-000000.jpg
expect_status 3 "nothing new"
checks=$((checks + 1))
[ -f sheet2.png ] && [ ! -e sheet3.png ] || fail "a sheet only when something was detected"
run fundus-detect -m m.fdm --sheet sheet.gif in
expect_status 2 "--sheet of an unknown type"

# Failures: each named, the good images done, exit 1; a non-image in a folder is skipped.
mkdir bad
head -c 2000 in/synth-000001.jpg >bad/truncated.jpg
head -c 5000 /dev/urandom >bad/noise.jpg
cp in/synth-000000.jpg bad/good.jpg
echo "notes" >bad/readme.txt
run fundus-detect -m m.fdm --top 1 bad/truncated.jpg bad/noise.jpg bad/missing.jpg bad/good.jpg
expect_status 1 "failures exit 1"
expect_match "$T/err" "^fundus-detect: cannot decode 'bad/truncated\.jpg': .*(premature end|truncated)" "truncated named"
expect_match "$T/err" "^fundus-detect: cannot decode 'bad/noise\.jpg': " "noise named"
expect_match "$T/err" "^fundus-detect: cannot read 'bad/missing\.jpg': .*No such file" "missing named"
checks=$((checks + 1))
[ "$(jq -r .image "$T/out")" = "bad/good.jpg" ] || fail "the good image: $(cat "$T/out")"
rm bad/truncated.jpg bad/noise.jpg
run fundus-detect -m m.fdm --top 1 bad
expect_status 0 "a folder with a text file"
expect_match "$T/err" "^fundus-detect: warning: skipping 'bad/readme\.txt': not an image$" "non-image skipped"
run fundus-detect -q -m m.fdm --top 1 bad
expect_empty "$T/err" "-q: no warning"

# The output file: new images appended, known ones skipped by content, exit 3 when nothing is new.
run fundus-detect -m m.fdm --top 3 -o out.jsonl in/synth-000000.jpg in/synth-000001.jpg
expect_status 0 "first run on an output file"
expect_empty "$T/out" "nothing on stdout with -o"
run fundus-detect -m m.fdm --top 3 -o out.jsonl in
expect_status 0 "second run: two new images"
checks=$((checks + 1))
cmp -s out.jsonl folder.jsonl || fail "output file differs from the folder's records"
run fundus-detect -m m.fdm --top 3 -o out.jsonl in
expect_status 3 "nothing to do"
mkdir copies
cp in/synth-000002.jpg copies/renamed.jpg
run fundus-detect -m m.fdm --top 3 -o out.jsonl copies/renamed.jpg
expect_status 3 "a renamed copy is done already"
cp in/synth-000001.jpg in/twin.jpg
run fundus-detect -m m.fdm -o twins.jsonl in/synth-000001.jpg in/twin.jpg
expect_status 0 "two copies in one run"
checks=$((checks + 1))
[ "$(wc -l <twins.jsonl)" -eq 1 ] || fail "one record per content in an output file: $(cat twins.jsonl)"
rm in/twin.jpg
run fundus-detect -m m.fdm --top 3 -o out.jsonl --csv - in
expect_status 3 "--csv - with -o"
checks=$((checks + 1))
[ "$(cut -d, -f1 "$T/out" | uniq | wc -l)" -eq 5 ] || fail "CSV on stdout covers the whole output file: $(cat "$T/out")"

# A long output file (3000 other ids; the set of ids grows several times over).
awk 'BEGIN { for (i = 1; i <= 3000; i++) {
  h = ""; for (k = 0; k < 8; k++) h = h sprintf("%08x", (i * 2654435761 + k * 40503) % 2147483647)
  printf "{\"image\":\"old/%d.jpg\",\"id\":\"sha256:%s\",\"objects\":[]}\n", i, h } }' >long.jsonl
head -1 folder.jsonl >>long.jsonl
run fundus-detect -m m.fdm --top 3 -o long.jsonl in
expect_status 0 "a long output file"
checks=$((checks + 1))
[ "$(wc -l <long.jsonl)" -eq 3004 ] && [ "$(tail -n 4 long.jsonl)" = "$(cat folder.jsonl)" ] ||
  fail "long output: $(wc -l <long.jsonl) lines; $(tail -n 4 long.jsonl | cut -c1-80)"

# An interrupted append: half a line at the end is cut off and the image done again.
head -c 300 folder.jsonl >half.jsonl
printf '%s\n' "$(head -1 folder.jsonl)" >resume.jsonl
tail -n +2 folder.jsonl | head -1 | head -c 100 >>resume.jsonl
run fundus-detect -m m.fdm --top 3 -o resume.jsonl in
expect_status 0 "run after an interrupted one"
expect_match "$T/err" "warning: 'resume\.jsonl': cut off an incomplete last line \(100 bytes\) left by an interrupted run" "repair reported"
checks=$((checks + 1))
cmp -s resume.jsonl folder.jsonl || fail "repaired output differs: $(diff resume.jsonl folder.jsonl | head -c 600)"
# A last record without its newline is kept and completed.
head -c -1 folder.jsonl >nonl.jsonl
run fundus-detect -m m.fdm --top 3 -o nonl.jsonl in
expect_status 3 "a whole last record without newline"
checks=$((checks + 1))
cmp -s nonl.jsonl folder.jsonl || fail "newline not restored"

# The lock: another process holds it: exit 4, the file untouched; --wait waits for it.
cp folder.jsonl locked.jsonl
head -2 folder.jsonl >waited.jsonl
flock waited.jsonl sleep 2 &
holder=$!
flock locked.jsonl sleep 3 &
holder2=$!
sleep 0.5
run fundus-detect -m m.fdm --top 3 -o locked.jsonl in
expect_status 4 "locked output"
expect_match "$T/err" "'locked\.jsonl' is in use by another run" "lock reported"
run fundus-detect -m m.fdm --top 3 --wait -o waited.jsonl in
expect_status 0 "--wait"
checks=$((checks + 1))
cmp -s waited.jsonl folder.jsonl || fail "--wait: output differs"
wait "$holder" "$holder2"

# Progress and the summary only on a terminal (script(1) gives it one).
if command -v script >/dev/null; then
  script -qec "fundus-detect -m m.fdm --top 1 in >/dev/null" /dev/null >tty.txt 2>&1
  expect_match tty.txt 'fundus-detect: detecting 4/4 \(100%\)' "progress on a terminal"
  expect_match tty.txt 'fundus-detect: 4 images: 4 detected, 0 done already, 0 failed \(' "summary on a terminal"
  script -qec "fundus-detect -q -m m.fdm --top 1 in >/dev/null" /dev/null >tty.txt 2>&1
  expect_empty tty.txt "-q: no progress on a terminal"
fi

# Misuse and a bad model.
run fundus-detect in
expect_status 2 "no model"
expect_match "$T/err" "no model" "no model named"
run fundus-detect -m m.fdm --threshold 2 in
expect_status 2 "threshold out of range"
run fundus-detect -m m.fdm --overlay-format gif in
expect_status 2 "bad overlay format"
run fundus-detect -m m.fdm --image-dir x in
expect_status 2 "--image-dir without -r"
run fundus-detect -m m.fdm --csv - in
expect_status 2 "--csv - with records on stdout"
run fundus-detect -m nope.fdm in
expect_status 1 "missing model"
expect_match "$T/err" "^fundus-detect: cannot load the model 'nope\.fdm': " "missing model named"
head -c 1000 m.fdm >cut.fdm
run fundus-detect -m cut.fdm in
expect_status 1 "truncated model"
expect_match "$T/err" "^fundus-detect: cannot load the model 'cut\.fdm': " "truncated model named"
run fundus-detect -m m.fdm empty-folder-that-does-not-exist/
expect_status 1 "a missing input"
mkdir empty
run fundus-detect -m m.fdm empty
expect_status 3 "no images: nothing to do"
run fundus-detect --help
expect_status 0 "--help"
expect_match "$T/out" "^Usage: fundus-detect " "usage line"
finish

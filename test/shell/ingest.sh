# fundus-ingest: records on stdout and in the index, re-ingest, lists on
# stdin, every failure kind named with exit status 1, patient data kept out
# of the dataset, two processes at once, misuse.
. "$FUNDUS_SOURCE/test/shell/lib.sh"

command -v jq >/dev/null || skip "jq is not installed (scripts/setup installs it)"

fundus-synth --quiet -n 3 --size 320x240 -o in >synth.jsonl

# Three JPEG files into a new dataset.
run fundus-ingest -o ds in
expect_status 0 "ingest a folder"
expect_empty "$T/err" "no messages"
checks=$((checks + 1))
[ "$(wc -l <"$T/out")" -eq 3 ] || fail "3 records expected: $(cat "$T/out")"
checks=$((checks + 1))
[ "$(wc -l <ds/records.jsonl)" -eq 3 ] || fail "3 records in the index"
expect_match "$T/out" '^\{"image":"ds/img/[0-9a-f]{2}/[0-9a-f]{64}\.jpg","id":"sha256:[0-9a-f]{64}","width":320,"height":240,"source":\{"path":"in/synth-000000\.jpg","format":"jpeg"' "record form"
expect_match ds/records.jsonl '^\{"image":"img/' "index paths relative to the dataset"
# The id is the stored file's SHA-256, and the file is the original.
jq -r '.image + " " + .id' "$T/out" | while read -r img id; do
  [ "sha256:$(sha256sum "$img" | cut -c1-64)" = "$id" ] || echo "bad id $img" >>"$T/bad"
done
jq -r '.source.path + " " + .image' "$T/out" | while read -r src img; do
  cmp -s "$src" "$img" || echo "not the original bytes: $img" >>"$T/bad"
done
checks=$((checks + 1))
[ ! -s "$T/bad" ] || fail "$(cat "$T/bad")"
cp "$T/out" first.jsonl

# Again, through a NUL-separated list on stdin: nothing changes, the same records.
find in -name '*.jpg' -print0 | sort -z >list0
run fundus-ingest -0 -o ds <list0
expect_status 0 "re-ingest from a list"
checks=$((checks + 1))
[ "$(jq -r .id "$T/out" | sort)" = "$(jq -r .id first.jsonl | sort)" ] || fail "re-ingest gave other ids"
checks=$((checks + 1))
[ "$(wc -l <ds/records.jsonl)" -eq 3 ] || fail "re-ingest added records"
run fundus-ingest --new-only -o ds - <list0
expect_status 0 "--new-only"
expect_empty "$T/out" "--new-only prints nothing for known images"

# Every kind of failure, named, the good file ingested, exit 1.
mkdir bad
head -c 3000 in/synth-000001.jpg >bad/truncated.jpg
fundus-synth --quiet -n 1 --size 64x48 -f png -o p >/dev/null
cp p/synth-000000.png bad/good.png
{ head -c 200 bad/good.png; head -c 400 /dev/zero; tail -c +601 bad/good.png; } >bad/corrupt.png
echo "not a picture" >bad/notes.txt
printf 'Salted__0123456789abcdef' >bad/secret.enc
printf -- '-----BEGIN PGP MESSAGE-----\n\nhQEMA\n' >bad/export.asc
run fundus-ingest -o ds2 bad/truncated.jpg bad/corrupt.png bad/notes.txt bad/secret.enc \
  bad/export.asc bad/missing.jpg bad/good.png
expect_status 1 "failures exit 1"
expect_match "$T/err" "^fundus-ingest: cannot ingest 'bad/truncated\.jpg': .*(premature end|truncated)" "truncated"
expect_match "$T/err" "^fundus-ingest: cannot ingest 'bad/corrupt\.png': " "corrupt"
expect_match "$T/err" "^fundus-ingest: cannot ingest 'bad/notes\.txt': not an image format" "unsupported"
expect_match "$T/err" "^fundus-ingest: cannot ingest 'bad/secret\.enc': encrypted: OpenSSL" "encrypted (openssl)"
expect_match "$T/err" "^fundus-ingest: cannot ingest 'bad/export\.asc': encrypted: an OpenPGP message" "encrypted (pgp)"
expect_match "$T/err" "^fundus-ingest: cannot ingest 'bad/missing\.jpg': .*No such file" "missing"
checks=$((checks + 1))
[ "$(grep -c 'cannot ingest' "$T/err")" -eq 6 ] || fail "6 failures expected: $(cat "$T/err")"
checks=$((checks + 1))
[ "$(wc -l <"$T/out")" -eq 1 ] && grep -q '"path":"bad/good.png"' "$T/out" || fail "the good file: $(cat "$T/out")"
# In a folder, the text file is skipped with a warning; the others still fail.
run fundus-ingest -o ds2 bad
expect_status 1 "folder with failures"
expect_match "$T/err" "warning: skipping 'bad/notes\.txt': not an image" "skipped in a folder"
expect_no_match "$T/err" "cannot ingest 'bad/notes\.txt'" "not a failure in a folder"
run fundus-ingest -q -o ds2 bad/good.png
expect_status 0 "a good file alone"

# DICOM with a patient's name and ID: none of it anywhere in the dataset.
if command -v img2dcm >/dev/null && command -v dcmodify >/dev/null; then
  img2dcm -vlp --no-checks in/synth-000002.jpg phi.dcm >/dev/null 2>&1
  dcmodify -nb -i "(0010,0010)=Roe^Richard" -i "(0010,0020)=MRN-778899" \
    -i "(0010,0030)=19511224" -i "(0020,0062)=L" phi.dcm >/dev/null 2>&1
  run fundus-ingest -o ds3 phi.dcm
  expect_status 0 "DICOM"
  expect_match "$T/out" '"format":"dicom","frame":0' "DICOM source"
  expect_match "$T/out" '"laterality":"L"' "laterality"
  expect_match "$T/out" '"image":"ds3/img/[0-9a-f]{2}/[0-9a-f]{64}\.png"' "a PNG working copy"
  checks=$((checks + 1))
  if grep -rlaE 'Roe\^Richard|Richard|MRN-778899|19511224|1951-12-24' ds3 "$T/out"; then
    fail "patient data in the dataset or the output"
  fi
  run fundus-ingest --keep-phi -o ds4 phi.dcm
  expect_match "$T/out" '"patient":\{"name":"Roe\^Richard","id":"MRN-778899","birth_date":"1951-12-24"' "--keep-phi"
  checks=$((checks + 1))
  if grep -rlaE 'Richard|MRN-778899' ds4/img; then
    fail "patient data in a working copy"
  fi
else
  echo "note: DCMTK is missing, DICOM part skipped"
fi

# Two processes at once into one dataset: each image once, each there.
fundus-synth --quiet -n 12 --size 160x120 -f png -o many >/dev/null
ls many/*.png >fwd
sort -r fwd >back
fundus-ingest -q -j 1 -o ds5 - <fwd >o1 &
p1=$!
fundus-ingest -q -j 1 -o ds5 - <back >o2 &
p2=$!
wait $p1
s1=$?
wait $p2
s2=$?
checks=$((checks + 1))
[ $s1 -eq 0 ] && [ $s2 -eq 0 ] || fail "concurrent ingests failed: $s1 $s2"
checks=$((checks + 1))
[ "$(wc -l <ds5/records.jsonl)" -eq 12 ] || fail "12 records expected, not $(wc -l <ds5/records.jsonl)"
checks=$((checks + 1))
[ "$(jq -r .id ds5/records.jsonl | sort -u | wc -l)" -eq 12 ] || fail "an image indexed twice"
checks=$((checks + 1))
[ "$(wc -l <o1)" -eq 12 ] && [ "$(wc -l <o2)" -eq 12 ] || fail "each process prints 12 records"
checks=$((checks + 1))
[ -z "$(find ds5 -name '*.tmp*')" ] || fail "temporary files left"

# Misuse.
run fundus-ingest in
expect_status 2 "no dataset"
expect_match "$T/err" "no dataset folder" "no dataset message"
run fundus-ingest -o ds --format gif in
expect_status 2 "bad format"
run fundus-ingest -o ds --long-side 0 in
expect_status 2 "bad long side"
run fundus-ingest --help
expect_status 0 "--help"
expect_match "$T/out" "--keep-phi" "--help lists the options"

finish

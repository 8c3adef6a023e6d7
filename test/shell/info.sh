# fundus-info: image headers, decoding, and the error paths for damaged
# images and broken record lines (file named, line named, status 1, the
# other files still processed).
. "$FUNDUS_SOURCE/test/shell/lib.sh"

fundus-synth --quiet -n 1 --seed 3 --size 96x64 --format jpeg -o jpg >/dev/null
fundus-synth --quiet -n 1 --seed 3 --size 96x64 --format png -o png >/dev/null
fundus-synth --quiet -n 1 --seed 3 --size 96x64 --format tiff -o tif >/dev/null
jpg=$(ls jpg/*) png=$(ls png/*) tif=$(ls tif/*)

# Headers of all three formats, recognised by content even when misnamed.
cp "$png" misnamed.jpg
run fundus-info "$jpg" "$png" "$tif" misnamed.jpg
expect_status 0 "fundus-info on good images"
checks=$((checks + 1))
[ "$(jq -r '.source.format' "$T/out" | tr '\n' ' ')" = "jpeg png tiff png " ] ||
  fail "formats: $(jq -r '.source.format' "$T/out" | tr '\n' ' ')"
checks=$((checks + 1))
[ "$(jq -r '"\(.width)x\(.height)"' "$T/out" | sort -u)" = "96x64" ] || fail "sizes: $(cat "$T/out")"

# Standard input.
run fundus-info --decode - <"$jpg"
expect_status 0 "fundus-info --decode -"
expect_match "$T/out" '"image":"-"' "stdin is named -"

# Truncated files: one line each, naming the file, status 1, others go on.
for f in "$jpg" "$png" "$tif"; do
  ext=${f##*.}
  size=$(stat -c %s "$f")
  head -c $((size * 2 / 3)) "$f" >"cut.$ext"
  run fundus-info --decode "cut.$ext" "$jpg"
  expect_status 1 "truncated $ext"
  expect_match "$T/err" "^fundus-info: cannot (read|decode) 'cut\.$ext': .+" "truncated $ext is named"
  checks=$((checks + 1))
  [ "$(wc -l <"$T/err")" -eq 1 ] || fail "truncated $ext: more than one line: $(cat "$T/err")"
  checks=$((checks + 1))
  [ "$(wc -l <"$T/out")" -eq 1 ] || fail "truncated $ext: the good file was not described"
done

# Corrupt: the middle of each file overwritten with junk.
for f in "$jpg" "$png" "$tif"; do
  ext=${f##*.}
  cp "$f" "bad.$ext"
  size=$(stat -c %s "$f")
  printf '\377\377\377\377\000\000\000\000\377\001\002\003%.0s' $(seq 40) |
    dd of="bad.$ext" bs=1 seek=$((size / 3)) conv=notrunc status=none
  run fundus-info --decode "bad.$ext"
  expect_status 1 "corrupt $ext"
  expect_match "$T/err" "^fundus-info: cannot (read|decode) 'bad\.$ext': .+" "corrupt $ext is named"
done

# Not an image at all, an empty file, a missing file.
echo "hello" >text.jpg
: >empty.png
run fundus-info text.jpg empty.png missing.tif
expect_status 1 "non-images"
expect_match "$T/err" "^fundus-info: cannot read 'text\.jpg': not an image format" "text file"
expect_match "$T/err" "^fundus-info: cannot read 'empty\.png': empty file" "empty file"
expect_match "$T/err" "^fundus-info: cannot read 'missing\.tif': .*No such file" "missing file"

# Oversized: a JPEG whose frame header claims 65000 x 65000 pixels.
off=$(LC_ALL=C grep -obUaP '\xff\xc0' "$jpg" | head -1 | cut -d: -f1)
cp "$jpg" huge.jpg
printf '\375\350\375\350' | dd of=huge.jpg bs=1 seek=$((off + 5)) conv=notrunc status=none
run fundus-info --decode huge.jpg
expect_status 1 "oversized JPEG"
expect_match "$T/err" "^fundus-info: cannot (read|decode) 'huge\.jpg': .*(limit|large)" "oversized JPEG names the limit"
# And a limit set on the command line.
run fundus-info --decode --max-pixels 1000 "$png"
expect_status 1 "--max-pixels"
expect_match "$T/err" "^fundus-info: cannot decode '.*': .*limit" "--max-pixels names the limit"

# Record streams: good lines pass, each bad line is named with its number.
cat >good.jsonl <<'JSONL'
{"image":"a.jpg","width":10,"height":10,"objects":[{"label":"optic_disc","bbox":[1,2,3,4]}]}

{"image":"b.jpg","objects":[]}
JSONL
run fundus-info --records good.jsonl
expect_status 0 "good records"
expect_match "$T/out" '"records":2,"objects":1,"without_objects":1,"bad_lines":0' "record summary"

cat >broken.jsonl <<'JSONL'
{"image":"a.jpg","objects":[]}
{"image":"b.jpg","objects":[{"label":"optic_disc","bbox":[1,2,3]}]}
not json at all
{"image":"c.jpg","width":-5}
{"image":"d.jpg","objects":[]}
{"image":"e.jpg",
JSONL
run fundus-info --records broken.jsonl
expect_status 1 "broken records"
expect_match "$T/err" "^fundus-info: 'broken\.jsonl': line 2: .*bbox" "line 2 named"
expect_match "$T/err" "^fundus-info: 'broken\.jsonl': line 3: " "line 3 named"
expect_match "$T/err" "^fundus-info: 'broken\.jsonl': line 4: .*width" "line 4 named"
expect_match "$T/err" "^fundus-info: 'broken\.jsonl': line 6: " "line 6 (truncated) named"
expect_match "$T/out" '"records":2,.*"bad_lines":4' "good lines still counted"

# A full disk on standard output: said once, and the run stops.
if [ -w /dev/full ]; then
  fundus-info "$jpg" "$png" "$tif" >/dev/full 2>"$T/err"
  status=$?
  expect_status 1 "records to a full disk"
  expect_match "$T/err" "^fundus-info: cannot write to standard output: .*No space left" "the write error"
  checks=$((checks + 1))
  [ "$(wc -l <"$T/err")" -eq 1 ] || fail "a full disk: more than one line: $(cat "$T/err")"
fi

# A record stream that cannot be opened.
run fundus-info --records missing.jsonl good.jsonl
expect_status 1 "a missing record stream"
expect_match "$T/err" "^fundus-info: cannot read 'missing\.jsonl': .*No such file" "the missing stream is named"
expect_match "$T/out" '"file":"good.jsonl"' "the other stream is still checked"

# Misuse.
run fundus-info
expect_status 2 "no files"
run fundus-info --scale 0 x
expect_status 2 "--scale 0"
expect_match "$T/err" "scale" "--scale is named"
run fundus-info --records --decode good.jsonl
expect_status 2 "--records with --decode"
expect_match "$T/err" "^fundus-info: --records does not go with --decode" "the conflict is named"
expect_empty "$T/out" "misuse prints nothing"
finish

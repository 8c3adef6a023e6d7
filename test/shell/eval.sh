# fundus-eval: the table, --json (parsed with jq, figures worked out by
# hand), the per-image rows in TSV and JSON Lines, --label and --iou,
# pairing by file name, standard input, COCO files through fundus-convert's
# readers, and the error paths with their exit statuses.
. "$FUNDUS_SOURCE/test/shell/lib.sh"
command -v jq >/dev/null || skip "jq is not installed (scripts/setup installs it)"

# Four images: a disc found (IoU 9500/10500), one found badly (IoU .43, and
# paired by file name), one image with no disc but a false positive, one
# disc without any prediction.
cat >gt.jsonl <<'EOF'
{"image":"eyes/a.jpg","width":300,"height":300,"objects":[{"label":"optic_disc","bbox":[100,100,200,200]}]}
{"image":"eyes/b.jpg","width":300,"height":300,"objects":[{"label":"optic_disc","bbox":[10,10,60,60]}]}
{"image":"eyes/c.jpg","width":300,"height":300,"objects":[]}
{"image":"eyes/d.jpg","width":300,"height":300,"objects":[{"label":"optic_disc","bbox":[0,0,40,40]}]}
EOF
cat >pred.jsonl <<'EOF'
{"image":"eyes/a.jpg","objects":[{"label":"optic_disc","bbox":[105,100,205,200],"score":0.9}]}
{"image":"/elsewhere/b.jpg","objects":[{"label":"optic_disc","bbox":[30,10,80,60],"score":0.8}]}
{"image":"eyes/c.jpg","objects":[{"label":"optic_disc","bbox":[0,0,10,10],"score":0.3}]}
EOF

# jqcheck FILE FILTER DESCRIPTION: the filter must give true.
jqcheck() {
  checks=$((checks + 1))
  [ "$(jq "$2" "$1" 2>&1)" = "true" ] || fail "$3: jq '$2' on $(head -c 600 "$1")"
}

# The table: pycocotools' twelve lines, then the one-object figures.
run fundus-eval gt.jsonl pred.jsonl
expect_status 0 "fundus-eval on records"
expect_empty "$T/err" "no warnings"
expect_match "$T/out" '^ground truth: 4 images, 3 boxes, 1 label$' "counts of the ground truth"
expect_match "$T/out" '^predictions: 3 boxes on 3 images \(1 image has none\)$' "counts of the predictions"
expect_match "$T/out" '^ Average Precision  \(AP\) @\[ IoU=0\.50      \| area=   all \| maxDets=100 \] = 0\.337$' "AP50 line"
expect_match "$T/out" '^ Average Precision  \(AP\) @\[ IoU=0\.50:0\.95 \| area= small \| maxDets=100 \] = -1\.000$' "APs undefined"
expect_match "$T/out" '^ Average Recall     \(AR\) @\[ IoU=0\.50:0\.95 \| area= large \| maxDets=100 \] = 0\.900$' "ARl line"
checks=$((checks + 1))
[ "$(grep -c 'Average' "$T/out")" -eq 12 ] || fail "not twelve COCO lines: $(cat "$T/out")"
expect_match "$T/out" '^one box per image, optic_disc: 3 images, 1 without a predicted box$' "one-object heading"
expect_match "$T/out" 'detection rate, top box IoU >= 0\.5 +0\.333  \(1 of 3\)' "detection rate"
expect_match "$T/out" 'mean IoU of the top box +0\.444' "mean IoU"
expect_match "$T/out" 'median 0\.400, 95th percentile inf' "centre error"

# JSON: one object, numbers exact. AP50: [TP, FP, FP] over 3 discs, so
# precision P1 = 1/(1+2^-52) at the recall points 0 .. .33 (34 of 101).
run fundus-eval --json gt.jsonl pred.jsonl
expect_status 0 "fundus-eval --json"
cp "$T/out" summary.json
checks=$((checks + 1))
[ "$(wc -l <summary.json)" -eq 1 ] || fail "--json is not one line"
jqcheck summary.json '.coco.AP50 - 34/101 | . < 1e-12 and . > -1e-12' "AP50 = 34/101"
jqcheck summary.json '.coco.APs == -1 and .coco.ARs == -1' "small undefined"
jqcheck summary.json '.coco.AR100 == 0.3' "AR100: 9 of 30 threshold-images"
jqcheck summary.json '.images == {"ground_truth":4,"predicted":3,"without_prediction":1,"duplicates":0}' "image counts"
jqcheck summary.json '.single.images == 3 and .single.hits == 1 and .single.missing == 1' "one-object counts"
jqcheck summary.json '.single.detection_rate == 1/3' "detection rate"
jqcheck summary.json '.single.mean_iou == (9500/10500 + 1500/3500) / 3' "mean IoU"
jqcheck summary.json '.single.centre_error == {"median":0.4,"p95":null}' "centre error"
jqcheck summary.json '.labels | length == 1 and .[0].label == "optic_disc" and .[0].pred_boxes == 3' "labels"

# The per-image rows: TSV, and JSON Lines with --json.
run fundus-eval --per-image rows.tsv gt.jsonl pred.jsonl
expect_status 0 "--per-image"
checks=$((checks + 1))
cat >want.tsv <<'EOF'
image	id	label	gt	pred	iou	centre_error	score	result
eyes/a.jpg	-	optic_disc	1	1	0.904762	0.050000	0.9	hit
eyes/b.jpg	-	optic_disc	1	1	0.428571	0.400000	0.8	miss
eyes/c.jpg	-	optic_disc	0	1	-	-	0.3	-
eyes/d.jpg	-	optic_disc	1	0	0.000000	inf	-	miss
EOF
diff want.tsv rows.tsv >"$T/diff" || fail "per-image TSV: $(cat "$T/diff")"
run fundus-eval --json --per-image rows.jsonl gt.jsonl pred.jsonl
expect_status 0 "--json --per-image"
checks=$((checks + 1))
[ "$(jq -c '[.image, .gt, .pred, .hit]' rows.jsonl | tr -d '\n')" = \
  '["eyes/a.jpg",1,1,true]["eyes/b.jpg",1,1,false]["eyes/c.jpg",0,1,null]["eyes/d.jpg",1,0,false]' ] ||
  fail "per-image JSON Lines: $(cat rows.jsonl)"
run fundus-eval --per-image - gt.jsonl pred.jsonl
expect_match "$T/out" '^eyes/d\.jpg	-	optic_disc	1	0	' "--per-image - goes to stdout after the table"

# --iou moves the detection rate, not the COCO numbers.
run fundus-eval --json --iou 0.4 gt.jsonl pred.jsonl
jqcheck "$T/out" '.single.hits == 2 and .iou_threshold == 0.4' "--iou 0.4"
jqcheck "$T/out" '.coco.AP50 - 34/101 | . < 1e-12 and . > -1e-12' "--iou leaves AP50"

# --label, and labels only one side has.
sed 's/"objects":\[\]/"objects":[{"label":"cup","bbox":[5,5,15,15]}]/' gt.jsonl >gt2.jsonl
run fundus-eval --json gt2.jsonl pred.jsonl
jqcheck "$T/out" '[.labels[].label] == ["cup","optic_disc"] and (.single == null)' "two labels"
jqcheck "$T/out" '.labels[0].coco.AP == 0 and .labels[0].pred_boxes == 0' "cup missed"
jqcheck "$T/out" '.coco.AP50 - (34/101)/2 | . < 1e-12 and . > -1e-12' "mean over labels"
run fundus-eval --json --label optic_disc gt2.jsonl pred.jsonl
jqcheck "$T/out" '[.labels[].label] == ["optic_disc"] and .single.images == 3' "--label"
run fundus-eval gt2.jsonl pred.jsonl
expect_match "$T/out" '^cup +1 +0 +0 +0\.000' "a line per label"

# Pairing: --exact-paths does not pair b.jpg by its file name; an image the
# ground truth lacks is warned about.
run fundus-eval --json --exact-paths gt.jsonl pred.jsonl
expect_status 0 "--exact-paths"
jqcheck "$T/out" '.images.predicted == 2 and .predictions.unmatched == 1' "--exact-paths pairs by path only"
expect_match "$T/err" "^fundus-eval: warning: 1 prediction records name no image of the ground truth and are ignored \(the first: '/elsewhere/b\.jpg'\)$" "unmatched warned"
run fundus-eval --quiet --exact-paths gt.jsonl pred.jsonl
expect_empty "$T/err" "--quiet"
printf '{"image":"left/eyes/a.jpg","objects":[{"label":"optic_disc","bbox":[0,0,1,1]}]}\n' >>gt.jsonl
printf '{"image":"a.jpg","objects":[]}\n' >amb.jsonl
run fundus-eval --json gt.jsonl amb.jsonl
jqcheck "$T/out" '.predictions.ambiguous == 1 and .images.predicted == 0' "ambiguous file name"
expect_match "$T/err" "fit several ground-truth images by file name" "ambiguity warned"
sed -i '$d' gt.jsonl

# Standard input for either side.
run fundus-eval --json gt.jsonl - <pred.jsonl
cmp -s "$T/out" summary.json || fail "predictions on stdin: $(cat "$T/out")"
checks=$((checks + 1))
run fundus-eval --json - pred.jsonl <gt.jsonl
cmp -s "$T/out" summary.json || fail "ground truth on stdin: $(cat "$T/out")"
checks=$((checks + 1))

# COCO instances and COCO results, through fundus-convert's readers: the same numbers.
if command -v fundus-convert >/dev/null; then
  fundus-convert --quiet --no-image-headers --to coco -o gt.json gt.jsonl
  fundus-convert --quiet --no-image-headers --images gt.jsonl --to coco-results -o res.json pred.jsonl
  run fundus-eval --json gt.json res.json
  expect_status 0 "COCO and COCO results"
  jqcheck "$T/out" '.coco | type == "object"' "COCO output"
  checks=$((checks + 1))
  [ "$(jq -c .coco "$T/out")" = "$(jq -c .coco summary.json)" ] ||
    fail "COCO files give other numbers: $(jq -c .coco "$T/out") vs $(jq -c .coco summary.json)"
  run fundus-eval --json gt.jsonl res.json
  expect_status 0 "records and COCO results"
  checks=$((checks + 1))
  [ "$(jq -c .coco "$T/out")" = "$(jq -c .coco summary.json)" ] ||
    fail "COCO results against records: $(jq -c .coco "$T/out")"
  run fundus-eval --json --gt-format coco --pred-format coco-results - res.json <gt.json
  expect_status 0 "formats given, COCO on stdin"
  # Annotation ids from 0 (as Roboflow writes them): pycocotools' bug on request only.
  jq '.annotations[].id -= 1' gt.json >gt0.json
  run fundus-eval --json gt0.json res.json
  jqcheck "$T/out" '.gt_boxes_with_id_0 == 1 and (.coco == '"$(jq -c .coco summary.json)"')' "id 0 scored normally"
  expect_match "$T/err" "1 ground-truth boxes have COCO annotation id 0; pycocotools counts" "id 0 warned"
  run fundus-eval --json --pycocotools-id0 gt0.json res.json
  jqcheck "$T/out" '.pycocotools_id0 and .coco.AR100 == 0 and .coco.AP == 0' "--pycocotools-id0 misses the first disc"
  run fundus-eval --gt-format coco gt.jsonl pred.jsonl
  expect_status 1 "records read as COCO"
  expect_match "$T/err" "^fundus-eval: 'gt\.jsonl': " "wrong format named"
fi

# Errors: a missing file, bad lines (each named), no ground truth, no boxes.
run fundus-eval missing.jsonl pred.jsonl
expect_status 1 "missing ground truth"
expect_match "$T/err" "^fundus-eval: cannot read 'missing\.jsonl': .*No such file" "missing file named"
expect_empty "$T/out" "nothing on stdout after a failure"
run fundus-eval gt.jsonl missing.jsonl
expect_status 1 "missing predictions"
expect_match "$T/err" "^fundus-eval: cannot read 'missing\.jsonl': .*No such file" "missing predictions named"
{
  head -n 2 gt.jsonl
  echo '{"image":"x.jpg","objects":[{"label":"optic_disc","bbox":[1,2,3]}]}'
  sed -n 3,4p gt.jsonl
  echo '{"image": '
} >bad.jsonl
run fundus-eval bad.jsonl pred.jsonl
expect_status 1 "bad ground-truth lines"
expect_match "$T/err" "^fundus-eval: 'bad\.jsonl': line 3: objects\[0\]\.bbox: " "bad line 3 named"
expect_match "$T/err" "^fundus-eval: 'bad\.jsonl': line 6: " "bad line 6 named too"
expect_empty "$T/out" "no figures from bad input"
run fundus-eval gt.jsonl bad.jsonl
expect_status 1 "bad prediction lines"
expect_match "$T/err" "^fundus-eval: 'bad\.jsonl': line 3: " "bad prediction line named"
: >empty.jsonl
run fundus-eval empty.jsonl pred.jsonl
expect_status 1 "empty ground truth"
expect_match "$T/err" "^fundus-eval: 'empty\.jsonl': no ground truth$" "no ground truth"
printf '{"image":"eyes/a.jpg","objects":[]}\n' >nobox.jsonl
run fundus-eval nobox.jsonl pred.jsonl
expect_status 1 "ground truth without boxes"
expect_match "$T/err" "^fundus-eval: 'nobox\.jsonl': the ground truth has no boxes$" "no boxes"
run fundus-eval --label cup gt.jsonl pred.jsonl
expect_status 1 "--label absent from the ground truth"
expect_match "$T/err" "no ground-truth box is labelled 'cup'" "absent label named"
run fundus-eval --per-image /nonexistent/dir/rows.tsv gt.jsonl pred.jsonl
expect_status 1 "unwritable --per-image"
expect_match "$T/err" "cannot open '/nonexistent/dir/rows\.tsv': No such file" "unwritable --per-image named"
run fundus-eval --per-image /dev/full gt.jsonl pred.jsonl
expect_status 1 "--per-image that fills up"
expect_match "$T/err" "^fundus-eval: cannot write '/dev/full': No space left on device$" "failed --per-image write named with why"
run fundus-eval --labels missing.labels gt.jsonl pred.jsonl
expect_status 1 "missing --labels file"
expect_match "$T/err" "^fundus-eval: cannot read 'missing\.labels': " "missing --labels file named"
expect_empty "$T/out" "nothing on stdout without the label map"

# Misuse: exit 2.
for args in "gt.jsonl" "a b c" "--iou 0 gt.jsonl pred.jsonl" "--iou x gt.jsonl pred.jsonl" \
  "--gt-format nope gt.jsonl pred.jsonl" "- -" "--label= gt.jsonl pred.jsonl"; do
  # shellcheck disable=SC2086
  run fundus-eval $args </dev/null
  expect_status 2 "fundus-eval $args"
  expect_match "$T/err" "Try 'fundus-eval --help'" "fundus-eval $args points to --help"
done
finish

# fundus-serve's page in headless Chromium: open it, upload a synthetic
# photograph through its file input, and check that the page shows the
# record the API gives for the same image and draws each of its boxes on
# the canvas where the API says. The screenshot is kept next to the test
# output: $FUNDUS_BUILD/test/serve_page.png.
#
# Where the boxes are drawn is what is checked, whatever they mean. In a
# build without sanitizers the model is trained for 15 s on synthetic
# photographs, so that the screenshot shows boxes on the disc; under the
# sanitizers training that long gives nothing better than random weights,
# so random weights it is (junk boxes, but boxes).
. "$FUNDUS_SOURCE/test/shell/lib.sh"
. "$FUNDUS_SOURCE/test/shell/serve.inc"
chromium=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$chromium" ] || skip "chromium is not installed (scripts/setup installs it)"
py=$(command -v python3 || true)
[ -n "$py" ] || skip "python3 is not installed (scripts/setup installs it)"

if [ -z "${FUNDUS_TEST_CFLAGS:-}" ] && command -v fundus-train >/dev/null; then
  fundus-synth -q -n 40 --size 640x480 --seed 21 -o train >train.jsonl
  run fundus-train -q -o m.fdm --time 15 --epoch-size 128 train.jsonl
  expect_status 0 "fundus-train for the page's model"
  echo "model: trained for 15 s on 40 synthetic photographs"
else
  random_model m.fdm yolov3-tiny 3 || { fail "random_model"; finish; exit 1; }
  echo "model: random weights"
fi
fundus-synth -q -n 1 --size 1024x768 --seed 5 -o synth >synth.jsonl
img=$(ls synth/*.jpg)
serve_start page -m m.fdm -j 2

# What the API says, with the page's own defaults (its threshold, nms and top fields).
req api --data-binary @"$img" "$URL/v1/detect?threshold=0.05&nms=0.45&top=5"
expect_code 200 "the API on the image"
cp "$T/api.body" api.json
jqcheck api.json '.objects | length > 0' "the API finds boxes to draw"

shot="$FUNDUS_BUILD/test/serve_page.png"
mkdir -p "$(dirname "$shot")"
rm -f "$shot"
"$py" "$FUNDUS_SOURCE/test/shell/serve_page.py" "$chromium" "$URL/" "$img" api.json "$shot" \
  >page.json 2>page.err
status=$?
expect_status 0 "driving Chromium ($(tail -c 600 page.err) $(tail -c 600 chromium.log 2>/dev/null))"
echo "screenshot: $shot"
checks=$((checks + 1))
[ -s "$shot" ] || fail "no screenshot"
jqcheck page.json '.state == "done"' "the page finished ($(jq -r .error page.json 2>/dev/null))"
jqcheck page.json '.status | test("[0-9]+ x [0-9]+, [0-9]+ box")' "the page says what it found"
checks=$((checks + 1))
[ "$(jq -c '.record.objects' page.json)" = "$(jq -c '.objects' api.json)" ] ||
  fail "the page shows other boxes than the API: $(jq -c .record.objects page.json | head -c 400) vs $(jq -c .objects api.json | head -c 400)"
jqcheck page.json '.record.width == 1024 and .record.height == 768' "the page's record"
jqcheck page.json '.canvas == [(1024 * .scale | round), (768 * .scale | round)]' "the canvas is the image, scaled"
# Each edge of each box: at least two of its three points are the box
# colour (#00ff00; a label drawn over an edge may hide one).
jqcheck page.json '[.samples[] | [.left, .right, .bottom][] | map(.[1] > 200 and .[0] < 80 and .[2] < 80) | map(select(.)) | length >= 2] | all' "boxes drawn where the API says"
checks=$((checks + 1))
[ "$(jq '.samples | length' page.json)" -eq "$(jq '.objects | length' api.json)" ] || fail "not every box sampled"
serve_stop "SIGTERM after the page" page
grep -q '"POST /v1/detect?threshold=0.05&nms=0.45&top=5" 200' "$T/page.log" ||
  fail "the page's request is not in the access log: $(cat "$T/page.log")"
checks=$((checks + 1))
finish

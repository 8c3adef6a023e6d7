# fundus-serve with curl: every endpoint, every error status with its JSON
# body and headers, the bearer token, the access log, the metrics, SIGHUP
# reloads (a good and a broken model file) and the SIGTERM drain; the
# server must exit 0 each time (LeakSanitizer in the sanitizer build).
. "$FUNDUS_SOURCE/test/shell/lib.sh"
. "$FUNDUS_SOURCE/test/shell/serve.inc"

random_model m.fdm yolov3-tiny 1 || { fail "random_model"; finish; exit 1; }
fundus-synth -q -n 2 --size 800x600 -o synth >synth.jsonl
fundus-synth -q -n 1 --size 640x480 -f png -o png >/dev/null
fundus-synth -q -n 1 --size 3000x2000 -f png --start 7 -o big >/dev/null
img=$(ls synth/*.jpg | head -n 1)
img2=$(ls synth/*.jpg | tail -n 1)
png=$(ls png/*.png)
big=$(ls big/*.png)

# Misuse and failures to start.
run fundus-serve
expect_status 2 "no --model"
expect_match "$T/err" "^fundus-serve: give the model with --model$" "names the missing model"
run fundus-serve -m nope.fdm --port 0
expect_status 1 "a model that is not there"
expect_match "$T/err" "^fundus-serve: cannot load 'nope.fdm': " "names the model"
run fundus-serve -m m.fdm --threshold 2
expect_status 2 "--threshold 2"
: >empty.token
run fundus-serve -m m.fdm --token-file empty.token
expect_status 2 "an empty token file"
expect_match "$T/err" "^fundus-serve: --token-file: 'empty.token' holds no token$" "names the empty token file"
printf 'two words\n' >space.token
run fundus-serve -m m.fdm --token-file space.token
expect_status 2 "a token with a space"
expect_match "$T/err" "^fundus-serve: --token-file: the token in 'space.token' must be printable ASCII without spaces$" "names the token file and why"
run fundus-serve -m m.fdm --token-file missing.token
expect_status 1 "a token file that is not there"
expect_match "$T/err" "^fundus-serve: cannot read 'missing.token': cannot open: No such file or directory$" "names the missing token file"
run fundus-serve -m m.fdm --token-file .
expect_status 1 "a folder as the token file"
expect_match "$T/err" "^fundus-serve: cannot read '\.': read failed: Is a directory$" "names the unreadable token file"
{ printf 'x%.0s' $(seq 4096); echo; } >long.token
run fundus-serve -m m.fdm --token-file long.token
expect_status 1 "a token file over 4 KiB"
expect_match "$T/err" "^fundus-serve: cannot read 'long.token': larger than 4096 bytes$" "names the long token file"
printf 'from-stdin\n' >stdin.token
run timeout 60 fundus-serve -m m.fdm --token-file - --port 0 --listen no.such.host.invalid <stdin.token
expect_status 1 "--token-file - reads standard input (and then fails to listen)"
expect_match "$T/err" "^fundus-serve: cannot listen on 'no.such.host.invalid': " "the token from standard input is taken"
run fundus-serve -m m.fdm --access-log nodir/access.log
expect_status 1 "an access log that cannot be opened"
expect_match "$T/err" "^fundus-serve: cannot open 'nodir/access.log': No such file or directory$" "names the access log"
run timeout 60 fundus-serve -m m.fdm --port 0 --listen no.such.host.invalid
expect_status 1 "an address that does not resolve"
expect_match "$T/err" "^fundus-serve: cannot listen on 'no.such.host.invalid': " "names the address"
run fundus-serve -m m.fdm stray
expect_status 2 "an argument besides the options"
expect_match "$T/err" "^fundus-serve: unexpected argument 'stray'$" "names the stray argument"

serve_start s1 -m m.fdm -j 2 --top 5
nreq=0
run timeout 60 fundus-serve -m m.fdm --port "${URL##*:}"
expect_status 1 "a port already taken"
expect_match "$T/err" "^fundus-serve: cannot listen on 127\.0\.0\.1 port ${URL##*:}: Address already in use$" "names the address, the port and why"

# The health checks, the model, the description and the page.
req healthz "$URL/healthz"
expect_code 200 "GET /healthz"
jqcheck "$T/healthz.body" '.status == "ok"' "healthz body"
req readyz "$URL/readyz"
expect_code 200 "GET /readyz"
jqcheck "$T/readyz.body" '.ready == true' "readyz body"
req model "$URL/v1/model"
expect_code 200 "GET /v1/model"
sum=$(sha256sum m.fdm | cut -d' ' -f1)
jqcheck "$T/model.body" '.name == "m" and .id == "sha256:'"$sum"'" and .file == "m.fdm"' "model name, id, file"
jqcheck "$T/model.body" '.labels == ["optic_disc"] and .input.channels == 3 and .input.width > 0' "model labels and input"
jqcheck "$T/model.body" '.generation == 1 and .load_seconds > 0 and (.loaded_at | test("Z$"))' "model load"
req openapi "$URL/openapi.json"
expect_code 200 "GET /openapi.json"
jqcheck "$T/openapi.body" '.openapi == "3.0.3" and (.paths | has("/v1/detect") and has("/metrics") and has("/v1/model") and has("/healthz") and has("/readyz"))' "OpenAPI paths"
req page "$URL/"
expect_code 200 "GET /"
expect_match "$T/page.head" '^Content-Type: text/html' "the page is HTML"
expect_match "$T/page.body" '<canvas id="canvas"' "the page has its canvas"
expect_match "$T/page.body" '<input type="file"' "the page has its file input"
expect_no_match "$T/page.body" '(src|href)="?(https?:)?//' "the page loads nothing from elsewhere"
req head -I "$URL/healthz"
checks=$((checks + 1))
[ "$code" = 200 ] || fail "HEAD /healthz: $code"

# Detection: the raw body.
req raw --data-binary @"$img" -H 'Content-Type: image/jpeg' "$URL/v1/detect"
expect_code 200 "POST /v1/detect, raw JPEG"
cp "$T/raw.body" raw.json
isum=$(sha256sum "$img" | cut -d' ' -f1)
jqcheck raw.json '.id == "sha256:'"$isum"'" and .width == 800 and .height == 600' "record id and size"
jqcheck raw.json '.objects | length > 0 and length <= 5' "--top 5 holds"
jqcheck raw.json '[.objects[] | .label == "optic_disc" and .by == "model:m" and (.bbox | length == 4) and .score >= 0.05] | all' "objects"
jqcheck raw.json '[.objects[].score] | . == (sort | reverse)' "best first"
jqcheck raw.json '.detect.model == "sha256:'"$sum"'" and .detect.scale >= 1' "provenance"
jqcheck raw.json '.detect.seconds | (.read >= 0 and .queue >= 0 and .decode >= 0 and .prepare >= 0 and .infer > 0 and .boxes >= 0 and .total > 0)' "timings"
jqcheck raw.json 'has("image") | not' "no image name for a raw body"

# The same as fundus-detect prints it, when fundus-detect is built.
if command -v fundus-detect >/dev/null; then
  fundus-detect -q -m m.fdm --top 5 "$img" >detect.jsonl 2>detect.err
  checks=$((checks + 1))
  [ "$(jq -c '[.objects, .width, .height, .id]' detect.jsonl)" = "$(jq -c '[.objects, .width, .height, .id]' raw.json)" ] ||
    fail "fundus-serve and fundus-detect disagree: $(head -c 400 detect.jsonl $(cat detect.err)) vs $(head -c 400 raw.json)"
fi

# Query parameters, a PNG, a form with fields that override the query.
req q --data-binary @"$png" "$URL/v1/detect?threshold=0.5&top=1&nms=0.3"
expect_code 200 "POST with query parameters"
jqcheck "$T/q.body" '(.objects | length <= 1) and ([.objects[].score >= 0.5] | all) and .width == 640' "query parameters"
req form -F "image=@$img2" -F threshold=0.3 -F top=2 "$URL/v1/detect?top=4"
expect_code 200 "POST a form"
jqcheck "$T/form.body" '.image == "'"$(basename "$img2")"'" and (.objects | length <= 2) and ([.objects[].score >= 0.3] | all)' "form fields"
req form0 -F "image=@$img2" -F top=0 "$URL/v1/detect?top=1"
expect_code 200 "top=0 in a form"
jqcheck "$T/form0.body" '.objects | length > 1' "the form's top=0 beats the query's top=1"

# 400
for q in 'threshold=abc' 'threshold=2' 'nms=-1' 'top=1.5' 'top=' 'colour=red'; do
  req bad --data-binary @"$img" "$URL/v1/detect?$q"
  expect_code 400 "query $q"
done
expect_match "$T/bad.body" "unknown query parameter 'colour'" "names the unknown parameter"
req nobody -X POST "$URL/v1/detect"
expect_code 400 "no body"
expect_match "$T/nobody.body" "no image" "says what is missing"
req noimage -F threshold=0.3 "$URL/v1/detect"
expect_code 400 "a form without an image"
req twoimages -F "image=@$img" -F "image=@$img2" "$URL/v1/detect"
expect_code 400 "a form with two images"
expect_match "$T/twoimages.body" "more than one image" "says two images"
req field -F "image=@$img" -F colour=red "$URL/v1/detect"
expect_code 400 "an unknown form field"
req badfield -F "image=@$img" -F threshold=x "$URL/v1/detect"
expect_code 400 "a bad form field"
# A multipart body cut in the middle of its image.
{ printf -- '--XyZ\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
  printf 'Content-Type: image/jpeg\r\n\r\n'
  head -c 3000 "$img"; } >cut.form
req cut -H 'Content-Type: multipart/form-data; boundary=XyZ' --data-binary @cut.form "$URL/v1/detect"
expect_code 400 "a multipart body cut short"
expect_match "$T/cut.body" 'malformed multipart/form-data body' "the form parser found it cut"
# A file name that is not UTF-8 is left out of the record.
{ printf -- '--XyZ\r\nContent-Disposition: form-data; name="image"; filename="\351\001.jpg"\r\n\r\n'
  cat "$img"; printf '\r\n--XyZ--\r\n'; } >latin1.form
req latin1 -H 'Content-Type: multipart/form-data; boundary=XyZ' --data-binary @latin1.form "$URL/v1/detect"
expect_code 200 "a form whose file name is not UTF-8"
jqcheck "$T/latin1.body" '(has("image") | not) and (.objects | length > 0)' "the name is left out"
req noboundary -H 'Content-Type: multipart/form-data' --data-binary @"$img" "$URL/v1/detect"
expect_code 400 "multipart without a boundary"

# 404, 405
req nope "$URL/nope"
expect_code 404 "an unknown path"
req get_detect "$URL/v1/detect"
expect_code 405 "GET /v1/detect"
expect_match "$T/get_detect.head" '^Allow: POST' "Allow: POST"
req post_health -X POST -d x "$URL/healthz"
expect_code 405 "POST /healthz"
expect_match "$T/post_health.head" '^Allow: GET, HEAD' "Allow: GET, HEAD"

# 415, 422
req text --data-binary @synth.jsonl "$URL/v1/detect"
expect_code 415 "a text body"
head -c 2000 "$img" >trunc.jpg
req trunc --data-binary @trunc.jpg "$URL/v1/detect"
expect_code 422 "a truncated JPEG"

# Keep-alive: two answers on one connection.
curl -sv "$URL/healthz" "$URL/readyz" >/dev/null 2>keep.err
expect_match keep.err 'Re-using existing connection' "connections are kept alive"

# /metrics, after all of the above.
req metrics "$URL/metrics"
expect_code 200 "GET /metrics"
m="$T/metrics.body"
expect_match "$m" '^# TYPE fundus_serve_requests_total counter$' "requests counter"
for c in 200 400 404 405 415 422; do
  expect_match "$m" "^fundus_serve_requests_total\\{path=\"/v1/detect\",code=\"$c\"\\} [1-9]|^fundus_serve_requests_total\\{path=\"[^\"]*\",code=\"$c\"\\} [1-9]" "status $c counted"
done
expect_match "$m" '^fundus_serve_requests_total\{path="/v1/detect",code="200"\} 5$' "five detections counted"
expect_match "$m" '^fundus_serve_request_duration_seconds_bucket\{path="/v1/detect",le="\+Inf"\} [0-9]+$' "histogram"
expect_match "$m" '^fundus_serve_request_duration_seconds_count\{path="/v1/detect"\} [0-9]+$' "histogram count"
expect_match "$m" '^fundus_serve_queue_depth 0$' "queue depth"
expect_match "$m" '^fundus_serve_workers 2$' "workers"
expect_match "$m" '^fundus_serve_model_load_seconds [0-9.]+$' "model load time"
serve_stop "SIGTERM after the requests" s1

# One access-log line per request, in the documented form.
log="$T/s1.log"
expect_match "$log" '^127\.0\.0\.1 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9:]{8} \+0000\] "POST /v1/detect\?threshold=0\.5&top=1&nms=0\.3" 200 [0-9]+ [0-9.]+$' "access log line"
expect_match "$log" '"GET /nope" 404 ' "404 logged"
n_log=$(wc -l <"$log")
checks=$((checks + 1))
# Every req above, and the two requests of the keep-alive check.
[ "$n_log" -eq $((nreq + 2)) ] || fail "access log has $n_log lines, expected $((nreq + 2)): $(cat "$log")"
expect_match "$T/s1.err" '^fundus-serve: stopped$' "says it stopped"

# 413: a declared body and a chunked one over --max-body.
serve_start s2 -m m.fdm -j 1 --max-body 10000
req big --data-binary @"$img" "$URL/v1/detect"
expect_code 413 "a body over --max-body"
expect_match "$T/big.body" "more than the limit of 10000" "names the limit"
req chunked -H 'Transfer-Encoding: chunked' --data-binary @"$img" "$URL/v1/detect"
expect_code 413 "a chunked body over --max-body"
req formbig -F "image=@$img" "$URL/v1/detect"
expect_code 413 "a form over --max-body"
req small --data-binary @trunc.jpg "$URL/v1/detect"
expect_code 422 "a small body still goes through"
serve_stop "SIGTERM (413)" s2

# 422: --max-pixels, checked from the header.
serve_start s3 -m m.fdm -j 1 --max-pixels 100000
req pixels --data-binary @"$img" "$URL/v1/detect"
expect_code 422 "an image over --max-pixels"
expect_match "$T/pixels.body" "800 x 600, more than the limit of 100000 pixels" "names the size and the limit"
serve_stop "SIGTERM (422)" s3

# 401: the bearer token guards detection, the model and the metrics.
printf 's3cret-token\n' >token
serve_start s4 -m m.fdm -j 1 --token-file token --access-log access.log
req t1 --data-binary @"$img" "$URL/v1/detect"
expect_code 401 "detect without the token"
expect_match "$T/t1.head" '^WWW-Authenticate: Bearer' "WWW-Authenticate"
req t2 -H 'Authorization: Bearer wrong' --data-binary @"$img" "$URL/v1/detect"
expect_code 401 "a wrong token"
req t3 -H 'Authorization: Bearer s3cret-tokenX' "$URL/v1/model"
expect_code 401 "a longer token"
req t4 "$URL/metrics"
expect_code 401 "metrics without the token"
req t5 -H 'Authorization: Bearer s3cret-token' --data-binary @"$img" "$URL/v1/detect"
expect_code 200 "detect with the token"
req t6 -H 'Authorization: bearer s3cret-token' "$URL/v1/model"
expect_code 200 "model with the token"
req t7 -X POST -d x -H 'Authorization: Bearer s3cret-token' "$URL/metrics"
expect_code 405 "POST /metrics with the token"
expect_match "$T/t7.head" '^Allow: GET, HEAD' "Allow: GET, HEAD with the token"
for p in healthz readyz openapi.json ''; do
  req open "$URL/$p"
  expect_code 200 "/$p is open"
done
serve_stop "SIGTERM (token)" s4
expect_empty "$T/s4.log" "--access-log: nothing on standard output"
checks=$((checks + 1))
[ "$(wc -l <access.log)" -eq 11 ] || fail "--access-log: $(wc -l <access.log) lines, expected 11"
expect_match access.log '"POST /v1/detect" 401 ' "--access-log has the 401"

# Connections: at most --max-connections, and one silent for --idle-timeout is closed.
serve_start s8 -m m.fdm -j 1 --max-connections 1 --idle-timeout 2
exec 3<>"/dev/tcp/127.0.0.1/${URL##*:}"
printf 'GET /healthz HTTP/1.1\r\nHo' >&3
curl -s -m 5 "$URL/healthz" >/dev/null
cstatus=$?
checks=$((checks + 1))
[ "$cstatus" -ne 0 ] || fail "a second connection was taken with --max-connections 1"
timeout 20 cat <&3 >/dev/null
status=$?
exec 3>&-
expect_status 0 "a silent connection is closed by the server (124: it was not)"
for i in 1 2 3 4 5 6 7 8 9 10; do curl -sf -m 5 "$URL/healthz" >/dev/null && break; sleep 0.2; done
req free "$URL/healthz"
expect_code 200 "a connection is taken once the silent one is closed"
expect_match "$T/s8.err" 'connection limit' "libmicrohttpd says why it refused"
serve_stop "SIGTERM (connections)" s8

# eight NAME: posts the big image eight times at once, each answer in
# NAMEi.body, NAMEi.head and NAMEi.code, and how many of each status in codes.
eight() {
  local i pids=
  for i in 1 2 3 4 5 6 7 8; do
    curl -s -o "$1$i.body" -D "$1$i.head" -w '%{http_code}\n' --data-binary @"$big" "$URL/v1/detect" >"$1$i.code" &
    pids="$pids $!"
  done
  wait $pids
  cat "$1"*.code | sort | uniq -c >codes
}

# 503 and 504: one worker, no queue, a short time limit, eight at once.
serve_start s5 -m m.fdm -j 1 --queue 0 --timeout 0.4
eight par
echo "eight at once, one worker, no queue: $(tr -s ' \n' ' ' <codes)"
expect_match codes ' 503$' "a full queue answers 503"
f=$(grep -l '^503' par*.code | head -n 1)
[ -n "$f" ] && expect_match "${f%.code}.head" '^Retry-After: 1' "503 has Retry-After"
[ -n "$f" ] && jqcheck "${f%.code}.body" '.status == 503 and (.error | test("queue"))' "503 JSON"
serve_stop "SIGTERM (503)" s5
serve_start s6 -m m.fdm -j 1 --queue 8 --timeout 0.4
eight late
echo "eight at once, one worker, 0.4 s: $(tr -s ' \n' ' ' <codes)"
expect_match codes ' 504$' "a request out of time answers 504"
f=$(grep -l '^504' late*.code | head -n 1)
[ -n "$f" ] && jqcheck "${f%.code}.body" '.status == 504' "504 JSON"
req after -m 60 "$URL/healthz"
expect_code 200 "still answers after 504s"
serve_stop "SIGTERM (504)" s6

# SIGHUP: a new model file is served, a broken one is refused and the
# old model stays; a detection under way during a reload finishes.
cp m.fdm live.fdm
serve_start s7 -m live.fdm -j 2
curl -s -o inflight.body -w '%{http_code}' --data-binary @"$big" "$URL/v1/detect" >inflight.code &
cpid=$!
random_model new.fdm yolov3-tiny 2
mv new.fdm live.fdm
kill -HUP "$SERVE_PID"
for i in $(seq 300); do grep -q 'reloaded' "$T/s7.err" && break; sleep 0.1; done
wait "$cpid"
checks=$((checks + 1))
[ "$(cat inflight.code)" = 200 ] || fail "a detection during a reload: $(cat inflight.code) $(head -c 300 inflight.body)"
expect_match "$T/s7.err" "^fundus-serve: reloaded 'live.fdm' \\(sha256:" "says it reloaded"
req model2 "$URL/v1/model"
sum2=$(sha256sum live.fdm | cut -d' ' -f1)
jqcheck "$T/model2.body" '.id == "sha256:'"$sum2"'" and .generation == 2' "the new model is served"
req d2 --data-binary @"$img" "$URL/v1/detect"
expect_code 200 "detection on the new model"
jqcheck "$T/d2.body" '.detect.model == "sha256:'"$sum2"'"' "detection names the new model"
echo "not a model" >live.fdm
kill -HUP "$SERVE_PID"
for i in $(seq 300); do grep -q 'cannot reload' "$T/s7.err" && break; sleep 0.1; done
expect_match "$T/s7.err" "^fundus-serve: cannot reload 'live.fdm': " "a broken model is refused"
req model3 "$URL/v1/model"
jqcheck "$T/model3.body" '.id == "sha256:'"$sum2"'" and .generation == 2' "the old model stays"
req metrics2 "$URL/metrics"
expect_match "$T/metrics2.body" '^fundus_serve_model_reloads_total\{result="ok"\} 1$' "reloads counted"
expect_match "$T/metrics2.body" '^fundus_serve_model_reloads_total\{result="failed"\} 1$' "failed reloads counted"

# SIGTERM while a detection runs: it is answered, then the server exits 0
# and accepts no new connection.
curl -s -o drain.body -w '%{http_code}' --data-binary @"$big" "$URL/v1/detect" >drain.code &
cpid=$!
sleep 0.3
kill -TERM "$SERVE_PID"
wait "$cpid"
checks=$((checks + 1))
[ "$(cat drain.code)" = 200 ] || fail "the detection under way at SIGTERM: $(cat drain.code) $(head -c 300 drain.body)"
wait "$SERVE_PID"
status=$?
SERVE_PID=
expect_status 0 "exit status after SIGTERM with a request under way"
checks=$((checks + 1))
curl -s -m 5 "$URL/healthz" >/dev/null && fail "still accepting after SIGTERM"

# While it drains, a new detection on a connection kept open gets 503 and
# the connection is closed. The request being drained is a slow upload
# (8 MB at 4 MB/s), so that the server is still there to answer.
serve_start s9 -m m.fdm -j 1
exec 3<>"/dev/tcp/127.0.0.1/${URL##*:}"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' >&3
timeout 1 cat <&3 >kept1.out
expect_match kept1.out '^HTTP/1.1 200' "the kept connection's first answer"
expect_no_match kept1.out '^Connection: close' "the connection is kept open"
curl -s -o slow.body -w '%{http_code}' --limit-rate 4M --data-binary @"$big" "$URL/v1/detect" >slow.code &
cpid=$!
for i in $(seq 100); do
  curl -s "$URL/metrics" | grep -q '^fundus_serve_requests_in_progress 2$' && break
  sleep 0.05
done
kill -TERM "$SERVE_PID"
for i in $(seq 100); do curl -s -m 1 "$URL/healthz" >/dev/null || break; sleep 0.05; done
printf 'POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc' >&3
timeout 10 cat <&3 >kept2.out
status=$?
exec 3>&-
expect_status 0 "the server closes the kept connection after its 503"
expect_match kept2.out '^HTTP/1.1 503' "a detection during the drain is answered 503"
expect_match kept2.out '^Connection: close' "and the connection closed"
expect_match kept2.out '"the server is stopping"' "says why"
wait "$cpid"
checks=$((checks + 1))
[ "$(cat slow.code)" = 200 ] || fail "the slow upload under way at SIGTERM: $(cat slow.code) $(head -c 300 slow.body)"
wait "$SERVE_PID"
status=$?
SERVE_PID=
expect_status 0 "exit status after draining a slow upload"
finish

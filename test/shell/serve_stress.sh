# fundus-serve under load and abuse: while detections run (wrk, or curl
# loops without it), malformed HTTP, hostile images and broken multipart
# bodies are thrown at it, three rounds. Afterwards it must still answer
# the reference image exactly as before, its resident memory (VmRSS from
# /proc) must not have grown by more than MARGIN past what it had after
# one round (allocator caches and the sanitizer's quarantine settle during
# the first), no answer may be a 500, and it must exit 0 on SIGTERM, which
# in the sanitizer build means LeakSanitizer found no leak. Two reloads
# (SIGHUP) happen during the abuse.
. "$FUNDUS_SOURCE/test/shell/lib.sh"
. "$FUNDUS_SOURCE/test/shell/serve.inc"
py=$(command -v python3 || true)
[ -n "$py" ] || skip "python3 is not installed (scripts/setup installs it): it makes the hostile files"
[ -r /proc/self/status ] || skip "no /proc to read VmRSS from"

# The margin, in kB: 24 MiB. The sanitizer's quarantine is capped so that
# freed memory it holds back cannot pass for a leak or hide one.
MARGIN=24576
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"

random_model m.fdm yolov3-tiny 4 || { fail "random_model"; finish; exit 1; }
fundus-synth -q -n 2 --size 800x600 --seed 9 -o synth >/dev/null
img=$(ls synth/*.jpg | head -n 1)
"$py" - "$img" <<'EOF'
# Hostile files: each small, each lying in its own way.
import random, struct, sys, zlib
img = open(sys.argv[1], "rb").read()
def png(w, h, data, crc_ok=True, ctype=2):
    def chunk(t, d, good=True):
        c = zlib.crc32(t + d) & 0xffffffff
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", c if good else c ^ 1)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data, crc_ok) + chunk(b"IEND", b"")
out = {
    "huge.png": png(100000, 100000, zlib.compress(b"\0" * 1000)),
    # A bomb: 6000 x 6000 zeros compress to ~100 kB, decompress to 108 MB.
    "bomb.png": png(6000, 6000, zlib.compress(b"\0" * (6000 * 3 + 1) * 6000, 9)),
    "badcrc.png": png(64, 64, zlib.compress(b"\0" * (64 * 3 + 1) * 64), crc_ok=False),
    "short.png": png(64, 64, zlib.compress(b"\0" * 100)),
    "zero.png": png(0, 0, b""),
    "trunc.jpg": img[: len(img) // 3],
    "header.jpg": img[:600],
    "tiffbomb.tif": b"II*\0\x08\0\0\0\x03\0\x00\x01\x04\0\x01\0\0\0\xff\xff\xff\x7f"
                    b"\x01\x01\x04\0\x01\0\0\0\xff\xff\xff\x7f\x11\x01\x04\0\x01\0\0\0\x08\0\0\0\0\0\0\0",
    "random.bin": bytes(random.Random(7).randrange(256) for _ in range(5000)),
}
rng = random.Random(11)
for k in range(3):
    b = bytearray(img)
    for _ in range(40):
        b[rng.randrange(200, len(b))] = rng.randrange(256)
    out["flipped%d.jpg" % k] = bytes(b)
for name, data in out.items():
    open(name, "wb").write(data)
EOF
# Broken multipart bodies.
crlf() { printf '%s\r\n' "$@"; }
{ crlf --fUnDuS 'Content-Disposition: form-data; name="image"; filename="a.jpg"' ''; cat "$img"; } >nofinal.form
{ crlf --fUnDuS 'Content-Disposition: form-data; name="image"' ''; head -c 500 "$img"; crlf '' --C0nTrA--; } >wrongend.form
{ crlf --fUnDuS 'Content-Disposition: form-data' '' 'x' --fUnDuS--; } >noname.form
{ crlf --fUnDuS "Content-Disposition: form-data; name=\"$(head -c 20000 /dev/zero | tr '\0' a)\"" '' x --fUnDuS--; } >longname.form
{ for i in $(seq 500); do crlf --fUnDuS 'Content-Disposition: form-data; name="top"' '' 1; done; crlf --fUnDuS--; } >many.form
{ crlf --fUnDuS 'Content-Disposition: form-data; name="image"'; head -c 3000 "$img"; } >noblank.form
{ crlf --fUnDuS "Content-Disposition: form-data; name=\"image\"; filename=\"$(printf '\351\377\001')\"" ''; cat "$img"; crlf '' --fUnDuS--; } >latin1.form

# Malformed HTTP, sent raw.
printf 'GARBAGE\r\n\r\n' >bad1.http
printf 'GET / HTTP/1.1\r\nHost x\r\nNoColon\r\n\r\n' >bad2.http
{ printf 'GET / HTTP/1.1\r\nHost: x\r\nX-Big: '; head -c 200000 /dev/zero | tr '\0' a; printf '\r\n\r\n'; } >bad3.http
{ printf 'GET /'; head -c 100000 /dev/zero | tr '\0' a; printf ' HTTP/1.1\r\nHost: x\r\n\r\n'; } >bad4.http
printf 'POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nshort' >bad5.http
printf 'POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n' >bad6.http
printf 'POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nContent-Length: 20\r\n\r\n0123456789' >bad7.http
printf 'POST /v1/detect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n' >bad8.http
printf 'POST /v1/detect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc' >bad9.http
printf 'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n' >bad10.http
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\n\r\n' >bad11.http
printf 'GET /v1/model?\0\x01 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n\r\n' >bad12.http
printf 'POST /v1/detect?threshold=%%zz&&=&top HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc' >bad13.http
printf 'GET /healthz HTTP/1.1\r\nHo' >bad14.http

serve_start stress -m m.fdm -j 2 --queue 16 --timeout 20 --idle-timeout 1 --max-body 4000000 --max-pixels 20000000
req ref --data-binary @"$img" "$URL/v1/detect"
expect_code 200 "the reference image"
jq -c .objects "$T/ref.body" >ref.objects

# raw FILE: sends a file on a fresh connection and reads what comes back
# until the server closes it (--idle-timeout 1), for at most 3 s.
raw() {
  timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 0; cat "$2" >&3 2>/dev/null; cat <&3 >/dev/null 2>&1' _ "${URL##*:}" "$1" 2>/dev/null
  return 0
}

# One round of abuse.
abuse() {
  local f
  for f in bad*.http; do raw "$f"; done
  for f in huge.png bomb.png badcrc.png short.png zero.png trunc.jpg header.jpg tiffbomb.tif random.bin flipped*.jpg; do
    curl -s -o /dev/null -m 30 --data-binary @"$f" "$URL/v1/detect"
    curl -s -o /dev/null -m 30 -F "image=@$f" "$URL/v1/detect"
  done
  for f in *.form; do
    curl -s -o /dev/null -m 30 -H 'Content-Type: multipart/form-data; boundary=fUnDuS' --data-binary @"$f" "$URL/v1/detect"
  done
  # A client that sends half a request and goes silent: the idle timeout closes it.
  raw bad14.http
  kill -0 "$SERVE_PID" 2>/dev/null || { fail "fundus-serve died: $(tail -c 3000 "$T/stress.err")"; finish; exit 1; }
}

# load SECONDS N: detections of the reference image for that long, in the background.
load() {
  if command -v wrk >/dev/null; then
    printf 'wrk.method = "POST"\nlocal f = assert(io.open("%s", "rb"))\nwrk.body = f:read("*a")\nf:close()\n' "$T/$img" >post.lua
    wrk -t 2 -c 4 -d "${1}s" -s post.lua "$URL/v1/detect" >"load.$2" 2>&1 &
    loaders="$loaders $!"
  else
    for c in 1 2; do
      (end=$((SECONDS + $1)); while [ $SECONDS -lt $end ]; do
        curl -s -o /dev/null -w '%{http_code}\n' --data-binary @"$img" "$URL/v1/detect"; done) >>"load.$2" &
      loaders="$loaders $!"
    done
  fi
}

loaders=
load 6 1
abuse
wait $loaders
loaders=
rss1=$(rss "$SERVE_PID")
load 12 2
abuse
# Reloads while detections run: each worker moves to the new model, the old
# one is freed when its last request ends (the sanitizer watches).
kill -HUP "$SERVE_PID"
abuse
kill -HUP "$SERVE_PID"
abuse
wait $loaders
loaders=
rss2=$(rss "$SERVE_PID")
echo "VmRSS after one round: $rss1 kB; after three more: $rss2 kB (margin $MARGIN kB)"
if command -v wrk >/dev/null; then
  echo "load: $(grep -E 'Requests/sec|requests in|Non-2xx' load.2 | tr -s ' \n' ' ')"
else
  echo "load: $(grep -c '' load.2) detections by two curl loops"
fi
# The detections of the load all succeeded (wrk counts the others; the curl loops write codes).
expect_no_match load.2 'Non-2xx|^[013-9][0-9][0-9]$|^2[1-9][0-9]$' "every detection of the load answered 200"

req after --data-binary @"$img" "$URL/v1/detect"
expect_code 200 "the reference image after the abuse"
checks=$((checks + 1))
[ "$(jq -c .objects "$T/after.body")" = "$(cat ref.objects)" ] ||
  fail "other boxes after the abuse: $(jq -c .objects "$T/after.body" | head -c 300) vs $(head -c 300 ref.objects)"
req health "$URL/healthz"
expect_code 200 "healthz after the abuse"
checks=$((checks + 1))
[ "$((rss2 - rss1))" -le "$MARGIN" ] || fail "VmRSS grew from $rss1 kB to $rss2 kB, more than $MARGIN kB"
req metrics "$URL/metrics"
expect_match "$T/metrics.body" '^fundus_serve_requests_total\{path="/v1/detect",code="200"\} [0-9]+' "detections counted"
expect_match "$T/metrics.body" '^fundus_serve_requests_total\{path="/v1/detect",code="422"\} [0-9]+' "hostile images answered 422"
expect_match "$T/metrics.body" '^fundus_serve_requests_total\{path="/v1/detect",code="400"\} [0-9]+' "broken forms answered 400"
expect_no_match "$T/metrics.body" 'code="500"' "no 500"
expect_match "$T/metrics.body" '^fundus_serve_model_reloads_total\{result="ok"\} 2$' "two reloads under load"
serve_stop "SIGTERM after the abuse" stress
expect_no_match "$T/stress.err" 'AddressSanitizer|LeakSanitizer|runtime error' "no sanitizer report"
finish

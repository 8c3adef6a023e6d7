# fundus-eval against pycocotools on random data sets (bench/eval_cocoapi.py,
# a few small cases): all twelve COCO numbers within 1e-9, from records and
# from COCO files. Skipped when Debian's /usr/bin/python3 cannot import
# pycocotools (Debian 12 does not package it; pip's works).
. "$FUNDUS_SOURCE/test/shell/lib.sh"
[ -x /usr/bin/python3 ] || skip "/usr/bin/python3 is missing"
/usr/bin/python3 -c 'import numpy, pycocotools.cocoeval' 2>/dev/null ||
  skip "pycocotools cannot be imported by /usr/bin/python3"
checks=$((checks + 1))
/usr/bin/python3 "$FUNDUS_SOURCE/bench/eval_cocoapi.py" --cases 6 --images 150 --seed 7 \
  --fundus-eval "$(command -v fundus-eval)" >"$T/out" 2>&1 ||
  fail "fundus-eval and pycocotools disagree: $(cat "$T/out")"
cat "$T/out"
finish

# fundus-train: a short run on synthetic photographs (model, log, plot,
# --notify), --resume continuing the log, --init comparing old and new,
# --learning-curve, unreadable photographs skipped, and the error paths
# with their exit statuses. Small inputs (96x96, crops of 64) keep it quick.
. "$FUNDUS_SOURCE/test/shell/lib.sh"
command -v jq >/dev/null || skip "jq is not installed (scripts/setup installs it)"

fundus-synth -q -n 10 --size 320x240 -o photos --records all.jsonl || fail "fundus-synth"
small="--size 96x96 --crop 64 --batch 4 --epoch-size 8 -j 2"

run fundus-train $small --epochs 2 --notify 'echo "$FUNDUS_STATUS $FUNDUS_MODEL" > notified' -o m.fdm all.jsonl
expect_status 0 "a short training run"
expect_match "$T/out" '^model: m\.fdm \(epoch [12] of 2, all epochs done' "the summary line"
expect_match "$T/out" '^validation: +mAP [0-9.]+ +AP50 [0-9.]+' "the validation line"
expect_match "$T/err" '8 training and 2 validation photographs' "the split said"
checks=$((checks + 1))
[ -s m.fdm ] && [ -s m.fdm.ckpt ] && [ -s m.fdm.png ] || fail "model, checkpoint or plot missing: $(ls)"
checks=$((checks + 1))
[ "$(wc -l <m.fdm.log.jsonl)" -eq 2 ] || fail "log lines: $(cat m.fdm.log.jsonl)"
checks=$((checks + 1))
[ "$(jq -s 'map(has("loss") and has("map") and has("lr") and has("seconds") and .epoch > 0) | all' m.fdm.log.jsonl)" = true ] ||
  fail "log fields: $(cat m.fdm.log.jsonl)"
checks=$((checks + 1))
[ "$(cat notified)" = "0 m.fdm" ] || fail "--notify: $(cat notified 2>&1)"
checks=$((checks + 1))
fundus-info m.fdm.png >/dev/null 2>&1 || fail "the plot is not an image fundus reads"

# The model runs: fundus-detect finds a box on a fresh photograph.
fundus-synth -q -n 1 --seed 9 --size 320x240 -o fresh --records fresh.jsonl || fail "fundus-synth"
run fundus-detect -m m.fdm --top 1 --threshold 0 -r fresh.jsonl
expect_status 0 "fundus-detect with the trained model"
expect_match "$T/out" '"objects":\[\{"label":"optic_disc"' "a disc box in the record"

# --resume: one more epoch, the log continued.
run fundus-train $small --epochs 3 --resume -o m.fdm all.jsonl
expect_status 0 "--resume"
checks=$((checks + 1))
[ "$(jq -s 'map(.epoch) == [1, 2, 3]' m.fdm.log.jsonl)" = true ] || fail "resumed log: $(cat m.fdm.log.jsonl)"
run fundus-train $small --epochs 4 --seed 5 --resume -o m.fdm all.jsonl
expect_status 1 "--resume with another seed"
expect_match "$T/err" "^fundus-train: checkpoint 'm\.fdm\.ckpt': of another run \(seed 1," "names the checkpoint and the mismatch"
run fundus-train $small --epochs 4 --resume -o fresh.fdm all.jsonl
expect_status 1 "--resume without a checkpoint"
expect_match "$T/err" "^fundus-train: checkpoint 'fresh\.fdm\.ckpt': cannot open" "names the missing checkpoint"
printf 'FDTRAIN1 but nothing else' >cut.ckpt
run fundus-train $small --epochs 4 --resume --checkpoint cut.ckpt -o m.fdm all.jsonl
expect_status 1 "--resume from a damaged checkpoint"
expect_match "$T/err" "^fundus-train: checkpoint 'cut\.ckpt': checkpoint truncated" "says what is wrong with it"

# --init: the old model scored before, the new one after.
run fundus-train $small --epochs 1 --init m.fdm -o m2.fdm all.jsonl
expect_status 0 "--init"
expect_match "$T/out" '^before \(--init model\): +mAP' "the old model's line"
expect_match "$T/out" '^after: +mAP' "the new model's line"

# --learning-curve: a line per size.
run fundus-train $small --epochs 1 --learning-curve 3,all -o curve.fdm all.jsonl
expect_status 0 "--learning-curve"
expect_match "$T/out" '^ +3 +[0-9.]+ +[0-9.]+' "the line for 3 photographs"
expect_match "$T/out" '^ +8 +[0-9.]+ +[0-9.]+' "the line for all 8"

# An unreadable photograph is skipped with its name; a missing file is an error.
cp all.jsonl broken.jsonl
printf 'not an image' >photos/bad.jpg
echo '{"image":"photos/bad.jpg","objects":[{"label":"optic_disc","bbox":[1,1,9,9]}]}' >>broken.jsonl
run fundus-train $small --epochs 1 -o m3.fdm broken.jsonl
expect_status 0 "training past an unreadable photograph"
expect_match "$T/err" "warning: skipping 'photos/bad.jpg'" "the photograph named"
echo '{"image":"photos/bad.jpg","objects":[]}' >allbad.jsonl
run fundus-train $small --epochs 1 -o m6.fdm allbad.jsonl
expect_status 1 "no readable photograph"
expect_match "$T/err" "^fundus-train: 'allbad\.jsonl': no photograph could be read" "says so, naming the file"
run fundus-train $small --epochs 1 -o m4.fdm nothing.jsonl
expect_status 1 "missing annotations"
expect_match "$T/err" "fundus-train: cannot read 'nothing.jsonl'" "the file named"
checks=$((checks + 1))
[ ! -e m4.fdm ] || fail "a model written after a failure"
echo '{"image": 3}' >bad.jsonl
run fundus-train $small -o m5.fdm bad.jsonl
expect_status 1 "a bad record"
expect_match "$T/err" "'bad.jsonl': line 1" "the line named"

# Usage errors.
run fundus-train all.jsonl
expect_status 2 "no -o"
expect_match "$T/err" "give the model file to write with -o MODEL" "says what is missing"
run fundus-train --size 96 -o x.fdm all.jsonl
expect_status 2 "--size without x"
run fundus-train --val-split 2 -o x.fdm all.jsonl
expect_status 2 "--val-split out of range"
run fundus-train --arch no-such-net --epochs 1 -o x.fdm all.jsonl
expect_status 1 "an unknown architecture"
expect_match "$T/err" "^fundus-train: --arch 'no-such-net': .*\(built in: disc-centre, disc-yolo, yolov3-tiny\)$" "names it and the built-in ones"
run fundus-train --init missing.fdm --epochs 1 -o x.fdm all.jsonl
expect_status 1 "a missing --init model"
expect_match "$T/err" "^fundus-train: cannot read 'missing\.fdm'" "names it"
finish

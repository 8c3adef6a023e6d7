# Two annotators at the same time on one workspace: without overlap they
# never get the same image; with overlap 2 both get every image (and a
# third gets none of those two are on), and the export's agreement report
# gives the kappa and IoU worked out by hand for their answers and boxes.
. "$FUNDUS_SOURCE/test/shell/lib.sh"
. "$FUNDUS_SOURCE/test/shell/annotate_tmux.inc"

make_photos 4 img
jq -c '{image, objects: [.objects[0] | .score = 0.9 | .by = "model:test"]}' img.jsonl >preds.jsonl

# --- Without overlap: alice and bob share out the four images.
fundus-annotate-tui init -q one
fundus-annotate-tui add -q one img.jsonl
fundus-annotate-tui add -q --predictions one preds.jsonl
tui_start alice one
tui_wait 'alice \| 1 of 4 .*synth-000000.jpg' "alice starts on the first image"
tui_start bob one
tui_wait 'bob \| 1 of 4 .*synth-000001.jpg' "bob, at the same time, gets the second"
tui_use alice
tui_keys A
tui_wait 'alice \| 2 of 4 .*synth-000002.jpg' "alice's next is the third (bob holds the second)"
tui_use bob
tui_keys A
tui_wait 'bob \| 2 of 4 .*synth-000003.jpg' "bob's next is the fourth"
tui_use alice
tui_keys A
tui_wait 'Nothing left to annotate' "alice: bob is on the last one"
tui_use bob
tui_keys A
tui_wait 'Nothing left to annotate' "bob done"
tui_keys q
tui_use alice
tui_keys q
tui_gone
tui_use bob
tui_gone
expect_eq "$(jq -r '.image | sub(".*/"; "")' one/journals/alice.jsonl | tr '\n' ' ')" \
  "synth-000000.jpg synth-000002.jpg " "alice's images"
expect_eq "$(jq -r '.image | sub(".*/"; "")' one/journals/bob.jsonl | tr '\n' ' ')" \
  "synth-000001.jpg synth-000003.jpg " "bob's images"
run fundus-annotate-tui export one --report one.json
expect_status 0 "export"
expect_eq "$(jq -r '.annotators | length' "$T/out" | sort -u)" 1 "one annotator per image"
expect_eq "$(jq -r '[.annotated, .complete, .boxes.images] | join(" ")' one.json)" "4 4 0" \
  "report: every image once, none twice"

# --- With overlap 2: both get every image; answers and boxes with known agreement.
fundus-annotate-tui init -q two --overlap 2 --question gradable:yesno
fundus-annotate-tui add -q two img.jsonl
jq -c 'select(.meta.index == 0) | {image, objects: [.objects[0] | .score = 0.9 | .by = "model:test"]}' \
  img.jsonl >preds0.jsonl
fundus-annotate-tui add -q --predictions two preds0.jsonl
tui_start alice two
tui_wait 'alice \| 1 of 4 .*synth-000000.jpg' "alice starts on the first image"
tui_start bob two
tui_wait 'bob \| 1 of 4 .*synth-000000.jpg' "bob, at the same time, gets it too (overlap 2)"
tui_start carol two
tui_wait 'carol \| 1 of 4 .*synth-000001.jpg' "a third annotator does not"
tui_keys q
tui_gone
# gradable: alice yes yes no yes, bob yes no no yes: Cohen's kappa
# (0.75 - 0.5) / (1 - 0.5) = 0.5. Both accept the proposal on the first
# image (IoU 1); bob also drops a second box there (unmatched).
answer() { # NAME IMAGE KEYS...: on image IMAGE (0-based), types KEYS
  local who=$1 n=$2
  shift 2
  tui_use "$who"
  tui_wait "$who \\| $((n + 1)) of 4 .*synth-00000$n.jpg" "$who on image $n"
  tui_keys "$@"
}
answer alice 0 a 1 Enter
answer bob 0 a B 1 Enter
answer alice 1 1 Enter
answer bob 1 2 Enter
answer alice 2 2 Enter
answer bob 2 2 Enter
answer alice 3 1 Enter
answer bob 3 1 Enter
for who in alice bob; do
  tui_use $who
  tui_wait 'Nothing left to annotate' "$who done"
  tui_keys q
  tui_gone
done
run fundus-annotate-tui export two --report two.json -o two.jsonl
expect_status 0 "export"
expect_eq "$(jq -c '.questions[0] | [.id, .method, .items, .raters, .observed, .expected, .kappa]' two.json)" \
  '["gradable","cohen",4,2,0.75,0.5,0.5]' "report: Cohen's kappa of gradable"
expect_eq "$(jq -c '.boxes | [.images, .matched, .unmatched, .mean_iou]' two.json)" '[4,1,1,1]' \
  "report: the boxes of the two annotators"
expect_eq "$(jq -c '[.annotated, .complete]' two.json)" '[4,4]' "report: four images done twice"
expect_eq "$(jq -r '.annotators | length' two.jsonl | sort -u)" 2 "two annotators per image"
expect_eq "$(jq -r '.answers.gradable | [.value, .votes, .of] | join(" ")' two.jsonl | tr '\n' '|')" \
  "yes 2 2|yes 1 2|no 2 2|yes 2 2|" "consensus answers (a tie goes to yes)"
expect_eq "$(jq -c 'select(.meta.index == 0) | .objects | map([.by, .votes])' two.jsonl)" \
  '[["consensus",2],["bob",1]]' "consensus boxes on the first image"
expect_eq "$(jq -c 'select(.meta.index == 0) | .objects[0].bbox' two.jsonl)" \
  "$(jq -c '.objects[0].bbox' preds0.jsonl)" "the agreed box"

# --- Active learning: the least certain image first (scores 0.97, 0.52, none, 0.8).
fundus-annotate-tui init -q act --order active
fundus-annotate-tui add -q act img.jsonl
for i in 0 1 3; do
  score=$(echo "0.97 0.52 - 0.8" | cut -d' ' -f$((i + 1)))
  jq -c --argjson s "$score" "select(.meta.index == $i) | {image, objects: [.objects[0]
    | .score = \$s | .by = \"model:test\"]}" img.jsonl
done >act.jsonl
fundus-annotate-tui add -q --predictions act act.jsonl
tui_start alice act
tui_wait 'alice \| 1 of 4 .*synth-000001.jpg' "score 0.52 first"
tui_keys A
tui_wait 'alice \| 2 of 4 .*synth-000003.jpg' "then 0.8"
tui_keys A
tui_wait 'alice \| 3 of 4 .*synth-000000.jpg' "then 0.97"
tui_keys A
tui_wait 'alice \| 4 of 4 .*synth-000002.jpg' "then the image without predictions"
tui_keys q
tui_gone

# --- A question asked of every box: a new box takes the digits first.
fundus-annotate-tui init -q per --question gradable:yesno --question rim:choice:thin,normal:box
fundus-annotate-tui add -q per img.jsonl
tui_start alice per
tui_wait 'alice \| 1 of 4' "first image"
tui_keys B
tui_wait 'Box 1 questions' "the box's questions are listed"
tui_wait '> rim: -' "and the digits answer them"
tui_keys 2 Escape
tui_wait '> gradable: -' "deselected, the image's question"
tui_keys 1 Enter
tui_wait 'alice \| 2 of 4' "saved"
wait_journal per alice 1
expect_eq "$(jq -c '[.objects[0].answers.rim.value, .objects[0].answers.rim.by, .answers.gradable.value]' per/journals/alice.jsonl)" \
  '["normal","alice","yes"]' "the box's answer is saved with the box"
tui_keys q
tui_gone
finish

# fundus-annotate-tui killed with SIGKILL in the middle of a session loses
# nothing that was saved (the journal holds whole, synced lines), and the
# next session of the same annotator resumes on the image it was on; the
# image goes to someone else only once its annotator is done with it.
. "$FUNDUS_SOURCE/test/shell/lib.sh"
. "$FUNDUS_SOURCE/test/shell/annotate_tmux.inc"

make_photos 4 img
run fundus-annotate-tui init ws --question gradable:yesno
expect_status 0 "init"
run fundus-annotate-tui add -q ws img.jsonl
expect_status 0 "add"

tui_start alice ws
tui_wait 'alice \| 1 of 4 .*synth-000000.jpg' "first image"
tui_keys B
tui_wait 'Boxes 1' "a box"
tui_keys 1 Enter
tui_wait 'alice \| 2 of 4 .*synth-000001.jpg' "second image"
tui_keys 2 Enter
tui_wait 'alice \| 3 of 4 .*synth-000002.jpg' "third image"
# Work in progress on the third image, not saved; then the process is killed.
tui_keys B
tui_wait 'Boxes 1' "a box on the third image"
tui_keys 1
tui_wait 'gradable: yes' "an answer on the third image"
pid=$(tui_pid)
checks=$((checks + 1))
kill -9 "$pid" || fail "cannot kill $pid"
tui_gone

# What was saved is there, whole; what was not, is not.
expect_eq "$(journal_count ws alice)" 2 "two images saved before the kill"
checks=$((checks + 1))
jq -e . ws/journals/alice.jsonl >/dev/null 2>&1 || fail "the journal is not whole JSON lines"
expect_eq "$(jq -r '.image | sub(".*/"; "")' ws/journals/alice.jsonl | tr '\n' ' ')" \
  "synth-000000.jpg synth-000001.jpg " "the saved images"
expect_eq "$(sed -n 1p ws/journals/alice.jsonl | jq -r '[(.objects | length), .answers.gradable.value] | join(" ")')" \
  "1 yes" "the first image's work"
expect_eq "$(sed -n 2p ws/journals/alice.jsonl | jq -r '[(.objects | length), .answers.gradable.value] | join(" ")')" \
  "0 no" "the second image's work"
run fundus-annotate-tui export ws
expect_status 0 "export after the kill"
expect_eq "$(wc -l <"$T/out")" 2 "the export has the two saved images"

# The next session starts on the third image again, with the count of done images.
tui_start alice ws
tui_wait 'alice \| 3 of 4 \| done 2 .*synth-000002.jpg' "resumes where it stopped"
tui_wait 'Boxes 0' "the unsaved box is gone"
tui_keys B 2 Enter
tui_wait 'alice \| 4 of 4 .*synth-000003.jpg' "and goes on"
wait_journal ws alice 3
expect_eq "$(sed -n 3p ws/journals/alice.jsonl | jq -r '.image | sub(".*/"; "")')" \
  synth-000002.jpg "the resumed image saved"

# Killed again on the last image: bob, starting now, gets it (alice's claim
# died with her session), and alice, coming back, finds nothing left.
pid=$(tui_pid)
kill -9 "$pid"
tui_gone
tui_start bob ws
tui_wait 'bob \| 1 of 4 .*synth-000003.jpg' "bob gets the image of the dead session"
tui_start alice ws
tui_wait 'Nothing left to annotate' "alice: nothing left while bob works"
tui_keys q
tui_gone
tui_use bob
tui_keys Enter
tui_wait 'Nothing left to annotate' "bob done"
tui_keys q
tui_gone
wait_journal ws bob 1
run fundus-annotate-tui report ws
expect_status 0 "report"
expect_eq "$(jq -r '[.annotated, .complete] | join(" ")' "$T/out")" "4 4" "every image done once"
# The killed sessions left lock files behind; later sessions cleaned them up.
checks=$((checks + 1))
[ -z "$(ls ws/sessions)" ] || fail "session locks left: $(ls ws/sessions)"
finish

# fundus-annotate-tui without a terminal: init, add, export and report,
# their output, and their errors (misuse 2, failures 1) with clear messages.
. "$FUNDUS_SOURCE/test/shell/lib.sh"

command -v fundus-annotate-tui >/dev/null || skip "fundus-annotate-tui is not built"
command -v jq >/dev/null || skip "jq is not installed (scripts/setup installs it)"
p=fundus-annotate-tui

# init: the configuration file, one label or question per line.
run $p init ws --label optic_disc:yellow:d --label cup:#00ff80:c \
  --question gradable:yesno --question quality:choice:good,fair,poor \
  --question rim:multi:notch,thin:box --overlap 2 --order shuffle --seed 7
expect_status 0 "init"
expect_empty "$T/out" "init prints nothing"
expect_match ws/workspace.json '^    \{"name":"cup","colour":"#00ff80","key":"c"\}$' "a label per line"
expect_match ws/workspace.json '"choices":\["notch","thin"\]' "choices"
expect_match ws/workspace.json '"scope":"box"' "a box question"
expect_match ws/workspace.json '"overlap": 2,' "overlap"
expect_match ws/workspace.json '"order": "shuffle",' "order"
expect_match ws/workspace.json '"seed": 7,' "seed"
jq -e . ws/workspace.json >/dev/null || fail "workspace.json is not JSON"
run $p init ws
expect_status 1 "init over a workspace"
expect_match "$T/err" "^fundus-annotate-tui: cannot make workspace 'ws': a workspace exists there already$" \
  "the message says why"
run $p init plain
expect_status 0 "init with the defaults"
expect_match plain/workspace.json '"name":"optic_disc"' "the default label"

# init: misuse.
run $p init bad --label 'optic disc'
expect_status 2 "a bad label name"
expect_match "$T/err" "^fundus-annotate-tui: --label: label 'optic disc': " "the bad label is named"
run $p init bad --label disc:q
expect_status 2 "a label on one of the program's keys"
expect_match "$T/err" "the key 'q' is one of the program's own" "the clash is named"
run $p init bad --question q:maybe
expect_status 2 "a bad question type"
expect_match "$T/err" "^fundus-annotate-tui: --question: question 'q:maybe': expected ID:yesno" \
  "the question spec is explained"
run $p init bad --question q:choice:one
expect_status 2 "a choice question with one choice"
run $p init bad --order random
expect_status 2 "a bad order"
expect_match "$T/err" "--order: 'random'" "the bad order is named"
run $p init bad --overlap 0
expect_status 2 "overlap 0"
run $p init bad --colour 256
expect_status 2 "an option of another command"
expect_match "$T/err" "does not go with init" "says which command"
[ ! -e bad ] || fail "a failed init left a folder"
checks=$((checks + 1))
run $p
expect_status 2 "no workspace"
run $p export ws extra
expect_status 2 "two workspaces"

# add: images and predictions, from files and standard input.
printf '%s\n' '{"image":"a.jpg","width":100,"height":80}' '{"image":"b.jpg"}' \
  '{"id":"sha256:00","image":"c.jpg"}' >imgs.jsonl
run $p add ws imgs.jsonl
expect_status 0 "add"
expect_match "$T/err" "imgs.jsonl: 3 images added$" "the count"
run $p add ws - <imgs.jsonl
expect_status 0 "add from standard input"
expect_match "$T/err" "-: 0 images added, 3 already there" "nothing twice"
expect_match ws/images.jsonl "\"image\":\"$PWD/a.jpg\"" "relative paths made absolute"
run $p add ws --predictions - <<<'{"id":"sha256:00","objects":[{"label":"optic_disc","bbox":[1,2,3,4],"score":0.5}]}'
expect_status 0 "add --predictions"
expect_match "$T/err" "1 predictions added" "the count"
run $p add ws missing.jsonl imgs.jsonl
expect_status 1 "a missing file"
expect_match "$T/err" "^fundus-annotate-tui: cannot add 'missing.jsonl': " "the file is named"
expect_match "$T/err" "imgs.jsonl: 0 images added, 3 already there" "the other files are added"
printf '{"image":"d.jpg"}\n{"image":\n' >broken.jsonl
run $p add ws broken.jsonl
expect_status 1 "a broken line"
expect_match "$T/err" "cannot add 'broken.jsonl': line 2: " "the line is named"
run $p add ws
expect_status 2 "add without a file"
run $p add nows imgs.jsonl
expect_status 1 "add to a folder that is not a workspace"
expect_match "$T/err" "cannot open workspace 'nows': not a workspace" "says so"
mkdir -p dirws/workspace.json
run $p report dirws
expect_status 1 "a workspace.json that cannot be read"
expect_match "$T/err" "^fundus-annotate-tui: cannot open workspace 'dirws': workspace\.json: " "names workspace.json"

# export and report of a workspace nobody annotated yet.
run $p export ws
expect_status 0 "export of nothing"
expect_empty "$T/out" "no records"
run $p report ws
expect_status 0 "report"
expect_eq() { checks=$((checks + 1)); [ "$1" = "$2" ] || fail "$3: '$1', expected '$2'"; }
expect_eq "$(jq -c '[.images, .annotated, .overlap, (.questions | map(.id))]' "$T/out")" \
  '[4,0,2,["gradable","quality"]]' "report of an empty workspace"

# A journal written by a session elsewhere (as the screen writes them) is exported.
mkdir -p ws/journals
a=$(jq -c 'select(.image | endswith("/a.jpg"))' ws/images.jsonl | head -1)
jq -c '{image, width, height, objects: [{label: "optic_disc", bbox: [10, 10, 30, 40], by: "zoe"}],
  answers: {gradable: {value: "yes", by: "zoe"}},
  annotation: {by: "zoe", status: "done", flag: false, seconds: 2.5}}' <<<"$a" >ws/journals/zoe.jsonl
echo 'not json' >>ws/journals/zoe.jsonl
run $p export ws --min-annotators 1 --iou 0.6
expect_status 0 "export"
expect_match "$T/err" "journals/zoe.jsonl: line 2: .*line skipped" "a bad journal line is reported"
expect_eq "$(jq -c '[.objects[0].bbox, .answers.gradable.value, .annotators]' "$T/out")" \
  '[[10,10,30,40],"yes",["zoe"]]' "the exported record"
run $p export ws --min-annotators 2
expect_empty "$T/out" "--min-annotators 2 leaves it out"
run $p export ws --iou 2
expect_status 2 "--iou out of range"
run $p export ws -o /nonexistent/dir/out.jsonl
expect_status 1 "an output that cannot be written"
expect_match "$T/err" "/nonexistent/dir/out\.jsonl': No such file" "the output and why named"
run $p export ws -o /dev/full
expect_status 1 "an output that fills up"
expect_match "$T/err" "^fundus-annotate-tui: cannot write '/dev/full': write failed: No space left on device$" "a failed write names the output and why"
expect_no_match "$T/err" "cannot export 'ws'" "a failed write is not blamed on the workspace"
run $p export ws --report /dev/full
expect_status 1 "a report that fills up"
expect_match "$T/err" "cannot write '/dev/full': No space left on device" "a failed report write named with why"

# Annotating needs a terminal.
run $p --user alice ws </dev/null
expect_status 2 "no terminal"
expect_match "$T/err" "annotating needs a terminal" "says so"
run $p --user 'a/b' annotate ws </dev/null
expect_status 2 "no terminal comes first"
finish

/*
 * Workspaces: configuration specs and files, adding images and
 * predictions, claims between annotators (with and without overlap, dead
 * sessions, resuming), journals, the active order, the export's consensus
 * and the agreement statistics against hand-computed values.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fundus/file.h"
#include "fundus/record.h"
#include "fundus/workspace.h"
#include "harness.h"
#include "unit/testutil.h"

/* A workspace folder under the scratch folder with labels and questions; returns its path. */
static const char *make_ws(const char *name, int overlap, enum fundus_order order)
{
	static char dirs[8][4096];
	static int slot;
	char *dir = dirs[slot++ % 8];
	struct fundus_workspace_config *cfg;
	int rc;

	snprintf(dir, 4096, "%s", tu_path(name));
	if (fundus_workspace_config_new(&cfg) < 0)
		return NULL;
	cfg->overlap = overlap;
	cfg->order = order;
	rc = fundus_workspace_config_add_label(cfg, "optic_disc:yellow:d");
	if (rc == 0)
		rc = fundus_workspace_config_add_label(cfg, "cup:#00ff80:c");
	if (rc == 0)
		rc = fundus_workspace_config_add_question(cfg, "gradable:yesno");
	if (rc == 0)
		rc = fundus_workspace_config_add_question(cfg, "quality:choice:good,fair,poor");
	if (rc == 0)
		rc =
		    fundus_workspace_config_add_question(cfg, "findings:multi:haem,exudate,drusen");
	if (rc == 0)
		rc = fundus_workspace_config_add_question(cfg, "note:text");
	if (rc == 0)
		rc = fundus_workspace_config_add_question(cfg, "rim:choice:thin,normal:box");
	if (rc == 0)
		rc = fundus_workspace_create(dir, cfg);
	fundus_workspace_config_free(cfg);
	if (rc < 0) {
		fprintf(stderr, "make_ws: %s\n", fundus_errmsg());
		return NULL;
	}
	return dir;
}

/* Writes n image records img/0.jpg ... (relative paths) to a stream file; returns its path. */
static const char *make_images(const char *file, int n)
{
	static char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s", tu_path(file));
	f = fopen(path, "w");
	if (f == NULL)
		return NULL;
	for (int i = 0; i < n; i++)
		fprintf(
		    f,
		    "{\"image\":\"img/%d.jpg\",\"width\":800,\"height\":600,\"meta\":{\"n\":%d},"
		    "\"objects\":[{\"label\":\"optic_disc\",\"bbox\":[1,2,3,4],\"by\":\"synth\"}]}"
		    "\n",
		    i, i);
	fclose(f);
	return path;
}

/* Writes a NUL-terminated text to path; 0 or -1. */
static int write_text(const char *path, const char *text)
{
	return tu_write_file(path, text, strlen(text));
}

/* Copies a file; 0 or -1. */
static int copy_file(const char *from, const char *to)
{
	uint8_t *data;
	size_t len;
	int rc;

	if (fundus_file_read(from, 1 << 20, &data, &len) < 0)
		return -1;
	rc = tu_write_file(to, data, len);
	fundus_free(data);
	return rc;
}

/* A work record: boxes [x0,y0,x1,y1] of label optic_disc and answers JSON text. */
static struct fundus_record *work(const double *boxes, int n, const char *answers_json)
{
	struct fundus_record *r;

	if (fundus_record_new(&r) < 0)
		return NULL;
	for (int k = 0; k < n; k++) {
		struct fundus_box b = {boxes[4 * k], boxes[4 * k + 1], boxes[4 * k + 2],
				       boxes[4 * k + 3]};

		fundus_record_add_object(r, "optic_disc", &b, NAN, NULL);
	}
	if (answers_json)
		r->answers = cJSON_Parse(answers_json);
	return r;
}

TEST(label_and_question_specs)
{
	struct fundus_workspace_config *cfg;
	char *text = NULL;

	CHECK_OK(fundus_workspace_config_new(&cfg));
	CHECK_INT_EQ(fundus_workspace_config_check(cfg), FUNDUS_EINVAL); /* no label */
	CHECK_STR_CONTAINS(fundus_errmsg(), "no label");
	CHECK_OK(fundus_workspace_config_add_label(cfg, "optic_disc:#ffd400:d"));
	CHECK_OK(fundus_workspace_config_add_label(cfg, "cup:c"));
	CHECK_OK(fundus_workspace_config_add_label(cfg, "vessel"));
	CHECK_INT_EQ(cfg->n_labels, 3);
	CHECK_INT_EQ(cfg->labels[0].colour[0], 0xff);
	CHECK_INT_EQ(cfg->labels[0].colour[1], 0xd4);
	CHECK_INT_EQ(cfg->labels[0].key, 'd');
	CHECK_INT_EQ(cfg->labels[1].key, 'c');
	CHECK_INT_EQ(cfg->labels[2].key, 0);
	CHECK_INT_EQ(fundus_workspace_config_add_label(cfg, "optic_disc"), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "given twice");
	CHECK_INT_EQ(fundus_workspace_config_add_label(cfg, "rim:d"), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "same key");
	CHECK_INT_EQ(fundus_workspace_config_add_label(cfg, "rim:#12345"), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_workspace_config_add_label(cfg, "bad name"), FUNDUS_EINVAL);
	CHECK_INT_EQ(cfg->n_labels, 3);

	CHECK_OK(fundus_workspace_config_add_question(cfg, "gradable:yesno"));
	CHECK_OK(fundus_workspace_config_add_question(cfg, "quality:choice:good,fair,poor"));
	CHECK_OK(fundus_workspace_config_add_question(cfg, "rim:multi:notch,thin:box"));
	CHECK_OK(fundus_workspace_config_add_question(cfg, "note:text"));
	CHECK_INT_EQ(cfg->n_questions, 4);
	CHECK_INT_EQ(cfg->questions[1].n_choices, 3);
	CHECK_STR_EQ(cfg->questions[1].choices[2], "poor");
	CHECK_INT_EQ(cfg->questions[2].scope, FUNDUS_SCOPE_BOX);
	CHECK_INT_EQ(cfg->questions[2].type, FUNDUS_QUESTION_MULTI);
	CHECK_INT_EQ(fundus_workspace_config_add_question(cfg, "x:choice"), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_workspace_config_add_question(cfg, "x:choice:one"), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "2 to 9 choices");
	CHECK_INT_EQ(fundus_workspace_config_add_question(cfg, "x:yesno:a,b"), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_workspace_config_add_question(cfg, "x:maybe"), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_workspace_config_add_question(cfg, "x:choice:a,a"), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "given twice");
	CHECK_INT_EQ(fundus_workspace_config_add_question(cfg, "note:yesno"), FUNDUS_EINVAL);
	CHECK_INT_EQ(cfg->n_questions, 4);

	/* Format, parse back, format again: the same text. */
	{
		struct fundus_workspace_config *back;
		char *again = NULL;

		CHECK_OK(fundus_workspace_config_format(cfg, &text));
		CHECK_OK(fundus_workspace_config_parse(text, strlen(text), &back));
		CHECK_INT_EQ(back->n_labels, 3);
		CHECK_INT_EQ(back->n_questions, 4);
		CHECK_INT_EQ(back->labels[1].key, 'c');
		CHECK_OK(fundus_workspace_config_format(back, &again));
		CHECK_STR_EQ(again, text);
		fundus_free(again);
		fundus_workspace_config_free(back);
	}
	fundus_free(text);
	fundus_workspace_config_free(cfg);
}

TEST(config_file_errors)
{
	static const struct {
		const char *text;
		int code;
		const char *msg;
	} cases[] = {
	    {"{\"labels\":[{\"name\":\"d\"}],\"overlapp\":2}", FUNDUS_EFORMAT,
	     "unknown member \"overlapp\""},
	    {"{\"labels\":[]}", FUNDUS_EFORMAT, "no label"},
	    {"{\"questions\":[]}", FUNDUS_EFORMAT, "labels: missing"},
	    {"{\"labels\":[{\"name\":\"d\",\"key\":\"ab\"}]}", FUNDUS_EFORMAT, "labels[0].key"},
	    {"{\"labels\":[{\"name\":\"d\",\"colour\":\"mauve\"}]}", FUNDUS_EFORMAT,
	     "labels[0].colour"},
	    {"{\"labels\":[{\"name\":\"d\"}],\"questions\":[{\"id\":\"q\",\"type\":\"maybe\"}]}",
	     FUNDUS_EFORMAT, "questions[0].type"},
	    {"{\"labels\":[{\"name\":\"d\"}],\"questions\":[{\"id\":\"q\",\"type\":\"choice\"}]}",
	     FUNDUS_EFORMAT, "needs 2 to 9 choices"},
	    {"{\"labels\":[{\"name\":\"d\"}],\"overlap\":0}", FUNDUS_EFORMAT, "overlap"},
	    {"{\"labels\":[{\"name\":\"d\"}],\"order\":\"random\"}", FUNDUS_EFORMAT, "order"},
	    {"{\"fundus_workspace\":2,\"labels\":[{\"name\":\"d\"}]}", FUNDUS_EUNSUPPORTED,
	     "newer"},
	    {"{\n  \"labels\": [\n    {\"name\": \"d\",}\n  ]\n}", FUNDUS_EFORMAT,
	     "line 3, column"},
	    {"[1]", FUNDUS_EFORMAT, "expected a JSON object"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct fundus_workspace_config *cfg = (void *)1;

		CHECK_INT_EQ(
		    fundus_workspace_config_parse(cases[i].text, strlen(cases[i].text), &cfg),
		    cases[i].code);
		CHECK(cfg == NULL);
		CHECK_STR_CONTAINS(fundus_errmsg(), cases[i].msg);
	}
}

TEST(answer_values)
{
	struct fundus_workspace_config *cfg;
	static const struct {
		int q;
		const char *json;
		int ok;
	} cases[] = {
	    {0, "\"yes\"", 1}, {0, "\"no\"", 1},        {0, "\"maybe\"", 0},
	    {0, "true", 0},    {1, "\"fair\"", 1},      {1, "\"bad\"", 0},
	    {2, "[]", 1},      {2, "[\"b\",\"a\"]", 1}, {2, "[\"a\",\"a\"]", 0},
	    {2, "\"a\"", 0},   {3, "\"anything\"", 1},  {3, "3", 0},
	};

	CHECK_OK(fundus_workspace_config_new(&cfg));
	CHECK_OK(fundus_workspace_config_add_label(cfg, "d"));
	CHECK_OK(fundus_workspace_config_add_question(cfg, "g:yesno"));
	CHECK_OK(fundus_workspace_config_add_question(cfg, "q:choice:good,fair"));
	CHECK_OK(fundus_workspace_config_add_question(cfg, "m:multi:a,b,c"));
	CHECK_OK(fundus_workspace_config_add_question(cfg, "t:text"));
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cJSON *v = cJSON_Parse(cases[i].json);
		int rc = fundus_question_check_value(&cfg->questions[cases[i].q], v);

		cJSON_Delete(v);
		if ((rc == 0) != cases[i].ok)
			HARNESS_FAIL("case %zu (%s): rc %d", i, cases[i].json, rc);
	}
	fundus_workspace_config_free(cfg);
}

TEST(iou_by_hand)
{
	struct fundus_box a = {0, 0, 10, 10}, b = {0, 0, 10, 20}, c = {5, 5, 15, 15},
			  d = {20, 20, 30, 30}, e = {3, 3, 3, 9};

	CHECK_NEAR(fundus_box_iou(&a, &a), 1.0, 1e-15);
	CHECK_NEAR(fundus_box_iou(&a, &b), 0.5, 1e-15); /* 100 / 200 */
	CHECK_NEAR(fundus_box_iou(&a, &c), 25.0 / 175.0, 1e-15);
	CHECK_NEAR(fundus_box_iou(&a, &d), 0.0, 0);
	CHECK_NEAR(fundus_box_iou(&a, &e), 0.0, 0); /* empty box */
	CHECK_NEAR(fundus_box_iou(&b, &a), fundus_box_iou(&a, &b), 0);
}

TEST(cohen_by_hand)
{
	/* 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15: po 0.7, pe 0.5, kappa 0.4. */
	size_t t[4] = {20, 5, 10, 15}, same[4] = {7, 0, 0, 0}, none[4] = {0};
	double k, po, pe;

	CHECK_OK(fundus_agree_cohen(t, 2, &k, &po, &pe));
	CHECK_NEAR(po, 0.7, 1e-12);
	CHECK_NEAR(pe, 0.5, 1e-12);
	CHECK_NEAR(k, 0.4, 1e-12);
	/* Perfect agreement on varied answers is 1; on one answer only, undefined. */
	{
		size_t perfect[9] = {3, 0, 0, 0, 4, 0, 0, 0, 5};

		CHECK_OK(fundus_agree_cohen(perfect, 3, &k, NULL, NULL));
		CHECK_NEAR(k, 1.0, 1e-12);
	}
	CHECK_OK(fundus_agree_cohen(same, 2, &k, &po, &pe));
	CHECK(isnan(k));
	CHECK_NEAR(po, 1.0, 0);
	CHECK_INT_EQ(fundus_agree_cohen(none, 2, &k, NULL, NULL), FUNDUS_EINVAL);
}

TEST(fleiss_by_hand)
{
	/* Fleiss (1971) as in Wikipedia's worked example: 10 items, 14 raters, 5 categories. */
	static const size_t wiki[50] = {0, 0, 0, 0, 14, 0, 2, 6, 4, 2, 0, 0, 3, 5, 6, 0, 3,
					9, 2, 0, 2, 2,  8, 1, 1, 7, 7, 0, 0, 0, 3, 2, 6, 3,
					0, 2, 5, 3, 2,  2, 6, 5, 2, 1, 0, 0, 2, 2, 3, 7};
	/* Three raters, yes/no: (3,0) (2,1) (0,3): P = 7/9, Pe = 41/81, kappa = 22/40. */
	static const size_t small[6] = {3, 0, 2, 1, 0, 3};
	/* Items rated once are left out. */
	static const size_t ragged[8] = {3, 0, 2, 1, 0, 3, 1, 0};
	double k, po, pe;

	CHECK_OK(fundus_agree_fleiss(wiki, 10, 5, &k, &po, &pe));
	CHECK_NEAR(po, 0.378022, 1e-6);
	CHECK_NEAR(pe, 0.212755, 1e-6);
	CHECK_NEAR(k, 0.20993, 1e-5);
	CHECK_OK(fundus_agree_fleiss(small, 3, 2, &k, &po, &pe));
	CHECK_NEAR(po, 7.0 / 9.0, 1e-12);
	CHECK_NEAR(pe, 41.0 / 81.0, 1e-12);
	CHECK_NEAR(k, 0.55, 1e-12);
	CHECK_OK(fundus_agree_fleiss(ragged, 4, 2, &k, NULL, NULL));
	CHECK_NEAR(k, 0.55, 1e-12);
	CHECK_INT_EQ(fundus_agree_fleiss(ragged + 6, 1, 2, &k, NULL, NULL), FUNDUS_EINVAL);
}

TEST(create_open_add)
{
	const char *dir = make_ws("ws_add", 1, FUNDUS_ORDER_SEQUENTIAL);
	const char *imgs = make_images("add.jsonl", 5);
	struct fundus_workspace *ws;
	size_t added, dups, at;
	char cwd[4096], want[4200];

	CHECK(dir != NULL && imgs != NULL);
	{
		struct fundus_workspace_config *cfg;

		CHECK_OK(fundus_workspace_config_new(&cfg));
		CHECK_OK(fundus_workspace_config_add_label(cfg, "d"));
		CHECK_INT_EQ(fundus_workspace_create(dir, cfg), FUNDUS_EEXIST);
		fundus_workspace_config_free(cfg);
	}
	CHECK_INT_EQ(fundus_workspace_open(&ws, tu_path("no_ws")), FUNDUS_ENOENT);
	CHECK_OK(fundus_workspace_open(&ws, dir));
	CHECK_INT_EQ(fundus_workspace_get_config(ws)->n_questions, 5);
	CHECK_OK(fundus_workspace_add(ws, imgs, 0, &added, &dups));
	CHECK_INT_EQ(added, 5);
	CHECK_INT_EQ(dups, 0);
	CHECK_OK(fundus_workspace_add(ws, imgs, 0, &added, &dups));
	CHECK_INT_EQ(added, 0);
	CHECK_INT_EQ(dups, 5);
	CHECK_INT_EQ(fundus_workspace_count(ws), 5);
	/* Relative paths became absolute, from the current folder. */
	CHECK(getcwd(cwd, sizeof cwd) != NULL);
	snprintf(want, sizeof want, "%s/img/3.jpg", cwd);
	CHECK_STR_EQ(fundus_workspace_image(ws, 3)->image, want);
	CHECK_STR_EQ(fundus_workspace_key(ws, 3), want);
	CHECK_OK(fundus_workspace_find(ws, want, &at));
	CHECK_INT_EQ(at, 3);
	CHECK_INT_EQ(fundus_workspace_find(ws, "img/3.jpg", &at), FUNDUS_ENOENT);
	fundus_workspace_close(ws);

	/* Another process's view: the same pool, read from the file. */
	CHECK_OK(fundus_workspace_open(&ws, dir));
	CHECK_INT_EQ(fundus_workspace_count(ws), 5);
	CHECK_INT_EQ((int)fundus_workspace_image(ws, 4)->n_objects, 1);
	fundus_workspace_close(ws);

	/* A record without image or id stops the addition there. */
	{
		const char *bad = tu_path("bad.jsonl");
		static const char text[] =
		    "{\"image\":\"x/a.jpg\"}\n{\"width\":3}\n{\"image\":\"x/b.jpg\"}\n";

		CHECK_INT_EQ(tu_write_file(bad, text, sizeof text - 1), 0);
		CHECK_OK(fundus_workspace_open(&ws, dir));
		CHECK_INT_EQ(fundus_workspace_add(ws, bad, 0, &added, NULL), FUNDUS_EINVAL);
		CHECK_STR_CONTAINS(fundus_errmsg(), "line 2");
		CHECK_INT_EQ(added, 1);
		CHECK_INT_EQ(fundus_workspace_count(ws), 6);
		fundus_workspace_close(ws);
	}
}

TEST(proposals_and_active_order)
{
	const char *dir = make_ws("ws_active", 1, FUNDUS_ORDER_ACTIVE);
	const char *preds = tu_path("preds.jsonl");
	struct fundus_workspace *ws;
	struct fundus_record *p;
	size_t *order, n;
	char text[4096];
	int len;

	CHECK(dir != NULL);
	/* Four images by id; predictions for 0 (sure), 1 (0.5), 2 (two rival boxes); none for 3. */
	CHECK(write_text(tu_path("ids.jsonl"),
			 "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n{\"id\":\"d\"}\n") == 0);
	len = snprintf(text, sizeof text, "%s",
		       "{\"id\":\"a\",\"objects\":[{\"label\":\"optic_disc\",\"bbox\":[0,0,10,10],"
		       "\"score\":0.2,\"by\":\"model:x\"}]}\n"
		       "{\"id\":\"a\",\"objects\":[{\"label\":\"optic_disc\",\"bbox\":[0,0,10,10],"
		       "\"score\":0.98,\"by\":\"model:x\"}]}\n"
		       "{\"id\":\"b\",\"objects\":[{\"label\":\"optic_disc\",\"bbox\":[0,0,10,10],"
		       "\"score\":0.5,\"by\":\"model:x\"}]}\n"
		       "{\"id\":\"c\",\"objects\":[{\"label\":\"optic_disc\",\"bbox\":[0,0,10,10],"
		       "\"score\":0.9},{\"label\":\"optic_disc\",\"bbox\":[50,50,60,60],"
		       "\"score\":0.8}]}\n");
	CHECK_INT_EQ(tu_write_file(preds, text, (size_t)len), 0);
	CHECK_OK(fundus_workspace_open(&ws, dir));
	CHECK_OK(fundus_workspace_add(ws, tu_path("ids.jsonl"), 0, NULL, NULL));
	CHECK_OK(fundus_workspace_add(ws, preds, 1, NULL, NULL));
	/* The later prediction of "a" replaced the earlier one. */
	CHECK_OK(fundus_workspace_proposals(ws, 0, &p));
	CHECK(p != NULL);
	CHECK_INT_EQ((int)p->n_objects, 1);
	CHECK_NEAR(p->objects[0].score, 0.98, 0);
	CHECK_NEAR(fundus_workspace_uncertainty(p), 0.04, 1e-12);
	fundus_record_free(p);
	CHECK_OK(fundus_workspace_proposals(ws, 2, &p));
	CHECK_NEAR(p->objects[0].score, 0.9, 0); /* best first */
	CHECK_NEAR(fundus_workspace_uncertainty(p), 0.8 / 0.9, 1e-12);
	fundus_record_free(p);
	CHECK_OK(fundus_workspace_proposals(ws, 3, &p));
	CHECK(p == NULL);
	CHECK(isnan(fundus_workspace_uncertainty(NULL)));
	/* Least certain first (b: 1.0, c: 0.89, a: 0.04), then the unknown d. */
	CHECK_OK(fundus_workspace_order(ws, &order, &n));
	CHECK_INT_EQ(n, 4);
	CHECK_INT_EQ(order[0], 1);
	CHECK_INT_EQ(order[1], 2);
	CHECK_INT_EQ(order[2], 0);
	CHECK_INT_EQ(order[3], 3);
	fundus_free(order);
	fundus_workspace_close(ws);

	/* An empty prediction means "found nothing": most uncertain. */
	{
		struct fundus_record *empty;

		CHECK_OK(fundus_record_new(&empty));
		CHECK_NEAR(fundus_workspace_uncertainty(empty), 1.0, 0);
		fundus_record_free(empty);
	}
}

/* A proposer that proposes one box per image, the image's index wide, for the plug-in test. */
static int test_propose(void *ud, const struct fundus_record *rec, struct fundus_record **out)
{
	struct fundus_box b = {0, 0, 10, 10};
	int rc = fundus_record_new(out);

	(*(int *)ud)++;
	if (rc == 0)
		rc = fundus_record_add_object(*out, "optic_disc", &b,
					      0.5 + 0.01 * (double)rec->width, "model:test");
	return rc;
}

TEST(plugged_proposer)
{
	const char *dir = make_ws("ws_plug", 1, FUNDUS_ORDER_ACTIVE);
	struct fundus_workspace *ws;
	struct fundus_proposer pr = {"model:test", test_propose, NULL, NULL};
	struct fundus_record *p;
	size_t *order, n;
	int calls = 0;

	CHECK(dir != NULL);
	CHECK(write_text(tu_path("w.jsonl"),
			 "{\"id\":\"a\",\"width\":40}\n{\"id\":\"b\",\"width\":1}\n") == 0);
	CHECK_OK(fundus_workspace_open(&ws, dir));
	CHECK_OK(fundus_workspace_add(ws, tu_path("w.jsonl"), 0, NULL, NULL));
	pr.ud = &calls;
	fundus_workspace_set_proposer(ws, &pr);
	CHECK_OK(fundus_workspace_proposals(ws, 0, &p));
	CHECK_STR_EQ(p->objects[0].by, "model:test");
	fundus_record_free(p);
	CHECK_OK(fundus_workspace_order(ws, &order, &n));
	CHECK_INT_EQ(order[0], 1); /* score 0.51 is less certain than 0.9 */
	CHECK_INT_EQ(calls, 3);
	fundus_free(order);
	fundus_workspace_close(ws);
}

TEST(shuffled_order_is_stable)
{
	const char *dir = make_ws("ws_shuffle", 1, FUNDUS_ORDER_SHUFFLE);
	struct fundus_workspace *ws;
	size_t *o1, *o2, n1, n2, same = 0;

	CHECK(dir != NULL);
	CHECK_OK(fundus_workspace_open(&ws, dir));
	CHECK_OK(fundus_workspace_add(ws, make_images("s20.jsonl", 20), 0, NULL, NULL));
	CHECK_OK(fundus_workspace_order(ws, &o1, &n1));
	for (size_t i = 0; i < n1; i++)
		same += o1[i] == i;
	CHECK_INT_LT(same, 10); /* shuffled */
	/* Images added later fall in between: the earlier ones keep their relative order. */
	CHECK_OK(fundus_workspace_add(ws, make_images("s30.jsonl", 30), 0, NULL, NULL));
	CHECK_OK(fundus_workspace_order(ws, &o2, &n2));
	CHECK_INT_EQ(n2, 30);
	for (size_t i = 0, k = 0; i < n2; i++)
		if (o2[i] < 20) {
			CHECK_INT_EQ(o2[i], o1[k]);
			k++;
		}
	fundus_free(o1);
	fundus_free(o2);
	fundus_workspace_close(ws);
}

TEST(claims_without_overlap)
{
	const char *dir = make_ws("ws_claims", 1, FUNDUS_ORDER_SEQUENTIAL);
	struct fundus_workspace *wa, *wb;
	struct fundus_session *a, *b, *a2;
	struct fundus_session_stats st;
	size_t ia, ib, i;
	int found;

	CHECK(dir != NULL);
	CHECK_OK(fundus_workspace_open(&wa, dir));
	CHECK_OK(fundus_workspace_add(wa, make_images("c3.jsonl", 3), 0, NULL, NULL));
	CHECK_OK(fundus_workspace_open(&wb, dir));
	CHECK_INT_EQ(fundus_session_open(&a, wa, "no/slash"), FUNDUS_EINVAL);
	CHECK_OK(fundus_session_open(&a, wa, "alice"));
	CHECK_OK(fundus_session_open(&b, wb, "bob"));
	CHECK_OK(fundus_session_claim_next(a, &ia, &found));
	CHECK_INT_EQ(found, 1);
	CHECK_INT_EQ(ia, 0);
	CHECK_OK(fundus_session_claim_next(b, &ib, &found));
	CHECK_INT_EQ(found, 1);
	CHECK_INT_EQ(ib, 1); /* not alice's */
	/* A second window of alice's does not get her first window's image either. */
	CHECK_OK(fundus_session_open(&a2, wa, "alice"));
	CHECK_OK(fundus_session_claim_next(a2, &i, &found));
	CHECK_INT_EQ(i, 2);
	fundus_session_close(a2);
	/* Alice finishes image 0; her next is image 2 (its claim died with a2). */
	{
		struct fundus_record *w = work(NULL, 0, NULL);

		CHECK_OK(fundus_session_save(a, ia, w, FUNDUS_ENTRY_DONE, 0, 2.5));
		fundus_record_free(w);
	}
	CHECK_OK(fundus_session_claim_next(a, &ia, &found));
	CHECK_INT_EQ(ia, 2);
	fundus_session_get_stats(a, &st);
	CHECK_INT_EQ(st.images, 3);
	CHECK_INT_EQ(st.done, 1);
	CHECK_NEAR(st.median_seconds, 2.5, 1e-9);
	/* Bob holds 1, alice 2: nothing is left for bob. */
	CHECK_OK(fundus_session_claim_next(b, &i, &found));
	CHECK_INT_EQ(found, 1);
	CHECK_INT_EQ(i, 1); /* his own claim again */
	{
		struct fundus_record *w = work(NULL, 0, NULL);

		CHECK_OK(fundus_session_save(b, ib, w, FUNDUS_ENTRY_SKIPPED, 1, 1));
		fundus_record_free(w);
	}
	CHECK_OK(fundus_session_claim_next(b, &i, &found));
	CHECK_INT_EQ(found, 0);
	/* Bob's skip leaves image 1 to others: alice gets it after 2. */
	{
		struct fundus_record *w = work(NULL, 0, NULL);

		CHECK_OK(fundus_session_save(a, ia, w, FUNDUS_ENTRY_DONE, 0, 1));
		fundus_record_free(w);
	}
	CHECK_OK(fundus_session_claim_next(a, &i, &found));
	CHECK_INT_EQ(found, 1);
	CHECK_INT_EQ(i, 1);
	/* Released, it is bob's to take? No: he skipped it. Alice's history is 0, 2. */
	CHECK_OK(fundus_session_release(a, 1));
	CHECK_OK(fundus_session_claim_next(b, &i, &found));
	CHECK_INT_EQ(found, 0);
	{
		const size_t *h;
		size_t n;

		fundus_session_history(a, &h, &n);
		CHECK_INT_EQ(n, 2);
		CHECK_INT_EQ(h[0], 0);
		CHECK_INT_EQ(h[1], 2);
	}
	fundus_session_close(a);
	fundus_session_close(b);
	fundus_workspace_close(wa);
	fundus_workspace_close(wb);
}

TEST(claims_with_overlap)
{
	const char *dir = make_ws("ws_overlap", 2, FUNDUS_ORDER_SEQUENTIAL);
	struct fundus_workspace *ws;
	struct fundus_session *a, *b, *c;
	size_t ia, ib, ic;
	int found;

	CHECK(dir != NULL);
	CHECK_OK(fundus_workspace_open(&ws, dir));
	CHECK_OK(fundus_workspace_add(ws, make_images("o3.jsonl", 3), 0, NULL, NULL));
	CHECK_OK(fundus_session_open(&a, ws, "alice"));
	CHECK_OK(fundus_session_open(&b, ws, "bob"));
	CHECK_OK(fundus_session_open(&c, ws, "carol"));
	CHECK_OK(fundus_session_claim_next(a, &ia, &found));
	CHECK_OK(fundus_session_claim_next(b, &ib, &found));
	CHECK_OK(fundus_session_claim_next(c, &ic, &found));
	CHECK_INT_EQ(ia, 0);
	CHECK_INT_EQ(ib, 0); /* overlap 2: two annotators on image 0 */
	CHECK_INT_EQ(ic, 1); /* a third is one too many */
	{
		struct fundus_record *w = work(NULL, 0, NULL);
		struct fundus_session_stats st;

		CHECK_OK(fundus_session_save(a, 0, w, FUNDUS_ENTRY_DONE, 0, 3));
		CHECK_OK(fundus_session_save(b, 0, w, FUNDUS_ENTRY_DONE, 0, 5));
		fundus_record_free(w);
		CHECK_OK(fundus_session_claim_next(a, &ia, &found));
		CHECK_INT_EQ(ia, 1); /* beside carol */
		fundus_session_get_stats(a, &st);
		CHECK_INT_EQ(st.complete, 1);
	}
	fundus_session_close(a);
	fundus_session_close(b);
	fundus_session_close(c);
	fundus_workspace_close(ws);
}

TEST(dead_session_resumes)
{
	const char *dir = make_ws("ws_dead", 1, FUNDUS_ORDER_SEQUENTIAL);
	struct fundus_workspace *ws;
	struct fundus_session *s;
	size_t i;
	int found, status;
	pid_t pid;

	CHECK(dir != NULL);
	CHECK_OK(fundus_workspace_open(&ws, dir));
	CHECK_OK(fundus_workspace_add(ws, make_images("d4.jsonl", 4), 0, NULL, NULL));
	fundus_workspace_close(ws);
	/* A child saves images 0 and 1, claims 2 and is killed. */
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct fundus_workspace *cws;
		struct fundus_session *cs;
		struct fundus_record *w = work((const double[]){10, 20, 30, 40}, 1, NULL);

		if (fundus_workspace_open(&cws, dir) < 0 ||
		    fundus_session_open(&cs, cws, "alice") < 0)
			_exit(1);
		for (int k = 0; k < 3; k++) {
			if (fundus_session_claim_next(cs, &i, &found) < 0 || !found ||
			    i != (size_t)k)
				_exit(2);
			if (k < 2 && fundus_session_save(cs, i, w, FUNDUS_ENTRY_DONE, 0, 1) < 0)
				_exit(3);
		}
		kill(getpid(), SIGKILL);
		_exit(4);
	}
	CHECK(pid > 0);
	CHECK_INT_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	CHECK_OK(fundus_workspace_open(&ws, dir));
	/* Bob may take image 2 now that its session is dead, but alice comes back first. */
	CHECK_OK(fundus_session_open(&s, ws, "alice"));
	CHECK(fundus_session_entry(s, 0) != NULL);
	CHECK(fundus_session_entry(s, 1) != NULL);
	CHECK(fundus_session_entry(s, 2) == NULL);
	CHECK_NEAR(fundus_session_entry(s, 1)->objects[0].bbox.x1, 30, 0);
	CHECK_OK(fundus_session_claim_next(s, &i, &found));
	CHECK_INT_EQ(found, 1);
	CHECK_INT_EQ(i, 2);
	fundus_session_close(s);
	/* Alice's claim is dead again: bob gets image 2. */
	CHECK_OK(fundus_session_open(&s, ws, "bob"));
	CHECK_OK(fundus_session_claim_next(s, &i, &found));
	CHECK_INT_EQ(i, 2);
	fundus_session_close(s);
	fundus_workspace_close(ws);
}

TEST(save_checks_and_journal_line)
{
	const char *dir = make_ws("ws_save", 1, FUNDUS_ORDER_SEQUENTIAL);
	struct fundus_workspace *ws;
	struct fundus_session *s;
	struct fundus_record *w;
	const struct fundus_record *e;
	const cJSON *a;

	CHECK(dir != NULL);
	CHECK_OK(fundus_workspace_open(&ws, dir));
	CHECK_OK(fundus_workspace_add(ws, make_images("v2.jsonl", 2), 0, NULL, NULL));
	CHECK_OK(fundus_session_open(&s, ws, "alice"));
	w = work((const double[]){1, 2, 3, 4}, 1, "{\"gradable\":{\"value\":\"maybe\"}}");
	CHECK_INT_EQ(fundus_session_save(s, 0, w, FUNDUS_ENTRY_DONE, 0, 1), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "gradable");
	fundus_record_free(w);
	w = work((const double[]){1, 2, 3, 4}, 1, "{\"rim\":{\"value\":\"thin\"}}");
	CHECK_INT_EQ(fundus_session_save(s, 0, w, FUNDUS_ENTRY_DONE, 0, 1), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "no image question 'rim'");
	fundus_record_free(w);
	w = work((const double[]){1, 2, 3, 4}, 1, NULL);
	fundus_record_set_string(&w->objects[0].label, "vessel");
	CHECK_INT_EQ(fundus_session_save(s, 0, w, FUNDUS_ENTRY_DONE, 0, 1), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "no label 'vessel'");
	fundus_record_free(w);
	CHECK(fundus_session_entry(s, 0) == NULL);

	w = work((const double[]){1.5, 2, 3, 4}, 1,
		 "{\"gradable\":{\"value\":\"yes\"},\"findings\":{\"value\":[\"drusen\"]},"
		 "\"note\":{\"value\":\"a \\\"quoted\\\" note\"}}");
	w->objects[0].extra =
	    cJSON_Parse("{\"from\":\"model:x\",\"answers\":{\"rim\":{\"value\":\"thin\"}}}");
	CHECK_OK(fundus_session_save(s, 0, w, FUNDUS_ENTRY_DONE, 1, 3.14159));
	fundus_record_free(w);
	e = fundus_session_entry(s, 0);
	CHECK(e != NULL);
	CHECK_STR_EQ(e->objects[0].by, "alice");
	CHECK_NEAR(e->objects[0].bbox.x0, 1.5, 0);
	CHECK_STR_EQ(cJSON_GetObjectItemCaseSensitive(e->objects[0].extra, "from")->valuestring,
		     "model:x");
	a = cJSON_GetObjectItemCaseSensitive(e->answers, "note");
	CHECK_STR_EQ(cJSON_GetObjectItemCaseSensitive(a, "by")->valuestring, "alice");
	a = cJSON_GetObjectItemCaseSensitive(e->extra, "annotation");
	CHECK_STR_EQ(cJSON_GetObjectItemCaseSensitive(a, "status")->valuestring, "done");
	CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "flag")));
	CHECK_NEAR(cJSON_GetObjectItemCaseSensitive(a, "seconds")->valuedouble, 3.1, 1e-12);
	CHECK_STR_EQ(cJSON_GetObjectItemCaseSensitive(a, "session")->valuestring,
		     fundus_session_id(s));
	/* A later entry replaces it; the journal holds both lines. */
	w = work(NULL, 0, NULL);
	CHECK_OK(fundus_session_save(s, 0, w, FUNDUS_ENTRY_DONE, 0, 1));
	fundus_record_free(w);
	CHECK_INT_EQ((int)fundus_session_entry(s, 0)->n_objects, 0);
	{
		char path[4200];
		uint8_t *data;
		size_t len, lines = 0;

		snprintf(path, sizeof path, "%s/journals/alice.jsonl", dir);
		CHECK_OK(fundus_file_read(path, 1 << 20, &data, &len));
		for (size_t k = 0; k < len; k++)
			lines += data[k] == '\n';
		CHECK_INT_EQ(lines, 2);
		fundus_free(data);
	}
	fundus_session_close(s);
	fundus_workspace_close(ws);
}

/* Saves one entry of annotator name for image i with a box list and answers. */
static int save_as(struct fundus_workspace *ws, const char *name, size_t i, const double *boxes,
		   int n, const char *answers)
{
	struct fundus_session *s;
	struct fundus_record *w = work(boxes, n, answers);
	int rc = fundus_session_open(&s, ws, name);

	if (rc == 0)
		rc = fundus_session_save(s, i, w, FUNDUS_ENTRY_DONE, 0, 2.0 + (double)i);
	fundus_record_free(w);
	fundus_session_close(s);
	return rc;
}

/* Finds the report's entry for question id. */
static const cJSON *report_question(const cJSON *rep, const char *id)
{
	const cJSON *q;

	cJSON_ArrayForEach(q, cJSON_GetObjectItemCaseSensitive(rep, "questions"))
	{
		if (strcmp(cJSON_GetObjectItemCaseSensitive(q, "id")->valuestring, id) == 0)
			return q;
	}
	return NULL;
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(m) ? m->valuedouble : NAN;
}

TEST(export_two_annotators_known_answers)
{
	const char *dir = make_ws("ws_export2", 2, FUNDUS_ORDER_SEQUENTIAL);
	struct fundus_workspace *ws;
	struct fundus_record_reader *rd;
	struct fundus_record *r;
	cJSON *rep = NULL;
	const cJSON *q, *b;
	FILE *out;
	const char *outpath = tu_path("export2.jsonl");

	CHECK(dir != NULL);
	CHECK_OK(fundus_workspace_open(&ws, dir));
	CHECK_OK(fundus_workspace_add(ws, make_images("e5.jsonl", 5), 0, NULL, NULL));
	/*
	 * gradable: yes/yes, yes/no, no/no, yes/yes: po 3/4, pe 1/2, kappa 1/2.
	 * Image 0: boxes IoU 0.5 (one consensus box, averaged); image 1: IoU 1/3
	 * (two boxes, one vote each). Image 4: alice only.
	 */
	CHECK_OK(save_as(ws, "alice", 0, (const double[]){0, 0, 10, 10}, 1,
			 "{\"gradable\":{\"value\":\"yes\"},\"quality\":{\"value\":\"good\"}}"));
	CHECK_OK(save_as(ws, "bob", 0, (const double[]){0, 0, 10, 20}, 1,
			 "{\"gradable\":{\"value\":\"yes\"},\"quality\":{\"value\":\"fair\"}}"));
	CHECK_OK(save_as(ws, "alice", 1, (const double[]){100, 100, 200, 200}, 1,
			 "{\"gradable\":{\"value\":\"yes\"}}"));
	CHECK_OK(save_as(ws, "bob", 1, (const double[]){150, 100, 250, 200}, 1,
			 "{\"gradable\":{\"value\":\"no\"}}"));
	CHECK_OK(save_as(ws, "alice", 2, NULL, 0, "{\"gradable\":{\"value\":\"no\"}}"));
	CHECK_OK(save_as(ws, "bob", 2, NULL, 0, "{\"gradable\":{\"value\":\"no\"}}"));
	CHECK_OK(save_as(ws, "alice", 3, NULL, 0, "{\"gradable\":{\"value\":\"yes\"}}"));
	CHECK_OK(save_as(ws, "bob", 3, NULL, 0, "{\"gradable\":{\"value\":\"yes\"}}"));
	CHECK_OK(save_as(ws, "alice", 4, (const double[]){5, 5, 7, 7}, 1, NULL));

	out = fopen(outpath, "w");
	CHECK(out != NULL);
	CHECK_OK(fundus_workspace_export(ws, NULL, out, &rep));
	fclose(out);
	CHECK_NEAR(num(rep, "images"), 5, 0);
	CHECK_NEAR(num(rep, "annotated"), 5, 0);
	CHECK_NEAR(num(rep, "complete"), 4, 0);
	q = report_question(rep, "gradable");
	CHECK(q != NULL);
	CHECK_STR_EQ(cJSON_GetObjectItemCaseSensitive(q, "method")->valuestring, "cohen");
	CHECK_NEAR(num(q, "items"), 4, 0);
	CHECK_NEAR(num(q, "raters"), 2, 0);
	CHECK_NEAR(num(q, "observed"), 0.75, 1e-12);
	CHECK_NEAR(num(q, "expected"), 0.5, 1e-12);
	CHECK_NEAR(num(q, "kappa"), 0.5, 1e-12);
	/* quality: one item, good vs fair: po 0, pe 0, kappa 0. */
	q = report_question(rep, "quality");
	CHECK_NEAR(num(q, "items"), 1, 0);
	CHECK_NEAR(num(q, "kappa"), 0, 1e-12);
	b = cJSON_GetObjectItemCaseSensitive(rep, "boxes");
	CHECK_NEAR(num(b, "images"), 4, 0);
	CHECK_NEAR(num(b, "matched"), 2, 0);
	CHECK_NEAR(num(b, "unmatched"), 0, 0);
	CHECK_NEAR(num(b, "mean_iou"), 0.4167, 1e-12); /* (1/2 + 1/3) / 2, to 4 decimals */
	CHECK_NEAR(num(b, "min_iou"), 0.3333, 1e-12);

	CHECK_OK(fundus_record_reader_open(&rd, outpath, NULL));
	/* Image 0: one box, the mean of the two; answers by majority. */
	CHECK_OK(fundus_record_next(rd, &r));
	CHECK_INT_EQ((int)r->n_objects, 1);
	CHECK_NEAR(r->objects[0].bbox.y1, 15, 0);
	CHECK_STR_EQ(r->objects[0].by, "consensus");
	CHECK_NEAR(num(r->objects[0].extra, "votes"), 2, 0);
	q = cJSON_GetObjectItemCaseSensitive(r->answers, "gradable");
	CHECK_STR_EQ(cJSON_GetObjectItemCaseSensitive(q, "value")->valuestring, "yes");
	CHECK_NEAR(num(q, "votes"), 2, 0);
	q = cJSON_GetObjectItemCaseSensitive(r->answers, "quality");
	CHECK_STR_EQ(cJSON_GetObjectItemCaseSensitive(q, "value")->valuestring,
		     "good"); /* tie: first choice */
	CHECK_NEAR(num(q, "votes"), 1, 0);
	CHECK_NEAR(num(q, "of"), 2, 0);
	CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r->extra, "annotators")) == 2);
	CHECK_NEAR(num(r->meta, "n"), 0, 0); /* the image record's own fields are kept */
	fundus_record_free(r);
	/* Image 1: the boxes disagree, both kept with one vote each. */
	CHECK_OK(fundus_record_next(rd, &r));
	CHECK_INT_EQ((int)r->n_objects, 2);
	CHECK_STR_EQ(r->objects[0].by, "alice");
	CHECK_STR_EQ(r->objects[1].by, "bob");
	q = cJSON_GetObjectItemCaseSensitive(r->answers, "gradable");
	CHECK_STR_EQ(cJSON_GetObjectItemCaseSensitive(q, "value")->valuestring,
		     "yes"); /* tie: yes */
	fundus_record_free(r);
	CHECK_OK(fundus_record_next(rd, &r));
	CHECK_INT_EQ((int)r->n_objects, 0);
	fundus_record_free(r);
	CHECK_OK(fundus_record_next(rd, &r));
	fundus_record_free(r);
	/* Image 4: alice's box as drawn. */
	CHECK_OK(fundus_record_next(rd, &r));
	CHECK_INT_EQ((int)r->n_objects, 1);
	CHECK_STR_EQ(r->objects[0].by, "alice");
	CHECK(r->answers == NULL);
	fundus_record_free(r);
	CHECK_OK(fundus_record_next(rd, &r));
	CHECK(r == NULL);
	fundus_record_reader_close(rd);
	cJSON_Delete(rep);

	/* With --min-annotators 2, image 4 is left out. */
	{
		struct fundus_export_options o;
		char *buf = NULL;
		size_t len = 0, lines = 0;

		fundus_export_options_default(&o);
		o.min_annotators = 2;
		out = open_memstream(&buf, &len);
		CHECK_OK(fundus_workspace_export(ws, &o, out, NULL));
		fclose(out);
		for (size_t k = 0; k < len; k++)
			lines += buf[k] == '\n';
		CHECK_INT_EQ(lines, 4);
		free(buf);
	}
	fundus_workspace_close(ws);
}

TEST(export_three_annotators_fleiss)
{
	const char *dir = make_ws("ws_export3", 3, FUNDUS_ORDER_SEQUENTIAL);
	struct fundus_workspace *ws;
	cJSON *rep = NULL;
	const cJSON *q;
	char *buf = NULL;
	size_t len = 0;
	FILE *out;
	static const char *const names[3] = {"ann", "ben", "cat"};
	/* gradable (3,0) (2,1) (0,3): kappa 0.55; findings=drusen (chosen by 1 of 3 on image 0). */
	static const char *const ans[3][3] = {
	    {"{\"gradable\":{\"value\":\"yes\"},\"findings\":{\"value\":[\"drusen\",\"haem\"]}}",
	     "{\"gradable\":{\"value\":\"yes\"},\"findings\":{\"value\":[\"haem\"]}}",
	     "{\"gradable\":{\"value\":\"yes\"},\"findings\":{\"value\":[]}}"},
	    {"{\"gradable\":{\"value\":\"yes\"}}", "{\"gradable\":{\"value\":\"yes\"}}",
	     "{\"gradable\":{\"value\":\"no\"}}"},
	    {"{\"gradable\":{\"value\":\"no\"}}", "{\"gradable\":{\"value\":\"no\"}}",
	     "{\"gradable\":{\"value\":\"no\"}}"},
	};

	CHECK(dir != NULL);
	CHECK_OK(fundus_workspace_open(&ws, dir));
	CHECK_OK(fundus_workspace_add(ws, make_images("f3.jsonl", 3), 0, NULL, NULL));
	for (int i = 0; i < 3; i++)
		for (int a = 0; a < 3; a++) {
			/* Two of three agree on a box on image 0; the third draws elsewhere. */
			double box[4] = {a == 2 ? 300 : 10, 10, a == 2 ? 340 : 50 + a, 50};

			CHECK_OK(save_as(ws, names[a], (size_t)i, box, i == 0, ans[i][a]));
		}
	out = open_memstream(&buf, &len);
	CHECK_OK(fundus_workspace_export(ws, NULL, out, &rep));
	fclose(out);
	q = report_question(rep, "gradable");
	CHECK_STR_EQ(cJSON_GetObjectItemCaseSensitive(q, "method")->valuestring, "fleiss");
	CHECK_NEAR(num(q, "raters"), 3, 0);
	CHECK_NEAR(num(q, "observed"), 0.7778, 1e-12);
	CHECK_NEAR(num(q, "expected"), 0.5062, 1e-12);
	CHECK_NEAR(num(q, "kappa"), 0.55, 1e-12);
	q = report_question(rep, "findings=haem");
	CHECK(q != NULL);
	CHECK_NEAR(num(q, "items"), 1, 0);
	/* Image 0: the two agreeing boxes make one (2 votes of 3 >= 2), the lone one is dropped. */
	{
		struct fundus_record *r;
		char *nl = strchr(buf, '\n');
		const cJSON *f;

		CHECK(nl != NULL);
		CHECK_OK(fundus_record_parse(buf, (size_t)(nl - buf), NULL, &r));
		CHECK_INT_EQ((int)r->n_objects, 1);
		CHECK_NEAR(r->objects[0].bbox.x1, 50.5, 0);
		f = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(r->answers, "findings"), "value");
		CHECK_INT_EQ(cJSON_GetArraySize(f), 1); /* haem: 2 of 3; drusen: 1 of 3 */
		CHECK_STR_EQ(cJSON_GetArrayItem(f, 0)->valuestring, "haem");
		fundus_record_free(r);
	}
	free(buf);
	cJSON_Delete(rep);
	fundus_workspace_close(ws);
}

TEST(allocation_failures)
{
	/* Config parse and export under every failing allocation: errors, no leaks, no crash. */
	const char *dir = make_ws("ws_oom", 1, FUNDUS_ORDER_SEQUENTIAL);
	struct fundus_workspace *ws;
	char *text = NULL, images[4200];
	long n;

	CHECK(dir != NULL);
	CHECK_OK(fundus_workspace_open(&ws, dir));
	CHECK_OK(fundus_workspace_add(ws, make_images("m2.jsonl", 2), 0, NULL, NULL));
	CHECK_OK(save_as(ws, "alice", 0, (const double[]){0, 0, 10, 10}, 1,
			 "{\"gradable\":{\"value\":\"yes\"},\"note\":{\"value\":\"x\"}}"));
	CHECK_OK(save_as(ws, "bob", 0, (const double[]){0, 0, 10, 12}, 1,
			 "{\"gradable\":{\"value\":\"no\"},\"note\":{\"value\":\"y\"}}"));
	CHECK_OK(fundus_workspace_config_format(fundus_workspace_get_config(ws), &text));
	for (n = 0; n < 100000; n++) {
		struct fundus_workspace_config *cfg = NULL;
		int rc;

		fundus_alloc_fail_after(n);
		rc = fundus_workspace_config_parse(text, strlen(text), &cfg);
		fundus_alloc_fail_after(-1);
		fundus_workspace_config_free(cfg);
		if (rc == 0)
			break;
		CHECK_INT_EQ(rc, FUNDUS_ENOMEM);
	}
	CHECK_INT_GT(n, 10);
	for (n = 0; n < 100000; n++) {
		struct fundus_workspace *w2 = NULL;
		cJSON *rep = NULL;
		char *buf = NULL;
		size_t len = 0;
		FILE *out = open_memstream(&buf, &len);
		int rc;

		fundus_alloc_fail_after(n);
		rc = fundus_workspace_open(&w2, dir);
		if (rc == 0)
			rc = fundus_workspace_export(w2, NULL, out, &rep);
		fundus_alloc_fail_after(-1);
		fclose(out);
		free(buf);
		cJSON_Delete(rep);
		fundus_workspace_close(w2);
		if (rc == 0)
			break;
		CHECK_INT_EQ(rc, FUNDUS_ENOMEM);
	}
	CHECK_INT_GT(n, 10);
	snprintf(images, sizeof images, "%s/images.jsonl", dir);
	/*
	 * A whole session: open, claim, save, close, each time in a fresh
	 * workspace (every claim made on the way grows claims.jsonl, and so
	 * the allocations the next run needs).
	 */
	for (n = 0; n < 100000; n++) {
		char name[64];
		const char *fresh;
		struct fundus_workspace *w2 = NULL;
		struct fundus_session *s = NULL;
		struct fundus_record *w =
		    work((const double[]){1, 2, 3, 4}, 1, "{\"gradable\":{\"value\":\"no\"}}");
		size_t i;
		int rc, found;

		/* A copy of the workspace's two files, without the syncs of a real one. */
		snprintf(name, sizeof name, "ws_oom_%ld", n);
		fresh = tu_path(name);
		CHECK(mkdir(fresh, 0777) == 0);
		snprintf(name, sizeof name, "ws_oom_%ld/workspace.json", n);
		CHECK(write_text(tu_path(name), text) == 0);
		snprintf(name, sizeof name, "ws_oom_%ld/images.jsonl", n);
		CHECK(copy_file(images, tu_path(name)) == 0);
		fundus_alloc_fail_after(n);
		rc = fundus_workspace_open(&w2, fresh);
		if (rc == 0)
			rc = fundus_session_open(&s, w2, "carol");
		if (rc == 0)
			rc = fundus_session_claim_next(s, &i, &found);
		if (rc == 0)
			rc = fundus_session_save(s, 1, w, FUNDUS_ENTRY_DONE, 0, 1);
		fundus_alloc_fail_after(-1);
		fundus_session_close(s);
		fundus_workspace_close(w2);
		fundus_record_free(w);
		if (rc == 0)
			break;
		CHECK_INT_EQ(rc, FUNDUS_ENOMEM);
	}
	CHECK_INT_GT(n, 10);
	fundus_free(text);
	fundus_workspace_close(ws);
}

int main(int argc, char **argv)
{
	fundus_log_set(NULL, NULL, FUNDUS_LOG_ERROR);
	if (chdir(tu_tmpdir()) != 0)
		return 1;
	RUN(label_and_question_specs);
	RUN(config_file_errors);
	RUN(answer_values);
	RUN(iou_by_hand);
	RUN(cohen_by_hand);
	RUN(fleiss_by_hand);
	RUN(create_open_add);
	RUN(proposals_and_active_order);
	RUN(plugged_proposer);
	RUN(shuffled_order_is_stable);
	RUN(claims_without_overlap);
	RUN(claims_with_overlap);
	RUN(dead_session_resumes);
	RUN(save_checks_and_journal_line);
	RUN(export_two_annotators_known_answers);
	RUN(export_three_annotators_fleiss);
	RUN(allocation_failures);
	return harness_done();
}

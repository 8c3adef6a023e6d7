/*
 * Unit tests of fundus_eval_run() against cases worked out by hand from
 * pycocotools' COCOeval (evaluateImg, accumulate, summarize): ties in
 * score, crowd regions, images without ground truth or predictions, area
 * borders, maxDets, categories without ground truth, numpy's thresholds
 * and sums; then the one-object figures, the pairing of records, JSON and
 * errors.
 *
 * One fact runs through the expected numbers: pycocotools' precision is
 * tp / (fp + tp + eps) with eps = 2^-52, so a single true positive has
 * precision 1 / (1 + eps) (P1 below), not 1, while 2 + eps rounds to 2.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "eval/internal.h"
#include "fundus/eval.h"
#include "fundus/record.h"
#include "harness.h"

#define P1  (1.0 / (1.0 + DBL_EPSILON))
#define TOL 1e-12

/* Ground truth and predictions of one case; freed by case_free(). */
struct ecase {
	struct fundus_record *gt[256], *pred[256];
	size_t n_gt, n_pred;
	struct fundus_eval_result *res;
};

static struct fundus_record *new_rec(const char *image)
{
	struct fundus_record *r;

	if (fundus_record_new(&r) < 0 || (image && fundus_record_set_string(&r->image, image) < 0))
		abort();
	return r;
}

/* Adds a ground-truth record for image; returns it. */
static struct fundus_record *gt_rec(struct ecase *c, const char *image)
{
	return c->gt[c->n_gt++] = new_rec(image);
}

static struct fundus_record *pred_rec(struct ecase *c, const char *image)
{
	return c->pred[c->n_pred++] = new_rec(image);
}

/* Appends a box; score NAN for ground truth. */
static void box(struct fundus_record *r, const char *label, double x0, double y0, double x1,
		double y1, double score)
{
	struct fundus_box b = {x0, y0, x1, y1};

	if (fundus_record_add_object(r, label, &b, score, NULL) < 0)
		abort();
}

/* Sets a number in the last object's extra fields ("iscrowd", "area"). */
static void last_extra(struct fundus_record *r, const char *key, double v)
{
	struct fundus_object *ob = &r->objects[r->n_objects - 1];

	if (ob->extra == NULL)
		ob->extra = cJSON_CreateObject();
	cJSON_AddNumberToObject(ob->extra, key, v);
}

static void case_free(struct ecase *c)
{
	for (size_t i = 0; i < c->n_gt; i++)
		fundus_record_free(c->gt[i]);
	for (size_t i = 0; i < c->n_pred; i++)
		fundus_record_free(c->pred[i]);
	fundus_eval_result_free(c->res);
	memset(c, 0, sizeof *c);
}

/* Runs the case with default options (or o); returns the status. */
static int run(struct ecase *c, const struct fundus_eval_options *o)
{
	fundus_eval_result_free(c->res);
	c->res = NULL;
	return fundus_eval_run(c->gt, c->n_gt, c->pred, c->n_pred, o, &c->res);
}

#define M(c, name) ((c)->res->metric[FUNDUS_EVAL_##name])

/* The label entry of a result by name, or NULL. */
static const struct fundus_eval_label *label(const struct fundus_eval_result *res, const char *name)
{
	for (size_t k = 0; k < res->n_labels; k++)
		if (strcmp(res->labels[k].name, name) == 0)
			return &res->labels[k];
	return NULL;
}

TEST(numpy_thresholds)
{
	double iou[EV_T], rec[EV_R];

	fundus__eval_thresholds(iou, rec);
	/* The values np.linspace gives (printed by numpy 1.24), not i / 100. */
	CHECK(iou[0] == 0.5);
	CHECK(iou[5] == 0.75);
	CHECK(iou[8] == 0.8999999999999999);
	CHECK(iou[9] == 0.95);
	CHECK(rec[35] == 0.35000000000000003);
	CHECK(rec[57] == 0.5700000000000001);
	CHECK(rec[57] != 57 / 100.0);
	CHECK(rec[58] == 0.58);
	CHECK(rec[95] == 0.9500000000000001);
	CHECK(rec[100] == 1.0);
}

TEST(numpy_pairwise_sum)
{
	/* np.sum of a[i] = 0.1 * ((i * 7919) % 13) / 3, from numpy 1.24. */
	static const struct {
		size_t n;
		double sum;
	} want[] = {{7, 1.4000000000000001},
		    {100, 19.733333333333338},
		    {1010, 201.73333333333335},
		    {9000, 1799.6},
		    {20000, 3999.8}};
	static double a[20000];

	for (size_t i = 0; i < 20000; i++)
		a[i] = 0.1 * (double)((i * 7919) % 13) / 3;
	for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
		CHECK(fundus__eval_np_sum(a, want[k].n) == want[k].sum);
}

TEST(iou_as_bbiou)
{
	double g[4] = {0, 0, 10, 10}, d[4] = {5, 0, 10, 10}, far[4] = {10, 0, 5, 5};

	CHECK(fundus__eval_iou(d, g, 0) == 50.0 / 150.0);
	CHECK(fundus__eval_iou(d, g, 1) == 0.5); /* crowd: over the detection's area */
	CHECK(fundus__eval_iou(far, g, 0) == 0); /* touching edges do not overlap */
	CHECK(fundus__eval_iou(g, g, 0) == 1);
}

TEST(perfect)
{
	struct ecase c = {0};

	for (int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof name, "im%d.jpg", i);
		box(gt_rec(&c, name), "disc", 10, 10, 110, 120, NAN);
		box(pred_rec(&c, name), "disc", 10, 10, 110, 120, 0.5 + i / 10.0);
	}
	CHECK_OK(run(&c, NULL));
	/* tp >= 2 from the second detection on: precision exactly 1 there, P1 before. */
	CHECK_NEAR(M(&c, AP), 1, TOL);
	CHECK_NEAR(M(&c, AP50), 1, TOL);
	CHECK_NEAR(M(&c, AP75), 1, TOL);
	CHECK(M(&c, AP_SMALL) == -1);
	CHECK(M(&c, AP_MEDIUM) == -1);
	CHECK_NEAR(M(&c, AP_LARGE), 1, TOL);
	CHECK(M(&c, AR1) == 1);
	CHECK(M(&c, AR10) == 1);
	CHECK(M(&c, AR100) == 1);
	CHECK(M(&c, AR_SMALL) == -1);
	CHECK(M(&c, AR_MEDIUM) == -1);
	CHECK(M(&c, AR_LARGE) == 1);
	CHECK_INT_EQ(c.res->n_labels, 1);
	CHECK_INT_EQ(c.res->labels[0].single.images, 3);
	CHECK_INT_EQ(c.res->labels[0].single.hits, 3);
	CHECK(c.res->labels[0].single.rate == 1);
	CHECK(c.res->labels[0].single.mean_iou == 1);
	CHECK(c.res->labels[0].single.centre_median == 0);
	CHECK(c.res->labels[0].single.centre_p95 == 0);
	case_free(&c);
}

TEST(one_true_positive_is_p1)
{
	struct ecase c = {0};

	box(gt_rec(&c, "a.jpg"), "disc", 0, 0, 50, 50, NAN);
	box(pred_rec(&c, "a.jpg"), "disc", 0, 0, 50, 50, 0.9);
	CHECK_OK(run(&c, NULL));
	/* Every one of the 1010 precision entries is 1 / (1 + eps). */
	CHECK(c.res->labels[0].metric[FUNDUS_EVAL_AP50] != 1);
	CHECK_NEAR(M(&c, AP), P1, 1e-15);
	CHECK(M(&c, AR100) == 1);
	case_free(&c);
}

TEST(all_wrong)
{
	struct ecase c = {0};

	box(gt_rec(&c, "a.jpg"), "disc", 0, 0, 50, 50, NAN);
	box(gt_rec(&c, "b.jpg"), "disc", 0, 0, 50, 50, NAN);
	box(pred_rec(&c, "a.jpg"), "disc", 100, 100, 150, 150, 0.9);
	box(pred_rec(&c, "b.jpg"), "disc", 50, 0, 100, 50, 0.8); /* touching: IoU 0 */
	CHECK_OK(run(&c, NULL));
	for (int m = 0; m < FUNDUS_EVAL_N_METRICS; m++) {
		double want = m == FUNDUS_EVAL_AP_SMALL || m == FUNDUS_EVAL_AP_LARGE ||
				      m == FUNDUS_EVAL_AR_SMALL || m == FUNDUS_EVAL_AR_LARGE
				  ? -1
				  : 0;

		if (c.res->metric[m] != want)
			HARNESS_FAIL("%s = %.17g, expected %g", fundus_eval_metric_name(m),
				     c.res->metric[m], want);
	}
	CHECK_INT_EQ(c.res->labels[0].single.hits, 0);
	CHECK(c.res->labels[0].single.mean_iou == 0);
	CHECK_INT_EQ(c.res->labels[0].single.missing, 0);
	case_free(&c);
}

TEST(ties_in_score_keep_input_order)
{
	struct ecase c = {0};
	struct fundus_record *p;

	/*
	 * One image, one ground truth, two detections of equal score: the
	 * wrong one first in the input. Ranked [FP, TP]: rc [0, 1], pr
	 * [0, 1/2] made monotonic [1/2, 1/2]: AP 1/2. The other input order
	 * ranks [TP, FP]: pr [P1, 1/2], read at rc 1 from index 0: AP P1.
	 */
	box(gt_rec(&c, "a.jpg"), "disc", 0, 0, 50, 50, NAN);
	p = pred_rec(&c, "a.jpg");
	box(p, "disc", 200, 200, 250, 250, 0.8);
	box(p, "disc", 0, 0, 50, 50, 0.8);
	CHECK_OK(run(&c, NULL));
	CHECK_NEAR(M(&c, AP), 0.5, TOL);
	CHECK(M(&c, AR1) == 0); /* the first of the tie is the one kept */
	CHECK(M(&c, AR10) == 1);
	/* The one-object top box is the first of the tie too: a miss. */
	CHECK_INT_EQ(c.res->labels[0].single.hits, 0);

	fundus_record_clear_objects(p);
	box(p, "disc", 0, 0, 50, 50, 0.8);
	box(p, "disc", 200, 200, 250, 250, 0.8);
	CHECK_OK(run(&c, NULL));
	CHECK_NEAR(M(&c, AP), P1, TOL);
	CHECK(M(&c, AR1) == 1);
	CHECK_INT_EQ(c.res->labels[0].single.hits, 1);
	case_free(&c);
}

TEST(ties_across_images_follow_image_order)
{
	struct ecase c = {0};
	struct fundus_record *g1, *g2;

	/*
	 * Two images with one ground truth each; a wrong detection on the
	 * first and a right one on the second, both scored 0.5. Image order
	 * decides: [FP, TP] gives rc [0, .5], pr [.5, .5] after the
	 * monotonic pass, so precision .5 at recall points 0 .. .5 (51 of
	 * 101) and 0 above: AP = .5 * 51 / 101.
	 */
	g1 = gt_rec(&c, "a.jpg");
	g2 = gt_rec(&c, "b.jpg");
	box(g1, "disc", 0, 0, 50, 50, NAN);
	box(g2, "disc", 0, 0, 50, 50, NAN);
	/* Prediction records in the other order: the ground truth's order counts. */
	box(pred_rec(&c, "b.jpg"), "disc", 0, 0, 50, 50, 0.5);
	box(pred_rec(&c, "a.jpg"), "disc", 100, 100, 150, 150, 0.5);
	CHECK_OK(run(&c, NULL));
	CHECK_NEAR(M(&c, AP), 0.5 * 51 / 101, TOL);

	/* COCO ids reverse the order: [TP, FP], precision P1 up to recall .5. */
	g1->extra = cJSON_CreateObject();
	cJSON_AddNumberToObject(g1->extra, "coco_id", 9);
	g2->extra = cJSON_CreateObject();
	cJSON_AddNumberToObject(g2->extra, "coco_id", 3);
	CHECK_OK(run(&c, NULL));
	CHECK_NEAR(M(&c, AP), P1 * 51 / 101, TOL);
	case_free(&c);
}

TEST(crowd_regions)
{
	struct ecase c = {0};
	struct fundus_record *g, *p;

	/*
	 * A real box and a crowd region. Two detections inside the crowd
	 * region match it (intersection over the detection's area = 1), are
	 * ignored, and the region is never missed; a last detection is a
	 * false positive: [TP, ign, ign, FP], rc 1 throughout: AP P1, AR 1.
	 */
	g = gt_rec(&c, "a.jpg");
	box(g, "disc", 100, 100, 200, 200, NAN);
	last_extra(g, "iscrowd", 1);
	box(g, "disc", 0, 0, 10, 10, NAN);
	p = pred_rec(&c, "a.jpg");
	box(p, "disc", 300, 300, 310, 310, 0.6);
	box(p, "disc", 120, 120, 140, 140, 0.8);
	box(p, "disc", 0, 0, 10, 10, 0.9);
	box(p, "disc", 150, 150, 170, 170, 0.7);
	CHECK_OK(run(&c, NULL));
	CHECK_NEAR(M(&c, AP), P1, TOL);
	CHECK(M(&c, AR100) == 1);
	CHECK_INT_EQ(c.res->labels[0].gt_crowd, 1);
	CHECK_INT_EQ(c.res->labels[0].gt_objects, 2);
	/* The crowd region is not the image's one object. */
	CHECK_INT_EQ(c.res->labels[0].single.images, 1);
	CHECK_INT_EQ(c.res->labels[0].single.hits, 1);

	/*
	 * The same region as a plain box: IoU .04, so three false positives
	 * and a miss: rc .5 throughout, precision P1 up to recall .5.
	 */
	cJSON_Delete(g->objects[0].extra);
	g->objects[0].extra = NULL;
	CHECK_OK(run(&c, NULL));
	CHECK(M(&c, AR100) == 0.5);
	CHECK_NEAR(M(&c, AP), P1 * 51 / 101, TOL);

	/* A crowd region alone is no ground truth to score: -1 everywhere. */
	fundus_record_clear_objects(g);
	box(g, "disc", 100, 100, 200, 200, NAN);
	last_extra(g, "iscrowd", 1);
	CHECK_OK(run(&c, NULL));
	CHECK(M(&c, AP) == -1);
	CHECK(M(&c, AR100) == -1);
	case_free(&c);
}

TEST(images_without_ground_truth)
{
	struct ecase c = {0};

	/*
	 * Three images, ground truth on the first only; the false positives on
	 * the two others outscore the true one: [FP .9, FP .7, TP .5], pr
	 * [0, 0, 1/3] made monotonic: 1/3 at every recall point.
	 */
	box(gt_rec(&c, "a.jpg"), "disc", 0, 0, 50, 50, NAN);
	gt_rec(&c, "b.jpg");
	gt_rec(&c, "c.jpg");
	box(pred_rec(&c, "a.jpg"), "disc", 0, 0, 50, 50, 0.5);
	box(pred_rec(&c, "b.jpg"), "disc", 0, 0, 50, 50, 0.9);
	box(pred_rec(&c, "c.jpg"), "disc", 0, 0, 50, 50, 0.7);
	CHECK_OK(run(&c, NULL));
	CHECK_NEAR(M(&c, AP), 1.0 / 3, TOL);
	CHECK(M(&c, AR1) == 1); /* one detection per image is enough */
	CHECK_INT_EQ(c.res->images_predicted, 3);
	/* Rows: the image with the disc, and the two with only a prediction. */
	CHECK_INT_EQ(c.res->n_rows, 3);
	CHECK_INT_EQ(c.res->rows[1].gt, 0);
	CHECK_INT_EQ(c.res->rows[1].pred, 1);
	CHECK(isnan(c.res->rows[1].iou));
	CHECK_INT_EQ(c.res->labels[0].single.images, 1);
	case_free(&c);
}

TEST(image_without_predictions)
{
	struct ecase c = {0};

	/* Two discs, one found: rc [.5], precision P1 up to recall .5. */
	box(gt_rec(&c, "a.jpg"), "disc", 0, 0, 50, 50, NAN);
	box(gt_rec(&c, "b.jpg"), "disc", 0, 0, 50, 50, NAN);
	box(pred_rec(&c, "a.jpg"), "disc", 0, 0, 50, 50, 0.9);
	CHECK_OK(run(&c, NULL));
	CHECK_NEAR(M(&c, AP), P1 * 51 / 101, TOL);
	CHECK(M(&c, AR100) == 0.5);
	CHECK_INT_EQ(c.res->images_predicted, 1);
	CHECK_INT_EQ(c.res->labels[0].single.missing, 1);
	CHECK(c.res->labels[0].single.rate == 0.5);
	CHECK(c.res->labels[0].single.mean_iou == 0.5);
	/* A missing box counts as +inf: the median of [0, inf] is inf. */
	CHECK(isinf(c.res->labels[0].single.centre_median));
	CHECK(isinf(c.res->rows[1].centre_error));
	CHECK_INT_EQ(c.res->rows[1].hit, 0);
	case_free(&c);
}

TEST(recall_points_are_linspace_values)
{
	struct ecase c = {0};

	/*
	 * 100 images, 57 found with nothing wrong: final recall 57 / 100 =
	 * 0.57, which is below the 58th recall point 0.5700000000000001, so
	 * precision is 1 at 57 points, not 58: AP = 57 / 101.
	 */
	for (int i = 0; i < 100; i++) {
		char name[16];

		snprintf(name, sizeof name, "%03d.jpg", i);
		box(gt_rec(&c, name), "disc", 0, 0, 50, 50, NAN);
		if (i < 57)
			box(pred_rec(&c, name), "disc", 0, 0, 50, 50, 0.9 - i / 1000.0);
	}
	CHECK_OK(run(&c, NULL));
	CHECK_NEAR(M(&c, AR100), 0.57, TOL);
	CHECK_NEAR(M(&c, AP), 57.0 / 101, TOL);
	case_free(&c);
}

TEST(area_borders)
{
	struct ecase c = {0};
	struct fundus_record *g;

	/* 32 x 32 = 1024 is both small and medium: pycocotools ignores area < lo or > hi. */
	box(gt_rec(&c, "a.jpg"), "disc", 0, 0, 32, 32, NAN);
	box(pred_rec(&c, "a.jpg"), "disc", 0, 0, 32, 32, 0.9);
	CHECK_OK(run(&c, NULL));
	CHECK_NEAR(M(&c, AP_SMALL), P1, TOL);
	CHECK_NEAR(M(&c, AP_MEDIUM), P1, TOL);
	CHECK(M(&c, AP_LARGE) == -1);
	CHECK(M(&c, AR_SMALL) == 1);
	CHECK(M(&c, AR_MEDIUM) == 1);
	CHECK(M(&c, AR_LARGE) == -1);
	case_free(&c);

	/* 96 x 96 = 9216: medium and large. */
	box(gt_rec(&c, "a.jpg"), "disc", 4, 4, 100, 100, NAN);
	box(pred_rec(&c, "a.jpg"), "disc", 4, 4, 100, 100, 0.9);
	CHECK_OK(run(&c, NULL));
	CHECK(M(&c, AP_SMALL) == -1);
	CHECK_NEAR(M(&c, AP_MEDIUM), P1, TOL);
	CHECK_NEAR(M(&c, AP_LARGE), P1, TOL);
	case_free(&c);

	/* Just past a border: 32 x 32.5 is medium only. */
	box(gt_rec(&c, "a.jpg"), "disc", 0, 0, 32, 32.5, NAN);
	box(pred_rec(&c, "a.jpg"), "disc", 0, 0, 32, 32.5, 0.9);
	CHECK_OK(run(&c, NULL));
	CHECK(M(&c, AP_SMALL) == -1);
	CHECK_NEAR(M(&c, AP_MEDIUM), P1, TOL);
	case_free(&c);

	/* A COCO "area" field decides, not the box: a 10 x 10 box of area 5000 is medium. */
	g = gt_rec(&c, "a.jpg");
	box(g, "disc", 0, 0, 10, 10, NAN);
	last_extra(g, "area", 5000);
	box(pred_rec(&c, "a.jpg"), "disc", 0, 0, 10, 10, 0.9);
	CHECK_OK(run(&c, NULL));
	CHECK(M(&c, AP_SMALL) == -1);
	CHECK_NEAR(M(&c, AP_MEDIUM), P1, TOL);
	case_free(&c);
}

TEST(unmatched_detections_outside_the_range_are_ignored)
{
	struct ecase c = {0};
	struct fundus_record *p;

	/*
	 * A small disc found, after a large false positive: over all areas
	 * [FP, TP] gives AP .5; in the small range the large false
	 * positive is ignored (unmatched, area out of range): AP P1.
	 */
	box(gt_rec(&c, "a.jpg"), "disc", 0, 0, 10, 10, NAN);
	p = pred_rec(&c, "a.jpg");
	box(p, "disc", 0, 0, 10, 10, 0.5);
	box(p, "disc", 100, 100, 300, 300, 0.9);
	CHECK_OK(run(&c, NULL));
	CHECK_NEAR(M(&c, AP), 0.5, TOL);
	CHECK_NEAR(M(&c, AP_SMALL), P1, TOL);
	CHECK(M(&c, AP_LARGE) == -1);
	case_free(&c);
}

TEST(ignored_ground_truth_sorts_last)
{
	struct ecase c = {0};
	struct fundus_record *g;

	/*
	 * A 40 x 40 box (area 1600: not small) listed before a 32 x 32 one
	 * (area 1024: small and medium) inside it; one detection equal to the
	 * large box (IoU 1 with it, 1024/1600 = .64 with the small one).
	 *
	 * Small range: the large box is ignored and sorted last, so at IoU
	 * .50, .55, .60 the detection takes the small box and stops; from .65
	 * it can only match the ignored box and is ignored itself: precision
	 * P1 at 3 thresholds of 10, 0 at the others: APs = .3 P1, ARs = .3.
	 * All and medium: both boxes count, the detection takes the large
	 * one: recall .5 at every threshold, AP = 51/101 P1.
	 */
	g = gt_rec(&c, "a.jpg");
	box(g, "disc", 0, 0, 40, 40, NAN);
	box(g, "disc", 0, 0, 32, 32, NAN);
	box(pred_rec(&c, "a.jpg"), "disc", 0, 0, 40, 40, 0.9);
	CHECK_OK(run(&c, NULL));
	CHECK_NEAR(M(&c, AP_SMALL), 0.3 * P1, TOL);
	CHECK_NEAR(M(&c, AR_SMALL), 0.3, TOL);
	CHECK_NEAR(M(&c, AP), P1 * 51 / 101, TOL);
	CHECK_NEAR(M(&c, AP_MEDIUM), P1 * 51 / 101, TOL);
	CHECK(M(&c, AR100) == 0.5);
	CHECK(M(&c, AP_LARGE) == -1);
	/* Two ground-truth boxes: no one-object figures for this image. */
	CHECK_INT_EQ(c.res->labels[0].single.images, 0);
	CHECK_INT_EQ(c.res->labels[0].single.several, 1);
	CHECK(isnan(c.res->labels[0].single.rate));
	case_free(&c);
}

TEST(equal_iou_goes_to_the_later_ground_truth)
{
	struct ecase c = {0};
	struct fundus_record *g, *p;

	/*
	 * Two side-by-side boxes; a detection covering both has IoU .5 with
	 * each. pycocotools replaces its best match on ">=", so at IoU .50 the
	 * wide detection takes the second box, and the exact detection of the
	 * second box that follows is a false positive: [TP, FP], AP50 =
	 * 51/101 P1. Above .50 the wide one matches nothing: [FP, TP].
	 */
	g = gt_rec(&c, "a.jpg");
	box(g, "disc", 0, 0, 10, 10, NAN);
	box(g, "disc", 10, 0, 20, 10, NAN);
	p = pred_rec(&c, "a.jpg");
	box(p, "disc", 0, 0, 20, 10, 0.9);
	box(p, "disc", 10, 0, 20, 10, 0.8);
	CHECK_OK(run(&c, NULL));
	CHECK_NEAR(M(&c, AP50), P1 * 51 / 101, TOL);
	CHECK_NEAR(M(&c, AP75), 0.5 * 51 / 101, TOL);
	CHECK(M(&c, AR100) == 0.5);
	case_free(&c);
}

TEST(max_dets)
{
	struct ecase c = {0};
	struct fundus_record *p;

	/* Nine false positives outscore the hit: AR1 0, AR10 1; AP .1 at every point. */
	box(gt_rec(&c, "a.jpg"), "disc", 0, 0, 50, 50, NAN);
	p = pred_rec(&c, "a.jpg");
	box(p, "disc", 0, 0, 50, 50, 0.5);
	for (int i = 0; i < 9; i++)
		box(p, "disc", 100 + 10 * i, 100, 105 + 10 * i, 105, 0.9 - i / 100.0);
	CHECK_OK(run(&c, NULL));
	CHECK(M(&c, AR1) == 0);
	CHECK(M(&c, AR10) == 1);
	CHECK(M(&c, AR100) == 1);
	CHECK_NEAR(M(&c, AP), 0.1, TOL);

	/* A hundred of them: the hit is the 101st and is cut. */
	for (int i = 9; i < 100; i++)
		box(p, "disc", 100 + 10 * i, 100, 105 + 10 * i, 105, 0.9 - i / 1000.0);
	CHECK_OK(run(&c, NULL));
	CHECK(M(&c, AR100) == 0);
	CHECK(M(&c, AP) == 0);
	/* The one-object figures look at the top box only, which misses either way. */
	CHECK_INT_EQ(c.res->labels[0].single.hits, 0);
	CHECK_INT_EQ(c.res->rows[0].pred, 101);
	case_free(&c);
}

TEST(category_without_ground_truth)
{
	struct ecase c = {0};
	struct fundus_record *p;
	struct fundus_eval_options o;
	const struct fundus_eval_label *cup;

	box(gt_rec(&c, "a.jpg"), "disc", 0, 0, 50, 50, NAN);
	box(gt_rec(&c, "b.jpg"), "disc", 0, 0, 50, 50, NAN);
	p = pred_rec(&c, "a.jpg");
	box(p, "disc", 0, 0, 50, 50, 0.9);
	box(p, "cup", 10, 10, 20, 20, 0.95);
	box(pred_rec(&c, "b.jpg"), "disc", 0, 0, 50, 50, 0.8);
	CHECK_OK(run(&c, NULL));
	CHECK_INT_EQ(c.res->n_labels, 2);
	cup = label(c.res, "cup");
	CHECK(cup != NULL);
	CHECK(cup->metric[FUNDUS_EVAL_AP] == -1);
	CHECK(cup->metric[FUNDUS_EVAL_AR100] == -1);
	CHECK_INT_EQ(cup->pred_objects, 1);
	CHECK_INT_EQ(cup->gt_objects, 0);
	/* The mean skips it: the disc alone, found perfectly. */
	CHECK_NEAR(M(&c, AP), 1, TOL);
	CHECK(M(&c, AR100) == 1);
	/* Labels with ground truth first, then by name. */
	CHECK_STR_EQ(c.res->labels[0].name, "disc");
	CHECK_STR_EQ(c.res->labels[1].name, "cup");

	/* Asked for by name, it is an error: nothing to score. */
	fundus_eval_options_default(&o);
	o.label = "cup";
	CHECK_INT_EQ(run(&c, &o), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "no ground-truth box is labelled 'cup'");
	o.label = "disc";
	CHECK_OK(run(&c, &o));
	CHECK_INT_EQ(c.res->n_labels, 1);
	case_free(&c);
}

TEST(mean_over_categories)
{
	struct ecase c = {0};
	struct fundus_record *p;

	/*
	 * disc found (AP P1 with one hit), cup missed with a false positive
	 * (AP 0): the mean is (P1 + 0) / 2 up to the summation order.
	 */
	box(gt_rec(&c, "a.jpg"), "disc", 0, 0, 50, 50, NAN);
	box(c.gt[0], "cup", 10, 10, 20, 20, NAN);
	p = pred_rec(&c, "a.jpg");
	box(p, "disc", 0, 0, 50, 50, 0.9);
	box(p, "cup", 30, 30, 40, 40, 0.9);
	CHECK_OK(run(&c, NULL));
	CHECK_NEAR(M(&c, AP), P1 / 2, TOL);
	CHECK(M(&c, AR100) == 0.5);
	CHECK(label(c.res, "cup")->metric[FUNDUS_EVAL_AP] == 0);
	CHECK_NEAR(label(c.res, "disc")->metric[FUNDUS_EVAL_AP], P1, TOL);
	CHECK_STR_EQ(c.res->labels[0].name, "cup");

	/* COCO category ids, when every label has one, give pycocotools' order. */
	last_extra(c.gt[0], "category_id", 7);
	c.gt[0]->objects[0].extra = cJSON_CreateObject();
	cJSON_AddNumberToObject(c.gt[0]->objects[0].extra, "category_id", 3);
	CHECK_OK(run(&c, NULL));
	CHECK_STR_EQ(c.res->labels[0].name, "disc");
	CHECK_NEAR(M(&c, AP), P1 / 2, TOL);
	case_free(&c);
}

TEST(one_object_figures)
{
	struct ecase c = {0};
	static const double shift[5] = {0, 2, 4, 6, 8}; /* disc width 20: errors 0, .1 .. .4 */

	for (int i = 0; i < 5; i++) {
		char name[16];
		struct fundus_record *p;

		snprintf(name, sizeof name, "%d.jpg", i);
		box(gt_rec(&c, name), "disc", 100, 100, 120, 120, NAN);
		p = pred_rec(&c, name);
		/* A weaker far box first: the top box is the best scored, not the first. */
		box(p, "disc", 0, 0, 5, 5, 0.1);
		box(p, "disc", 100 + shift[i], 100, 120 + shift[i], 120, 0.9);
	}
	CHECK_OK(run(&c, NULL));
	{
		const struct fundus_eval_single *s = &c.res->labels[0].single;
		/* IoU of a 20 x 20 box shifted by d: (20 - d) * 20 / (800 - (20 - d) * 20). */
		double iou_sum = 0;

		for (int i = 0; i < 5; i++) {
			double inter = (20 - shift[i]) * 20;

			iou_sum += inter / (800 - inter);
		}
		CHECK_INT_EQ(s->images, 5);
		CHECK_INT_EQ(s->hits, 4); /* shifts 0 .. 6: IoU 1, .82, .67, .54; 8: .43 */
		CHECK_NEAR(s->mean_iou, iou_sum / 5, 1e-15);
		CHECK_NEAR(s->rate, 0.8, 1e-15);
		CHECK_NEAR(s->centre_median, 0.2, 1e-15);
		/* numpy.percentile(.., 95): index 3.8 between .3 and .4. */
		CHECK_NEAR(s->centre_p95, 0.38, 1e-12);
	}
	/* The threshold is an option. */
	{
		struct fundus_eval_options o;

		fundus_eval_options_default(&o);
		o.iou = 0.4;
		CHECK_OK(run(&c, &o));
		CHECK_INT_EQ(c.res->labels[0].single.hits, 5);
		CHECK_INT_EQ(c.res->rows[4].hit, 1);
	}
	/* A sixth image with no prediction: +inf reaches the 95th percentile. */
	box(gt_rec(&c, "5.jpg"), "disc", 100, 100, 120, 120, NAN);
	CHECK_OK(run(&c, NULL));
	CHECK_INT_EQ(c.res->labels[0].single.missing, 1);
	CHECK(isinf(c.res->labels[0].single.centre_p95));
	CHECK_NEAR(c.res->labels[0].single.centre_median, 0.25, 1e-15);
	CHECK_INT_EQ(c.res->n_rows, 6);
	CHECK_STR_EQ(c.res->rows[5].image, "5.jpg");
	CHECK(isnan(c.res->rows[5].score));
	case_free(&c);
}

TEST(pairing)
{
	struct ecase c = {0};
	struct fundus_record *g, *p;
	struct fundus_eval_options o;

	/* By path; by file name; by id wherever the file is now. */
	box(gt_rec(&c, "data/a.jpg"), "disc", 0, 0, 50, 50, NAN);
	box(gt_rec(&c, "data/b.jpg"), "disc", 0, 0, 50, 50, NAN);
	g = gt_rec(&c, "data/c.jpg");
	fundus_record_set_string(&g->id, "sha256:cc");
	box(g, "disc", 0, 0, 50, 50, NAN);
	box(pred_rec(&c, "data/a.jpg"), "disc", 0, 0, 50, 50, 0.9);
	box(pred_rec(&c, "/mnt/other/b.jpg"), "disc", 0, 0, 50, 50, 0.9);
	p = pred_rec(&c, "moved.jpg");
	fundus_record_set_string(&p->id, "sha256:cc");
	box(p, "disc", 0, 0, 50, 50, 0.9);
	/* Not in the ground truth: warned about and ignored. */
	box(pred_rec(&c, "elsewhere/z.jpg"), "disc", 0, 0, 50, 50, 0.99);
	CHECK_OK(run(&c, NULL));
	CHECK_INT_EQ(c.res->images_predicted, 3);
	CHECK_INT_EQ(c.res->unmatched_records, 1);
	CHECK_NEAR(M(&c, AP), 1, TOL);

	/* Exact paths only: b is missed. */
	fundus_eval_options_default(&o);
	o.exact_paths = 1;
	CHECK_OK(run(&c, &o));
	CHECK_INT_EQ(c.res->images_predicted, 2);
	CHECK_INT_EQ(c.res->unmatched_records, 2);

	/* Both with ids that differ: not the same image, whatever the path. */
	p = pred_rec(&c, "data/c.jpg");
	fundus_record_set_string(&p->id, "sha256:dd");
	box(p, "disc", 0, 0, 50, 50, 0.99);
	CHECK_OK(run(&c, NULL));
	CHECK_INT_EQ(c.res->unmatched_records, 2);
	case_free(&c);

	/* A file name two ground-truth images share pairs with neither. */
	box(gt_rec(&c, "left/eye.jpg"), "disc", 0, 0, 50, 50, NAN);
	box(gt_rec(&c, "right/eye.jpg"), "disc", 0, 0, 50, 50, NAN);
	box(pred_rec(&c, "eye.jpg"), "disc", 0, 0, 50, 50, 0.9);
	box(pred_rec(&c, "right/eye.jpg"), "disc", 0, 0, 50, 50, 0.9);
	CHECK_OK(run(&c, NULL));
	CHECK_INT_EQ(c.res->ambiguous_records, 1);
	CHECK_INT_EQ(c.res->unmatched_records, 0);
	CHECK_INT_EQ(c.res->images_predicted, 1);
	case_free(&c);

	/* Several prediction records for one image add up. */
	box(gt_rec(&c, "a.jpg"), "disc", 0, 0, 50, 50, NAN);
	box(gt_rec(&c, "a.jpg"), "disc", 0, 0, 50, 50, NAN); /* a duplicate: counted */
	box(pred_rec(&c, "a.jpg"), "disc", 0, 0, 50, 50, 0.9);
	box(pred_rec(&c, "a.jpg"), "disc", 0, 0, 50, 50, 0.8);
	CHECK_OK(run(&c, NULL));
	CHECK_INT_EQ(c.res->duplicate_images, 1);
	CHECK_INT_EQ(c.res->rows[0].pred, 2);
	case_free(&c);
}

TEST(annotation_id_0)
{
	struct ecase c = {0};
	struct fundus_eval_options o;
	struct fundus_record *g;

	/*
	 * Two discs found, one of them with COCO annotation id 0. pycocotools
	 * stores the matched id and reads 0 as "no match": that detection is a
	 * false positive and its disc missed. [TP .9, FP .8]: rc [.5, .5],
	 * precision P1 up to recall .5; without the bug both count: AP 1.
	 */
	g = gt_rec(&c, "a.jpg");
	box(g, "disc", 0, 0, 50, 50, NAN);
	last_extra(g, "id", 0);
	box(g, "disc", 100, 100, 150, 150, NAN);
	last_extra(g, "id", 1);
	box(pred_rec(&c, "a.jpg"), "disc", 0, 0, 50, 50, 0.8);
	box(c.pred[0], "disc", 100, 100, 150, 150, 0.9);
	CHECK_OK(run(&c, NULL));
	CHECK_INT_EQ(c.res->gt_zero_ids, 1);
	CHECK_NEAR(M(&c, AP), 1, TOL);
	fundus_eval_options_default(&o);
	o.pycocotools_id0 = 1;
	CHECK_OK(run(&c, &o));
	CHECK_NEAR(M(&c, AP), P1 * 51 / 101, TOL);
	CHECK(M(&c, AR100) == 0.5);
	/* The disc is taken: a second detection on it is a false positive too. */
	box(c.pred[0], "disc", 0, 0, 50, 50, 0.7);
	CHECK_OK(run(&c, &o));
	CHECK(M(&c, AR100) == 0.5);
	/* Two discs on the image: no one-object figures, with or without the bug. */
	CHECK_INT_EQ(c.res->labels[0].single.several, 1);
	case_free(&c);
}

TEST(unscored_predictions_rank_as_one)
{
	struct ecase c = {0};
	struct fundus_record *p;

	/* An annotator against another: boxes without scores, ties in input order. */
	box(gt_rec(&c, "a.jpg"), "disc", 0, 0, 50, 50, NAN);
	p = pred_rec(&c, "a.jpg");
	box(p, "disc", 0, 0, 50, 50, NAN);
	box(p, "disc", 100, 100, 150, 150, 0.99);
	CHECK_OK(run(&c, NULL));
	CHECK_INT_EQ(c.res->unscored_objects, 1);
	CHECK_NEAR(M(&c, AP), P1, TOL);
	CHECK(c.res->rows[0].score == 1);
	case_free(&c);
}

TEST(errors)
{
	struct ecase c = {0};
	struct fundus_eval_options o;

	CHECK_INT_EQ(run(&c, NULL), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "no ground truth");
	gt_rec(&c, "a.jpg");
	box(pred_rec(&c, "a.jpg"), "disc", 0, 0, 50, 50, 0.9);
	CHECK_INT_EQ(run(&c, NULL), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "the ground truth has no boxes");
	CHECK(c.res == NULL);
	box(c.gt[0], "disc", 0, 0, INFINITY, 50, NAN);
	CHECK_INT_EQ(run(&c, NULL), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(),
			   "ground-truth record 1: objects[0]: bbox is not finite");
	fundus_record_clear_objects(c.gt[0]);
	box(c.gt[0], "disc", 0, 0, 50, 50, NAN);
	last_extra(c.gt[0], "area", INFINITY);
	CHECK_INT_EQ(run(&c, NULL), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(),
			   "ground-truth record 1: objects[0]: area is not finite");
	fundus_record_clear_objects(c.gt[0]);
	box(c.gt[0], "disc", 0, 0, 50, 50, NAN);
	box(c.pred[0], "disc", 0, 0, 50, 50, INFINITY);
	CHECK_INT_EQ(run(&c, NULL), FUNDUS_EINVAL);
	/* fundus-eval names the predictions' file for a message that starts so. */
	CHECK_STR_EQ(fundus_errmsg(), "prediction record 1: objects[1]: score is not finite");
	CHECK(c.res == NULL);
	fundus_eval_options_default(&o);
	o.iou = 0;
	CHECK_INT_EQ(run(&c, &o), FUNDUS_EINVAL);
	case_free(&c);
}

TEST(json)
{
	struct ecase c = {0};
	cJSON *j, *v;

	box(gt_rec(&c, "a.jpg"), "disc", 0, 0, 50, 50, NAN);
	box(gt_rec(&c, "b.jpg"), "disc", 0, 0, 50, 50, NAN);
	box(pred_rec(&c, "a.jpg"), "disc", 0, 0, 50, 50, 0.9);
	CHECK_OK(run(&c, NULL));
	CHECK_OK(fundus_eval_result_json(c.res, &j));
	v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "coco"), "AR100");
	CHECK(cJSON_IsNumber(v) && v->valuedouble == 0.5);
	v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "coco"), "APs");
	CHECK(cJSON_IsNumber(v) && v->valuedouble == -1);
	v = cJSON_GetObjectItemCaseSensitive(j, "single");
	CHECK(cJSON_IsObject(v));
	v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v, "centre_error"),
					     "p95");
	CHECK(cJSON_IsNull(v)); /* infinite */
	cJSON_Delete(j);
	CHECK_OK(fundus_eval_row_json(&c.res->rows[1], &j));
	CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "score")));
	CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "hit")));
	CHECK(cJSON_GetObjectItemCaseSensitive(j, "iou")->valuedouble == 0);
	cJSON_Delete(j);
	case_free(&c);
}

TEST(allocation_failures)
{
	struct ecase c = {0};
	struct fundus_record *p;
	int rc = -1;

	box(gt_rec(&c, "a.jpg"), "disc", 0, 0, 50, 50, NAN);
	box(gt_rec(&c, "b.jpg"), "cup", 0, 0, 50, 50, NAN);
	p = pred_rec(&c, "a.jpg");
	box(p, "disc", 0, 0, 50, 50, 0.9);
	box(p, "cup", 0, 0, 50, 50, 0.8);
	for (long n = 0; rc != 0 && n < 10000; n++) {
		fundus_alloc_fail_after(n);
		rc = run(&c, NULL);
		fundus_alloc_fail_after(-1);
		if (rc != 0 && rc != FUNDUS_ENOMEM)
			HARNESS_FAIL("failing allocation %ld gave %d", n, rc);
	}
	CHECK_INT_EQ(rc, 0);
	case_free(&c);
}

int main(int argc, char **argv)
{
	RUN(numpy_thresholds);
	RUN(numpy_pairwise_sum);
	RUN(iou_as_bbiou);
	RUN(perfect);
	RUN(one_true_positive_is_p1);
	RUN(all_wrong);
	RUN(ties_in_score_keep_input_order);
	RUN(ties_across_images_follow_image_order);
	RUN(crowd_regions);
	RUN(images_without_ground_truth);
	RUN(image_without_predictions);
	RUN(recall_points_are_linspace_values);
	RUN(area_borders);
	RUN(unmatched_detections_outside_the_range_are_ignored);
	RUN(ignored_ground_truth_sorts_last);
	RUN(equal_iou_goes_to_the_later_ground_truth);
	RUN(max_dets);
	RUN(category_without_ground_truth);
	RUN(mean_over_categories);
	RUN(one_object_figures);
	RUN(pairing);
	RUN(annotation_id_0);
	RUN(unscored_predictions_rank_as_one);
	RUN(errors);
	RUN(json);
	RUN(allocation_failures);
	return harness_done();
}

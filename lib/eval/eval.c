/*
 * fundus_eval_run(): pairs the records, sorts every box by label and image,
 * runs the COCO evaluation of each label (coco.c), summarises it as
 * pycocotools' summarize() does, and works out the one-object figures and
 * the per-image table.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *const metric_names[FUNDUS_EVAL_N_METRICS] = {
    "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl",
};

static const char *const metric_titles[FUNDUS_EVAL_N_METRICS] = {
    " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]",
    " Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ]",
    " Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ]",
    " Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ]",
    " Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]",
    " Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ]",
    " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ]",
    " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ]",
    " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]",
    " Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ]",
    " Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]",
    " Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ]",
};

const char *fundus_eval_metric_name(enum fundus_eval_metric m)
{
	return (unsigned)m < FUNDUS_EVAL_N_METRICS ? metric_names[m] : "?";
}

const char *fundus_eval_metric_title(enum fundus_eval_metric m)
{
	return (unsigned)m < FUNDUS_EVAL_N_METRICS ? metric_titles[m] : "?";
}

void fundus_eval_options_default(struct fundus_eval_options *o)
{
	memset(o, 0, sizeof *o);
	o->iou = 0.5;
}

void fundus_eval_result_free(struct fundus_eval_result *res)
{
	if (res == NULL)
		return;
	for (size_t k = 0; k < res->n_labels; k++)
		fundus_free(res->labels[k].name);
	for (size_t i = 0; i < res->n_strings; i++)
		fundus_free(res->strings[i]);
	fundus_free(res->strings);
	fundus_free(res->labels);
	fundus_free(res->rows);
	fundus_free(res);
}

/* One box of one label on one image, from either side. */
struct item {
	size_t label; /* index into the sorted label names */
	size_t rank;  /* the image's place in pycocotools' order */
	size_t img;   /* the ground-truth record */
	int kind;     /* 0 ground truth, 1 prediction */
	size_t seq;   /* input order within its side */
	const struct fundus_object *ob;
	struct fundus__ev_box box;
};

/* By label, image, side, input order: each image's boxes of a label together, in input order. */
static int by_item(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;

	if (a->label != b->label)
		return a->label < b->label ? -1 : 1;
	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int by_string(const void *pa, const void *pb)
{
	return strcmp(*(const char *const *)pa, *(const char *const *)pb);
}

/* An image's pycocotools id, when it came from COCO: an integer "coco_id". */
struct img_key {
	double id;
	size_t i;
};

static int by_img_key(const void *pa, const void *pb)
{
	const struct img_key *a = pa, *b = pb;

	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return a->i < b->i ? -1 : a->i > b->i;
}

/* The integer "coco_id" of a record, if it has one. */
static int coco_id(const struct fundus_record *r, double *out)
{
	const cJSON *v = r->extra ? cJSON_GetObjectItemCaseSensitive(r->extra, "coco_id") : NULL;

	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
	    fabs(v->valuedouble) > 9007199254740992.0)
		return 0;
	*out = v->valuedouble;
	return 1;
}

/* An object's extra field as a number, or NULL. */
static const cJSON *extra_number(const struct fundus_object *ob, const char *key)
{
	const cJSON *v = ob->extra ? cJSON_GetObjectItemCaseSensitive(ob->extra, key) : NULL;

	return cJSON_IsNumber(v) ? v : NULL;
}

/* Whether a ground-truth object is a crowd region: "iscrowd" non-zero or true. */
static int is_crowd(const struct fundus_object *ob)
{
	const cJSON *v = ob->extra ? cJSON_GetObjectItemCaseSensitive(ob->extra, "iscrowd") : NULL;

	if (cJSON_IsTrue(v))
		return 1;
	return cJSON_IsNumber(v) && v->valuedouble != 0;
}

/* An object's label; a record built in memory may lack one. */
static const char *label_of(const struct fundus_object *ob)
{
	return ob->label ? ob->label : "";
}

/* The index of name in the sorted names, or -1. */
static long find_label(const char *const *names, size_t n, const char *name)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(names[mid], name);

		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/*
 * One of pycocotools' twelve numbers over the labels c[0..n-1]: the mean
 * of the entries > -1 of its slice of precision or recall, taken in
 * numpy's C order (threshold, recall point, label), or -1 when none.
 * buf holds EV_T * EV_R * n doubles.
 */
static double summarize(const struct fundus__ev_curves *c, size_t n, int metric,
			const double thr[EV_T], double *buf)
{
	static const int area[FUNDUS_EVAL_N_METRICS] = {
	    EV_AREA_ALL, EV_AREA_ALL, EV_AREA_ALL, EV_AREA_SMALL, EV_AREA_MEDIUM, EV_AREA_LARGE,
	    EV_AREA_ALL, EV_AREA_ALL, EV_AREA_ALL, EV_AREA_SMALL, EV_AREA_MEDIUM, EV_AREA_LARGE,
	};
	static const int maxdet[FUNDUS_EVAL_N_METRICS] = {2, 2, 2, 2, 2, 2, 0, 1, 2, 2, 2, 2};
	int a = area[metric], m = maxdet[metric], t0 = 0, t1 = EV_T;
	size_t len = 0;

	if (metric == FUNDUS_EVAL_AP50 || metric == FUNDUS_EVAL_AP75) {
		/* np.where(iouThr == p.iouThrs): an exact comparison with the linspace values. */
		double want = metric == FUNDUS_EVAL_AP50 ? .5 : .75;

		for (t0 = 0; t0 < EV_T && thr[t0] != want; t0++)
			;
		t1 = t0 < EV_T ? t0 + 1 : t0;
	}
	for (int t = t0; t < t1; t++) {
		if (metric < FUNDUS_EVAL_AR1) {
			for (int r = 0; r < EV_R; r++)
				for (size_t k = 0; k < n; k++)
					if (c[k].prec[a][t][r] > -1)
						buf[len++] = c[k].prec[a][t][r];
		} else {
			for (size_t k = 0; k < n; k++)
				if (c[k].rec[m][a][t] > -1)
					buf[len++] = c[k].rec[m][a][t];
		}
	}
	return len ? fundus__eval_np_sum(buf, len) / (double)len : -1;
}

/* The median as numpy.median gives it: the middle value, or the mean of the middle two. */
static double median(const double *v, size_t n)
{
	if (n % 2)
		return v[n / 2];
	return (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * numpy.percentile's linear method (q in [0, 1]) on sorted values, with
 * +infinity taken as larger than everything rather than as a number to
 * interpolate with.
 */
static double percentile(const double *v, size_t n, double q)
{
	double h = (double)(n - 1) * q, lo = floor(h), g = h - lo, diff;
	size_t i = (size_t)lo;

	if (g == 0 || i + 1 >= n)
		return v[i];
	if (isinf(v[i + 1]))
		return INFINITY;
	diff = v[i + 1] - v[i];
	return g >= 0.5 ? v[i + 1] - diff * (1 - g) : v[i] + diff * g;
}

static int by_double(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;

	return a < b ? -1 : a > b;
}

/* The row table's order: ground-truth record, then label. */
static int by_row(const void *pa, const void *pb)
{
	const struct fundus_eval_row *a = pa, *b = pb;

	if (a->gt_index != b->gt_index)
		return a->gt_index < b->gt_index ? -1 : 1;
	return strcmp(a->label, b->label);
}

/* Centre of a box along one axis, from the record's edges. */
static double centre(double lo, double hi)
{
	return (lo + hi) / 2;
}

/* Borrowable copies of a ground-truth record's image and id, made once. */
static int row_strings(struct fundus_eval_result *res, const struct fundus_record *r, size_t i,
		       struct fundus_eval_row *row)
{
	char **s = res->strings + 2 * i;

	if (r->image && s[0] == NULL && (s[0] = fundus_strdup(r->image)) == NULL)
		return FUNDUS_ENOMEM;
	if (r->id && s[1] == NULL && (s[1] = fundus_strdup(r->id)) == NULL)
		return FUNDUS_ENOMEM;
	row->image = s[0];
	row->id = s[1];
	return 0;
}

/*
 * The one-object figures and the table rows of label k from its items
 * it[0..n-1] (sorted by image); errs is scratch for n doubles.
 */
static int single_label(struct fundus_eval_result *res, struct fundus_record *const *gt, size_t k,
			const struct item *it, size_t n, double *errs)
{
	struct fundus_eval_label *lab = &res->labels[k];
	struct fundus_eval_single *s = &lab->single;
	size_t n_err = 0;
	double iou_sum = 0;

	for (size_t i = 0; i < n;) {
		const struct item *g1 = NULL, *top = NULL;
		struct fundus_eval_row *row;
		size_t j = i;
		int64_t ng = 0, np = 0;

		for (; j < n && it[j].rank == it[i].rank; j++) {
			if (it[j].kind == 0 && !it[j].box.crowd) {
				if (ng++ == 0)
					g1 = &it[j];
			} else if (it[j].kind == 1) {
				np++;
				if (top == NULL || it[j].box.score > top->box.score)
					top = &it[j];
			}
		}
		if (ng == 0 && np == 0) {
			i = j;
			continue;
		}
		row = &res->rows[res->n_rows++];
		row->gt_index = it[i].img;
		row->label = lab->name;
		row->gt = ng;
		row->pred = np;
		row->score = top ? top->box.score : NAN;
		row->iou = row->centre_error = NAN;
		row->hit = 0;
		if (row_strings(res, gt[it[i].img], it[i].img, row) < 0)
			return FUNDUS_ENOMEM;
		if (ng > 1)
			s->several++;
		if (ng == 1) {
			const struct fundus_box *gb = &g1->ob->bbox;
			double w = gb->x1 - gb->x0;

			s->images++;
			if (top) {
				const struct fundus_box *pb = &top->ob->bbox;
				double dx = centre(pb->x0, pb->x1) - centre(gb->x0, gb->x1);
				double dy = centre(pb->y0, pb->y1) - centre(gb->y0, gb->y1);

				row->iou = fundus__eval_iou(top->box.b, g1->box.b, 0);
				row->centre_error = w > 0 ? hypot(dx, dy) / w : NAN;
			} else {
				s->missing++;
				row->iou = 0;
				row->centre_error = w > 0 ? INFINITY : NAN;
			}
			row->hit = row->iou >= res->iou;
			s->hits += row->hit;
			iou_sum += row->iou;
			if (!isnan(row->centre_error))
				errs[n_err++] = row->centre_error;
		}
		i = j;
	}
	s->rate = s->mean_iou = s->centre_median = s->centre_p95 = NAN;
	if (s->images) {
		s->rate = (double)s->hits / (double)s->images;
		s->mean_iou = iou_sum / (double)s->images;
	}
	if (n_err) {
		qsort(errs, n_err, sizeof *errs, by_double);
		s->centre_median = median(errs, n_err);
		s->centre_p95 = percentile(errs, n_err, 0.95);
	}
	return 0;
}

/* Checks that a box is finite; the message names the side, record and object. */
static int check_box(const struct fundus_object *ob, const char *side, size_t i, size_t j)
{
	const struct fundus_box *b = &ob->bbox;

	if (!isfinite(b->x0) || !isfinite(b->y0) || !isfinite(b->x1) || !isfinite(b->y1))
		return fundus_error_set(FUNDUS_EINVAL,
					"%s record %zu: objects[%zu]: bbox is not finite", side,
					i + 1, j);
	return 0;
}

/* Fills an item's box as pycocotools would hold the object. */
static int fill_box(struct item *it, const char *side, size_t i, size_t j, int64_t *unscored)
{
	const struct fundus_object *ob = it->ob;
	struct fundus__ev_box *b = &it->box;
	int rc = check_box(ob, side, i, j);

	if (rc < 0)
		return rc;
	b->b[0] = ob->bbox.x0;
	b->b[1] = ob->bbox.y0;
	b->b[2] = ob->bbox.x1 - ob->bbox.x0;
	b->b[3] = ob->bbox.y1 - ob->bbox.y0;
	b->area = b->b[2] * b->b[3];
	b->crowd = 0;
	b->score = 0;
	if (it->kind == 0) {
		const cJSON *area = extra_number(ob, "area"), *id;

		if (area && !isfinite(area->valuedouble))
			return fundus_error_set(FUNDUS_EINVAL,
						"%s record %zu: objects[%zu]: area is not finite",
						side, i + 1, j);
		if (area)
			b->area = area->valuedouble;
		b->crowd = is_crowd(ob);
		b->id0 = (id = extra_number(ob, "id")) != NULL && id->valuedouble == 0;
	} else if (isnan(ob->score)) {
		b->score = 1;
		(*unscored)++;
	} else if (!isfinite(ob->score)) {
		return fundus_error_set(FUNDUS_EINVAL,
					"%s record %zu: objects[%zu]: score is not finite", side,
					i + 1, j);
	} else {
		b->score = ob->score;
	}
	return 0;
}

/* A label's place in pycocotools' category order. */
struct cat_key {
	double id; /* its COCO category id, or +inf */
	size_t k;  /* its index in name order */
};

static int by_cat_key(const void *pa, const void *pb)
{
	const struct cat_key *a = pa, *b = pb;

	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return a->k < b->k ? -1 : a->k > b->k;
}

/*
 * The category order: pycocotools sorts categories by id. When every
 * label with ground truth carries an integer "category_id" on its
 * ground-truth boxes (COCO read by fundus_convert_read()), labels go in
 * that order, else in name order (the ids fundus-convert gives by
 * default). Only the order of the terms in the means depends on it.
 * perm[k] receives the place of names[k].
 */
static int category_order(struct fundus_record *const *gt, size_t n_gt, const char *const *names,
			  size_t n, size_t *perm)
{
	struct cat_key *keys = fundus_calloc(n ? n : 1, sizeof *keys);
	unsigned char *has_gt = fundus_calloc(n ? n : 1, 1);
	int usable = 1;

	if (keys == NULL || has_gt == NULL) {
		fundus_free(keys);
		fundus_free(has_gt);
		return FUNDUS_ENOMEM;
	}
	for (size_t k = 0; k < n; k++) {
		keys[k].id = INFINITY;
		keys[k].k = k;
	}
	for (size_t i = 0; i < n_gt; i++)
		for (size_t j = 0; j < gt[i]->n_objects; j++) {
			const struct fundus_object *ob = &gt[i]->objects[j];
			const cJSON *c = extra_number(ob, "category_id");
			long k = find_label(names, n, label_of(ob));

			if (k < 0)
				continue;
			has_gt[k] = 1;
			if (c == NULL || c->valuedouble != floor(c->valuedouble))
				usable = 0;
			else if (isinf(keys[k].id))
				keys[k].id = c->valuedouble;
			else if (keys[k].id != c->valuedouble)
				usable = 0;
		}
	for (size_t k = 0; k < n; k++)
		if (!has_gt[k])
			keys[k].id = INFINITY;
		else if (!usable)
			keys[k].id = 0;
	qsort(keys, n, sizeof *keys, by_cat_key);
	for (size_t k = 0; k < n; k++)
		perm[keys[k].k] = k;
	fundus_free(keys);
	fundus_free(has_gt);
	return 0;
}

/* The labels to score, sorted: every label of both sides, or just o->label. */
static int collect_labels(struct fundus_record *const *gt, size_t n_gt,
			  struct fundus_record *const *pred, size_t n_pred, const int64_t *target,
			  const char *only, const char ***out, size_t *n_out)
{
	size_t n = 0, cap = 0, u = 0;
	const char **v = NULL;

	for (int side = 0; side < 2; side++) {
		size_t nr = side ? n_pred : n_gt;

		for (size_t i = 0; i < nr; i++) {
			const struct fundus_record *r = side ? pred[i] : gt[i];

			if (side && target[i] < 0)
				continue;
			for (size_t j = 0; j < r->n_objects; j++) {
				const char *l = label_of(&r->objects[j]);

				if (only && strcmp(l, only) != 0)
					continue;
				if (n == cap) {
					const char **nv;

					cap = cap ? 2 * cap : 64;
					nv = fundus_realloc(v, cap * sizeof *v);
					if (nv == NULL) {
						fundus_free(v);
						return FUNDUS_ENOMEM;
					}
					v = nv;
				}
				v[n++] = l;
			}
		}
	}
	if (n)
		qsort(v, n, sizeof *v, by_string);
	for (size_t i = 0; i < n; i++)
		if (u == 0 || strcmp(v[u - 1], v[i]) != 0)
			v[u++] = v[i];
	*out = v;
	*n_out = u;
	return 0;
}

int fundus_eval_run(struct fundus_record *const *gt, size_t n_gt, struct fundus_record *const *pred,
		    size_t n_pred, const struct fundus_eval_options *o,
		    struct fundus_eval_result **out)
{
	struct fundus_eval_options def;
	struct fundus_eval_result *res = NULL;
	int64_t *target = NULL;
	size_t *rank = NULL, *perm = NULL, n_labels = 0, n_items = 0, n_gt_boxes = 0, buf_len;
	const char **names = NULL;
	struct item *items = NULL;
	struct fundus__ev_curves *curves = NULL;
	struct fundus__ev_image *imgs = NULL;
	double *buf = NULL, thr[EV_T], rthr[EV_R];
	unsigned char *predicted = NULL;
	int rc = FUNDUS_ENOMEM;

	*out = NULL;
	if (o == NULL) {
		fundus_eval_options_default(&def);
		o = &def;
	}
	if (!(o->iou > 0 && o->iou <= 1))
		return fundus_error_set(FUNDUS_EINVAL, "the IoU threshold %g is not in (0, 1]",
					o->iou);
	if (n_gt == 0)
		return fundus_error_set(FUNDUS_EINVAL, "no ground truth");
	fundus__eval_thresholds(thr, rthr);

	res = fundus_calloc(1, sizeof *res);
	target = fundus_calloc(n_pred ? n_pred : 1, sizeof *target);
	rank = fundus_calloc(n_gt, sizeof *rank);
	predicted = fundus_calloc(n_gt, 1);
	if (res == NULL || target == NULL || rank == NULL || predicted == NULL)
		goto fail;
	res->iou = o->iou;
	res->pycocotools_id0 = o->pycocotools_id0;
	res->gt_images = (int64_t)n_gt;
	res->pred_records = (int64_t)n_pred;
	if ((res->strings = fundus_calloc(n_gt, 2 * sizeof *res->strings)) == NULL)
		goto fail;
	res->n_strings = 2 * n_gt;
	if ((rc = fundus__eval_pair(gt, n_gt, pred, n_pred, o->exact_paths, target, res)) < 0)
		goto fail;
	for (size_t j = 0; j < n_pred; j++)
		if (target[j] >= 0 && !predicted[target[j]]) {
			predicted[target[j]] = 1;
			res->images_predicted++;
		}

	/* pycocotools takes images in order of their ids: COCO's, when every record kept one. */
	{
		struct img_key *keys = fundus_calloc(n_gt, sizeof *keys);
		int all = 1;

		rc = FUNDUS_ENOMEM;
		if (keys == NULL)
			goto fail;
		for (size_t i = 0; i < n_gt; i++) {
			keys[i].i = i;
			keys[i].id = (double)i;
			if (!coco_id(gt[i], &keys[i].id))
				all = 0;
		}
		if (!all)
			for (size_t i = 0; i < n_gt; i++)
				keys[i].id = (double)i;
		qsort(keys, n_gt, sizeof *keys, by_img_key);
		for (size_t i = 0; i < n_gt; i++)
			rank[keys[i].i] = i;
		fundus_free(keys);
	}

	if ((rc = collect_labels(gt, n_gt, pred, n_pred, target, o->label, &names, &n_labels)) < 0)
		goto fail;
	rc = FUNDUS_ENOMEM;
	if ((perm = fundus_calloc(n_labels ? n_labels : 1, sizeof *perm)) == NULL ||
	    (rc = category_order(gt, n_gt, names, n_labels, perm)) < 0)
		goto fail;
	for (size_t i = 0; i < n_gt; i++)
		for (size_t j = 0; j < gt[i]->n_objects; j++)
			if (o->label == NULL || strcmp(label_of(&gt[i]->objects[j]), o->label) == 0)
				n_gt_boxes++;
	if (n_gt_boxes == 0) {
		rc = o->label ? fundus_error_set(FUNDUS_EINVAL,
						 "no ground-truth box is labelled '%s'", o->label)
			      : fundus_error_set(FUNDUS_EINVAL, "the ground truth has no boxes");
		goto fail;
	}

	/* Every box of a scored label, from both sides, sorted by label, image, side, order. */
	rc = FUNDUS_ENOMEM;
	for (int side = 0; side < 2; side++) {
		size_t nr = side ? n_pred : n_gt;

		for (size_t i = 0; i < nr; i++) {
			const struct fundus_record *r = side ? pred[i] : gt[i];

			if (!side || target[i] >= 0)
				n_items += r->n_objects;
		}
	}
	if ((items = fundus_calloc(n_items ? n_items : 1, sizeof *items)) == NULL)
		goto fail;
	n_items = 0;
	for (int side = 0; side < 2; side++) {
		size_t nr = side ? n_pred : n_gt, seq = 0;

		for (size_t i = 0; i < nr; i++) {
			const struct fundus_record *r = side ? pred[i] : gt[i];
			size_t img = side ? (size_t)target[i] : i;

			if (side && target[i] < 0)
				continue;
			for (size_t j = 0; j < r->n_objects; j++) {
				struct item *it = &items[n_items];
				const char *l = label_of(&r->objects[j]);
				long k = find_label(names, n_labels, l);

				if (k < 0)
					continue;
				it->label = perm[k];
				it->rank = rank[img];
				it->img = img;
				it->kind = side;
				it->seq = seq++;
				it->ob = &r->objects[j];
				if ((rc = fill_box(it, side ? "prediction" : "ground-truth", i, j,
						   &res->unscored_objects)) < 0)
					goto fail;
				n_items++;
			}
		}
	}
	for (size_t i = 0; i < n_items; i++)
		res->gt_zero_ids += items[i].kind == 0 && items[i].box.id0;
	if (res->gt_zero_ids && !o->pycocotools_id0)
		fundus_log(FUNDUS_LOG_WARN,
			   "%lld ground-truth boxes have COCO annotation id 0; pycocotools counts "
			   "detections matched to them as false positives, fundus-eval does not "
			   "(unless asked to: --pycocotools-id0)",
			   (long long)res->gt_zero_ids);
	if (res->unscored_objects)
		fundus_log(FUNDUS_LOG_WARN,
			   "%lld predicted boxes have no score; they rank as score 1",
			   (long long)res->unscored_objects);
	qsort(items, n_items, sizeof *items, by_item);

	rc = FUNDUS_ENOMEM;
	res->labels = fundus_calloc(n_labels ? n_labels : 1, sizeof *res->labels);
	curves = fundus_calloc(n_labels ? n_labels : 1, sizeof *curves);
	imgs = fundus_calloc(n_items ? n_items : 1, sizeof *imgs);
	res->rows = fundus_calloc(n_items ? n_items : 1, sizeof *res->rows);
	/* Scratch for summarize() (EV_T x EV_R x labels) and for single_label() (its items). */
	if (fundus_size_mul(&buf_len, (size_t)EV_T * EV_R, n_labels ? n_labels : 1) < 0)
		goto fail;
	if (buf_len < n_items)
		buf_len = n_items;
	buf = fundus_calloc(buf_len, sizeof *buf);
	if (res->labels == NULL || curves == NULL || imgs == NULL || res->rows == NULL ||
	    buf == NULL)
		goto fail;
	res->n_labels = n_labels;
	for (size_t k = 0; k < n_labels; k++)
		if ((res->labels[perm[k]].name = fundus_strdup(names[k])) == NULL)
			goto fail;

	for (size_t s = 0, k = 0; k < n_labels; k++) {
		struct fundus_eval_label *lab = &res->labels[k];
		size_t e = s, n_img = 0;
		struct fundus__ev_box *boxes;

		while (e < n_items && items[e].label == k)
			e++;
		/*
		 * The items of an image are together, ground truth first: hand
		 * coco.c arrays of boxes. The boxes live in the items, so copy
		 * them into a contiguous run per side and image.
		 */
		boxes = fundus_calloc(e - s ? e - s : 1, sizeof *boxes);
		if (boxes == NULL) {
			rc = FUNDUS_ENOMEM;
			goto fail;
		}
		for (size_t i = s; i < e;) {
			struct fundus__ev_image *im = &imgs[n_img++];
			size_t j = i;

			im->gt = boxes + (i - s);
			im->n_gt = im->n_dt = 0;
			for (; j < e && items[j].rank == items[i].rank && items[j].kind == 0; j++) {
				boxes[j - s] = items[j].box;
				im->n_gt++;
				lab->gt_objects++;
				lab->gt_crowd += items[j].box.crowd;
			}
			lab->gt_images += im->n_gt > 0;
			im->dt = boxes + (j - s);
			for (; j < e && items[j].rank == items[i].rank; j++) {
				boxes[j - s] = items[j].box;
				im->n_dt++;
				lab->pred_objects++;
			}
			i = j;
		}
		rc = fundus__eval_category(imgs, n_img, o->pycocotools_id0, &curves[k]);
		fundus_free(boxes);
		if (rc < 0)
			goto fail;
		for (int m = 0; m < FUNDUS_EVAL_N_METRICS; m++)
			lab->metric[m] = summarize(&curves[k], 1, m, thr, buf);
		if ((rc = single_label(res, gt, k, items + s, e - s, buf)) < 0)
			goto fail;
		s = e;
	}
	for (int m = 0; m < FUNDUS_EVAL_N_METRICS; m++)
		res->metric[m] = summarize(curves, n_labels, m, thr, buf);
	qsort(res->rows, res->n_rows, sizeof *res->rows, by_row);
	*out = res;
	res = NULL;
	rc = 0;
fail:
	fundus_eval_result_free(res);
	fundus_free(target);
	fundus_free(rank);
	fundus_free(perm);
	fundus_free(predicted);
	fundus_free(names);
	fundus_free(items);
	fundus_free(curves);
	fundus_free(imgs);
	fundus_free(buf);
	return rc;
}

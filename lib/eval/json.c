/* The evaluation result and its per-image rows as JSON. */
#include <math.h>

#include "internal.h"
#include "record/json.h"

/* Adds a number, or null when it is NAN or infinite (JSON has neither); 0 or -1. */
static int add_num(cJSON *o, const char *key, double v)
{
	if (!isfinite(v))
		return cJSON_AddNullToObject(o, key) ? 0 : -1;
	return cJSON_AddNumberToObject(o, key, v) ? 0 : -1;
}

static int add_str(cJSON *o, const char *key, const char *s)
{
	if (s == NULL)
		return cJSON_AddNullToObject(o, key) ? 0 : -1;
	return cJSON_AddStringToObject(o, key, s) ? 0 : -1;
}

/* The twelve numbers as {"AP": ..., ...}; -1 stays -1, as pycocotools prints it. */
static cJSON *coco_json(const double *metric)
{
	cJSON *o = cJSON_CreateObject();

	for (int m = 0; o && m < FUNDUS_EVAL_N_METRICS; m++)
		if (add_num(o, fundus_eval_metric_name(m), metric[m]) < 0) {
			cJSON_Delete(o);
			return NULL;
		}
	return o;
}

static cJSON *single_json(const struct fundus_eval_single *s)
{
	cJSON *o = cJSON_CreateObject(), *c;

	if (o == NULL || add_num(o, "images", (double)s->images) < 0 ||
	    add_num(o, "hits", (double)s->hits) < 0 ||
	    add_num(o, "missing", (double)s->missing) < 0 ||
	    add_num(o, "several", (double)s->several) < 0 ||
	    add_num(o, "detection_rate", s->rate) < 0 || add_num(o, "mean_iou", s->mean_iou) < 0 ||
	    (c = cJSON_AddObjectToObject(o, "centre_error")) == NULL ||
	    add_num(c, "median", s->centre_median) < 0 || add_num(c, "p95", s->centre_p95) < 0) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* Adds item to o under key, taking it; 0, or -1 (item freed) when it is NULL or cannot be added. */
static int add_item(cJSON *o, const char *key, cJSON *item)
{
	if (item == NULL)
		return -1;
	if (!cJSON_AddItemToObject(o, key, item)) {
		cJSON_Delete(item);
		return -1;
	}
	return 0;
}

int fundus_eval_result_json(const struct fundus_eval_result *res, cJSON **out)
{
	cJSON *o = cJSON_CreateObject(), *c, *labels;

	*out = NULL;
	if (o == NULL || (c = cJSON_AddObjectToObject(o, "images")) == NULL ||
	    add_num(c, "ground_truth", (double)res->gt_images) < 0 ||
	    add_num(c, "predicted", (double)res->images_predicted) < 0 ||
	    add_num(c, "without_prediction", (double)(res->gt_images - res->images_predicted)) <
		0 ||
	    add_num(c, "duplicates", (double)res->duplicate_images) < 0 ||
	    (c = cJSON_AddObjectToObject(o, "predictions")) == NULL ||
	    add_num(c, "records", (double)res->pred_records) < 0 ||
	    add_num(c, "unmatched", (double)res->unmatched_records) < 0 ||
	    add_num(c, "ambiguous", (double)res->ambiguous_records) < 0 ||
	    add_num(c, "unscored_boxes", (double)res->unscored_objects) < 0 ||
	    add_num(o, "gt_boxes_with_id_0", (double)res->gt_zero_ids) < 0 ||
	    !cJSON_AddBoolToObject(o, "pycocotools_id0", res->pycocotools_id0) ||
	    add_num(o, "iou_threshold", res->iou) < 0 ||
	    add_item(o, "coco", coco_json(res->metric)) < 0 ||
	    (labels = cJSON_AddArrayToObject(o, "labels")) == NULL)
		goto nomem;
	for (size_t k = 0; k < res->n_labels; k++) {
		const struct fundus_eval_label *l = &res->labels[k];
		cJSON *e = cJSON_CreateObject();

		if (e == NULL || !cJSON_AddItemToArray(labels, e)) {
			cJSON_Delete(e);
			goto nomem;
		}
		if (add_str(e, "label", l->name) < 0 ||
		    add_num(e, "gt_boxes", (double)l->gt_objects) < 0 ||
		    add_num(e, "crowd", (double)l->gt_crowd) < 0 ||
		    add_num(e, "gt_images", (double)l->gt_images) < 0 ||
		    add_num(e, "pred_boxes", (double)l->pred_objects) < 0 ||
		    add_item(e, "coco", coco_json(l->metric)) < 0 ||
		    add_item(e, "single", single_json(&l->single)) < 0)
			goto nomem;
	}
	if (res->n_labels == 1 && add_item(o, "single", single_json(&res->labels[0].single)) < 0)
		goto nomem;
	*out = o;
	return 0;
nomem:
	cJSON_Delete(o);
	return fundus_error_set(FUNDUS_ENOMEM, "out of memory");
}

int fundus_eval_row_json(const struct fundus_eval_row *row, cJSON **out)
{
	cJSON *o = cJSON_CreateObject();
	int one = row->gt == 1;

	*out = NULL;
	if (o == NULL || add_str(o, "image", row->image) < 0 || add_str(o, "id", row->id) < 0 ||
	    add_str(o, "label", row->label) < 0 || add_num(o, "gt", (double)row->gt) < 0 ||
	    add_num(o, "pred", (double)row->pred) < 0 || add_num(o, "iou", row->iou) < 0 ||
	    add_num(o, "centre_error", row->centre_error) < 0 ||
	    add_num(o, "score", row->score) < 0 ||
	    (one ? cJSON_AddBoolToObject(o, "hit", row->hit) : cJSON_AddNullToObject(o, "hit")) ==
		NULL) {
		cJSON_Delete(o);
		return fundus_error_set(FUNDUS_ENOMEM, "out of memory");
	}
	*out = o;
	return 0;
}

/* Prints a JSON value exactly as one line with "\n", taking (and freeing) it. */
static int format_line(cJSON *o, char **line, size_t *len)
{
	char *text, *s;
	size_t n;
	int rc = fundus__json_print(o, &text, &n);

	cJSON_Delete(o);
	if (rc < 0)
		return rc;
	s = fundus_realloc(text, n + 2);
	if (s == NULL) {
		fundus_free(text);
		return FUNDUS_ENOMEM;
	}
	s[n] = '\n';
	s[n + 1] = '\0';
	*line = s;
	if (len)
		*len = n + 1;
	return 0;
}

int fundus_eval_result_format(const struct fundus_eval_result *res, char **line, size_t *len)
{
	cJSON *o;
	int rc = fundus_eval_result_json(res, &o);

	*line = NULL;
	return rc < 0 ? rc : format_line(o, line, len);
}

int fundus_eval_row_format(const struct fundus_eval_row *row, char **line, size_t *len)
{
	cJSON *o;
	int rc = fundus_eval_row_json(row, &o);

	*line = NULL;
	return rc < 0 ? rc : format_line(o, line, len);
}

/*
 * fundus/eval.h: scoring predicted boxes against ground truth.
 *
 * Two kinds of figures come out of one call:
 *
 * - The twelve COCO summary numbers (AP@[.50:.95], AP50, AP75, APs, APm,
 *   APl, AR1, AR10, AR100, ARs, ARm, ARl), computed as pycocotools'
 *   COCOeval computes them for iouType "bbox", quirks included: IoU
 *   thresholds and recall thresholds are numpy's linspace values,
 *   detections are ranked by a stable sort on the score (ties keep their
 *   input order, per image and then across images), at most 100 per image
 *   and label, ground truth in an area range [lo, hi] is ignored when its
 *   area < lo or > hi (so a box of exactly 32 x 32 is both small and
 *   medium), crowd regions (an object whose "iscrowd" is non-zero) are
 *   matched by intersection over the detection's area, may absorb many
 *   detections and are never missed, a precision curve is made monotonic
 *   from the right and read at 101 recall points, and a mean over
 *   categories skips those without ground truth (-1 when none is left).
 *   Means are summed in numpy's pairwise order, so the numbers agree with
 *   pycocotools to the last bit or close to it.
 *
 * - For one-object-per-image tasks such as the optic disc, per label: the
 *   detection rate (the top-scoring predicted box has IoU >= a threshold
 *   with the single ground-truth box), the mean IoU of the top box, and the
 *   centre error (distance between the box centres over the ground-truth
 *   box width), its median and 95th percentile.
 *
 * Ground truth and predictions are records (fundus/record.h); a prediction
 * record is paired with a ground-truth record by "id" when both have one,
 * else by "image" path (see struct fundus_eval_options). Several
 * prediction records for one image add up. A ground-truth image that no
 * prediction names has all its boxes missed.
 *
 *     struct fundus_eval_options o;
 *     struct fundus_eval_result *res;
 *     fundus_eval_options_default(&o);
 *     if (fundus_eval_run(gt, n_gt, pred, n_pred, &o, &res) < 0) ...
 *     printf("AP %.3f\n", res->metric[FUNDUS_EVAL_AP]);
 *     fundus_eval_result_free(res);
 *
 * Ownership: a result owns everything it points to; the records passed in
 * are only read, and not kept. Threads: distinct calls may run at the
 * same time. Warnings (prediction records that name no ground-truth
 * image, boxes without a score, ...) go to fundus_log() and are counted in
 * the result.
 */
#ifndef FUNDUS_EVAL_H
#define FUNDUS_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "fundus/core.h"
#include "fundus/record.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The COCO summary numbers, in the order pycocotools prints them (its stats[0..11]). */
enum fundus_eval_metric {
	FUNDUS_EVAL_AP = 0,    /* AP, IoU .50:.95, all areas, 100 detections */
	FUNDUS_EVAL_AP50,      /* AP at IoU .50 */
	FUNDUS_EVAL_AP75,      /* AP at IoU .75 */
	FUNDUS_EVAL_AP_SMALL,  /* AP, area <= 32^2 */
	FUNDUS_EVAL_AP_MEDIUM, /* AP, 32^2 <= area <= 96^2 */
	FUNDUS_EVAL_AP_LARGE,  /* AP, area >= 96^2 */
	FUNDUS_EVAL_AR1,       /* AR, 1 detection per image */
	FUNDUS_EVAL_AR10,      /* AR, 10 detections */
	FUNDUS_EVAL_AR100,     /* AR, 100 detections */
	FUNDUS_EVAL_AR_SMALL,  /* AR, small, 100 detections */
	FUNDUS_EVAL_AR_MEDIUM, /* AR, medium */
	FUNDUS_EVAL_AR_LARGE,  /* AR, large */
	FUNDUS_EVAL_N_METRICS
};

/* "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl". */
const char *fundus_eval_metric_name(enum fundus_eval_metric m);

/*
 * pycocotools' line for a metric without the value, for example
 * " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]".
 */
const char *fundus_eval_metric_title(enum fundus_eval_metric m);

/* Options of fundus_eval_run(). Start from fundus_eval_options_default(). */
struct fundus_eval_options {
	/* Score only boxes with this label; NULL (default): every label. */
	const char *label;
	/* The IoU a top box needs to count as a detection; default 0.5. */
	double iou;
	/*
	 * How a prediction record without a usable "id" finds its image.
	 * 0 (default): the same "image" path, or else the same file name
	 * (the part after the last '/') when exactly one ground-truth image
	 * has it; a file name shared by several ground-truth images pairs
	 * with none of them (counted, with a warning). 1: the same path only.
	 */
	int exact_paths;
	/*
	 * 1: reproduce a pycocotools bug: a detection matched to a
	 * ground-truth box whose COCO annotation id (an "id" field of the
	 * object, as fundus_convert_read() keeps it when ids do not start at
	 * 1) is 0 counts as a false positive, and the box as missed. COCOeval
	 * stores the matched id and tests it against 0. Files with annotation
	 * ids from 0 (Roboflow exports) score lower in pycocotools for it.
	 * 0 (default): such a match counts, with a warning.
	 */
	int pycocotools_id0;
};
void fundus_eval_options_default(struct fundus_eval_options *o);

/* One-object-per-image figures of one label. */
struct fundus_eval_single {
	int64_t images;  /* ground-truth images with exactly one box of the label (crowd
			    regions not counted); the figures below are over these */
	int64_t hits;    /* top predicted box with IoU >= the threshold */
	int64_t missing; /* no predicted box of the label at all */
	int64_t several; /* images with more than one ground-truth box: left out */
	double rate;     /* hits / images; NAN when images is 0 */
	double mean_iou; /* mean IoU of the top box, 0 for a missing one; NAN when images is 0 */
	/*
	 * Centre error in ground-truth box widths, median and 95th percentile
	 * (numpy.percentile's default, linear, method), a missing box counting
	 * as +infinity, so these are INFINITY when missing boxes reach the
	 * quantile. NAN when images is 0. Images whose ground-truth box has no
	 * width are left out of these two.
	 */
	double centre_median, centre_p95;
};

/* Figures of one label. */
struct fundus_eval_label {
	char *name;
	int64_t gt_objects;   /* ground-truth boxes, crowd regions included */
	int64_t gt_crowd;     /* of them, crowd regions */
	int64_t gt_images;    /* ground-truth images with a box of this label */
	int64_t pred_objects; /* predicted boxes on images of the ground truth */
	/* The COCO numbers of this label alone; -1 where pycocotools would give -1. */
	double metric[FUNDUS_EVAL_N_METRICS];
	struct fundus_eval_single single;
};

/* One row of the per-image table: one ground-truth image and one label. */
struct fundus_eval_row {
	size_t gt_index;   /* the ground-truth record, an index into the gt array */
	const char *image; /* its "image" and "id" (NULL when absent), borrowed from the result */
	const char *id;
	const char *label; /* borrowed from the result */
	int64_t gt;        /* ground-truth boxes of the label, crowd regions not counted */
	int64_t pred;      /* predicted boxes of the label */
	/*
	 * When gt is 1: the IoU of the top predicted box with the ground-truth
	 * box (0 when pred is 0), the centre error in box widths (INFINITY
	 * when pred is 0), the top box's score (NAN when pred is 0) and
	 * whether it is a hit. When gt is not 1: NAN, NAN, the top score or
	 * NAN, and 0.
	 */
	double iou, centre_error, score;
	int hit;
};

/* What fundus_eval_run() found. */
struct fundus_eval_result {
	/* The COCO summary: means over the labels that have ground truth, -1 when none. */
	double metric[FUNDUS_EVAL_N_METRICS];
	/*
	 * The labels of both sides (or the one asked for), in pycocotools'
	 * category order: by the integer "category_id" of their ground-truth
	 * boxes when every label with ground truth has one (COCO read by
	 * fundus_convert_read()), else by name (bytes); labels without
	 * ground truth last.
	 */
	struct fundus_eval_label *labels;
	size_t n_labels;
	/*
	 * The per-image table: every ground-truth image and label with a box
	 * on either side, in ground-truth order, then by label name.
	 */
	struct fundus_eval_row *rows;
	size_t n_rows;
	double iou;                /* the detection threshold used */
	int pycocotools_id0;       /* the option used */
	int64_t gt_images;         /* ground-truth records */
	int64_t pred_records;      /* prediction records */
	int64_t images_predicted;  /* ground-truth images that a prediction record names */
	int64_t unmatched_records; /* prediction records naming no ground-truth image: ignored */
	int64_t ambiguous_records; /* ... whose file name fits several: ignored */
	int64_t unscored_objects;  /* predicted boxes without a score: ranked as score 1 */
	int64_t duplicate_images;  /* ground-truth records naming an image already named */
	int64_t gt_zero_ids;       /* ground-truth boxes of COCO annotation id 0 (see options) */
	/* private: the strings the rows borrow */
	char **strings;
	size_t n_strings;
};

/*
 * Scores the predictions pred[0..n_pred-1] against the ground truth
 * gt[0..n_gt-1] (neither changed, both may hold the same records), into a
 * new result *out. Ground-truth boxes keep these extra fields: "iscrowd"
 * (non-zero: a crowd region) and "area" (the area for the area ranges;
 * without it, the box's width times height). Predicted boxes use their
 * score and box only. As in pycocotools, an "ignore" field is not read
 * (COCOeval overwrites it with iscrowd).
 *
 * For exact agreement with pycocotools on COCO data, images are taken in
 * the order of an integer "coco_id" field when every ground-truth record
 * has one (what fundus_convert_read() keeps from a COCO file), else in
 * ground-truth order; labels likewise (see labels below). Boxes are
 * [x, y, w, h] = [x0, y0, x1 - x0, y1 - y0], and IoU is computed from that
 * form as pycocotools' bbIou does.
 *
 * Errors: FUNDUS_EINVAL when there is no ground-truth record ("no ground
 * truth"), no ground-truth box ("the ground truth has no boxes", "no
 * ground-truth box is labelled 'x'"), a coordinate, area or score that is
 * not finite ("ground-truth record 3: objects[0]: ..." or "prediction
 * record 3: ...", records numbered from 1; only messages about the
 * predictions start with "prediction"), or a threshold outside (0, 1];
 * FUNDUS_ENOMEM.
 */
int fundus_eval_run(struct fundus_record *const *gt, size_t n_gt, struct fundus_record *const *pred,
		    size_t n_pred, const struct fundus_eval_options *o,
		    struct fundus_eval_result **out);

/* Frees a result; NULL is fine. */
void fundus_eval_result_free(struct fundus_eval_result *res);

/*
 * The result as a new JSON object (cJSON_Delete() it), without the rows:
 *   {"images": {"ground_truth", "predicted", "without_prediction", "duplicates"},
 *    "predictions": {"records", "unmatched", "ambiguous", "unscored_boxes"},
 *    "gt_boxes_with_id_0": 0, "pycocotools_id0": false,
 *    "iou_threshold": 0.5,
 *    "coco": {"AP": ..., ..., "ARl": ...},
 *    "labels": [{"label", "gt_boxes", "crowd", "gt_images", "pred_boxes",
 *                "coco": {...}, "single": {...}}],
 *    "single": {...}}
 * "single" is {"images", "hits", "missing", "several", "detection_rate",
 * "mean_iou", "centre_error": {"median", "p95"}}; the top-level one is
 * there when exactly one label is scored. COCO numbers keep pycocotools'
 * -1; NAN and infinity are written as null. Errors: FUNDUS_ENOMEM.
 */
int fundus_eval_result_json(const struct fundus_eval_result *res, cJSON **out);

/*
 * One row of the per-image table as a new JSON object: {"image", "id",
 * "label", "gt", "pred", "iou", "centre_error", "score", "hit"}, null for
 * what does not apply. Errors: FUNDUS_ENOMEM.
 */
int fundus_eval_row_json(const struct fundus_eval_row *row, cJSON **out);

/*
 * The same two as one line of compact JSON ending in "\n", in a new
 * NUL-terminated buffer (fundus_free() it); *len (len may be NULL) counts
 * the "\n". Every number is written with the fewest digits that read back
 * exactly, whatever the locale (cJSON_Print() may round the last digit).
 * Errors: FUNDUS_ENOMEM.
 */
int fundus_eval_result_format(const struct fundus_eval_result *res, char **line, size_t *len);
int fundus_eval_row_format(const struct fundus_eval_row *row, char **line, size_t *len);

#ifdef __cplusplus
}
#endif
#endif

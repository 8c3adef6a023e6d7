/* internal.h: what the files of lib/eval share (internal). */
#ifndef FUNDUS_EVAL_INTERNAL_H
#define FUNDUS_EVAL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "fundus/eval.h"

/* pycocotools' parameters: IoU thresholds, recall points, area ranges, maxDets. */
#define EV_T 10
#define EV_R 101
#define EV_A 4
#define EV_M 3

enum { EV_AREA_ALL = 0, EV_AREA_SMALL, EV_AREA_MEDIUM, EV_AREA_LARGE };

extern const int fundus__eval_max_dets[EV_M];
extern const double fundus__eval_area[EV_A][2];

/*
 * The IoU thresholds and recall points as numpy.linspace makes them
 * (i * step + start, the last one set to stop), which is not always the
 * nearest double to .55 or .57: the matching and the reading of the
 * precision curve depend on those exact values.
 */
void fundus__eval_thresholds(double iou[EV_T], double rec[EV_R]);

/* A box as pycocotools holds it. */
struct fundus__ev_box {
	double b[4];  /* x, y, w, h */
	double area;  /* ground truth: "area" or w * h; detections: w * h */
	double score; /* detections */
	int crowd;    /* ground truth */
	int id0;      /* ground truth whose COCO annotation id is 0 */
};

/*
 * pycocotools' bbIou for one pair: intersection over union, or over the
 * detection's area when the ground truth is a crowd region; 0 when the
 * boxes do not overlap.
 */
double fundus__eval_iou(const double d[4], const double g[4], int crowd);

/*
 * The sum numpy's add.reduce gives for a contiguous array of doubles:
 * pairwise summation in blocks of 8192, the blocks added in order.
 */
double fundus__eval_np_sum(const double *a, size_t n);

/* One image's boxes of one label, in input order. */
struct fundus__ev_image {
	const struct fundus__ev_box *gt;
	size_t n_gt;
	const struct fundus__ev_box *dt;
	size_t n_dt;
};

/*
 * What COCOeval.accumulate() keeps for one category: precision at the
 * 101 recall points for maxDets 100, and the final recall for each
 * maxDets; -1 where pycocotools leaves -1 (no ground truth in the range).
 */
struct fundus__ev_curves {
	double prec[EV_A][EV_T][EV_R];
	double rec[EV_M][EV_A][EV_T];
};

/*
 * Evaluates one category over its images (in pycocotools' image order;
 * images with neither ground truth nor detections may be left out) as
 * COCOeval.evaluateImg() and accumulate() do. With id0_bug, a detection
 * matched to ground truth of annotation id 0 counts as unmatched, as in
 * pycocotools (which stores the id as the match and tests it for 0).
 * Returns 0 or FUNDUS_ENOMEM.
 */
int fundus__eval_category(const struct fundus__ev_image *img, size_t n_img, int id0_bug,
			  struct fundus__ev_curves *out);

/*
 * Pairs each prediction record with a ground-truth record: target[i] is
 * the index into gt, or -1. Counts what could not be paired; warns.
 * Returns 0 or FUNDUS_ENOMEM.
 */
int fundus__eval_pair(struct fundus_record *const *gt, size_t n_gt,
		      struct fundus_record *const *pred, size_t n_pred, int exact_paths,
		      int64_t *target, struct fundus_eval_result *res);

#endif

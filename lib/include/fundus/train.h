/*
 * fundus/train.h: training a detector from records with boxes.
 *
 * The data: records (fundus/record.h) whose images are decoded once, at the
 * smallest JPEG scale that still covers the network input with room for
 * zooming in, and kept in memory (struct fundus_train_data). An epoch then
 * costs no decoding. Each step takes a batch of augmented inputs
 * (fundus/augment.h), prepared by a loader thread while the network trains
 * on the previous batch.
 *
 * The loop: AdamW with warm-up and cosine decay, a moving average of the
 * weights (the model that is validated and saved), validation after every
 * epoch (COCO mAP@[.50:.95], AP50, detection rate; fundus/eval.h), the best
 * model by mAP kept, early stopping, a time budget, an atomic checkpoint
 * after every epoch from which a run resumes exactly.
 *
 *     fundus_train_data_new(&train, recs, n, &dp, NULL);
 *     fundus_train_defaults(&tp);
 *     tp.arch = "disc-centre";
 *     fundus_train_run(&tp, train, val, &res);
 */
#ifndef FUNDUS_TRAIN_H
#define FUNDUS_TRAIN_H

#include <stdint.h>

#include "fundus/augment.h"
#include "fundus/core.h"
#include "fundus/nn.h"
#include "fundus/record.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Photographs decoded once for training. */
struct fundus_train_data;

struct fundus_train_data_params {
	int min_side;      /* decode at the smallest scale whose long side is >= this (512) */
	int max_side;      /* then shrink (averaging areas) to this long side; 0: keep (0) */
	const char **labels; /* the label names, in class order; NULL: from the records, sorted */
	int nlabels;
	int threads;       /* decoding threads (1) */
	const struct fundus_progress *progress; /* NULL: none */
	/*
	 * Called for an image that cannot be read (its record index and the
	 * message); returning non-zero stops with that error, zero skips the
	 * image. NULL: stop.
	 */
	int (*on_error)(void *ud, size_t index, const char *path, int code, const char *msg);
	void *ud;
};
void fundus_train_data_defaults(struct fundus_train_data_params *p);

/*
 * Decodes the images of n records (r[i]->image, a path) and takes their
 * boxes. Records without an image path are an error (FUNDUS_EINVAL naming
 * the index); records without objects are kept as negatives. Objects whose
 * label is not in p->labels are an error when labels are given.
 */
int fundus_train_data_new(struct fundus_train_data **out, struct fundus_record *const *r,
			  size_t n, const struct fundus_train_data_params *p);
void fundus_train_data_free(struct fundus_train_data *d);

/* Images held, and the label names (borrowed). */
size_t fundus_train_data_count(const struct fundus_train_data *d);
int fundus_train_data_labels(const struct fundus_train_data *d, const char *const **labels);

/*
 * Splits off a validation set: a seeded random choice of round(n *
 * fraction) images (at least 1 when fraction > 0), identical images (same
 * record id, or same bytes) kept on one side. Both halves are new sets
 * sharing no memory with d.
 */
int fundus_train_data_split(const struct fundus_train_data *d, double fraction, uint64_t seed,
			    struct fundus_train_data **train, struct fundus_train_data **val);

/* The first n images (n clamped), for learning curves. */
int fundus_train_data_head(const struct fundus_train_data *d, size_t n,
			   struct fundus_train_data **out);

/* What the loop reports after each epoch. */
struct fundus_train_epoch {
	int epoch;          /* from 1 */
	long step;          /* optimiser steps so far */
	double lr;          /* learning rate at the end of the epoch */
	double loss;        /* mean total loss over the epoch */
	double loss_part[3]; /* heatmap or objectness / offset or class / size */
	double map, ap50, det_rate, mean_iou; /* on the validation set; NAN without one */
	double seconds;     /* since training started (this run and the ones resumed) */
	double images_per_second; /* of this epoch */
	int best;           /* 1 when this epoch's model is the best so far */
};

struct fundus_train_params {
	const char *arch;    /* a built-in network name or a description file */
	const char *init;    /* start from this model file's weights; NULL: from scratch */
	int width, height;   /* input size; 0: the description's */
	int crop;            /* train on crops of crop x crop of the input, 4 in 3 holding a box
				(160); 0 or the input size: whole inputs */
	int batch;           /* (16) */
	int epochs;          /* at most (60) */
	long epoch_size;     /* images per epoch; 0: max(training images, 512) */
	double time_limit;   /* seconds; training stops after the epoch that passes it; 0: none */
	int patience;        /* epochs without a better validation mAP before stopping; 0: never */
	float lr;            /* peak learning rate (AdamW, 0.002) */
	float weight_decay;  /* (0.0005) */
	float ema;           /* weight average decay (0.998); 0: off */
	int warmup;          /* warm-up steps (50) */
	uint64_t seed;       /* (1) */
	int threads;         /* training threads (1) */
	struct fundus_augment aug;
	const char *checkpoint; /* file written after every epoch (atomically); NULL: none */
	int resume;          /* 1: continue from checkpoint, which must exist */
	const char *output;  /* the best model is saved here (atomically) after every improvement */
	/* Called after every epoch; a non-zero return stops training (that code is returned). */
	int (*on_epoch)(void *ud, const struct fundus_train_epoch *e);
	void *ud;
	const struct fundus_progress *progress; /* steps within an epoch; NULL: none */
	volatile const int *stop; /* set to non-zero (a signal) to stop after the step */
};
void fundus_train_defaults(struct fundus_train_params *p);

/*
 * The input the run of p trains at: that of the --init model, or of the
 * architecture at p's width and height. Fails as the run would on a
 * missing or bad model or description (FUNDUS_ENOENT, FUNDUS_EFORMAT ...).
 */
int fundus_train_input(const struct fundus_train_params *p, struct fundus_net_input *in);

/* What a finished run gives. */
struct fundus_train_result {
	struct fundus_net *best;  /* the best model (by validation mAP, or the last without
				     validation); the caller's, fundus_net_free() */
	int best_epoch;
	int epochs;               /* epochs run, with those resumed */
	double seconds;
	int stopped;              /* why it ended: 0 epochs done, 1 patience, 2 time, 3 signal */
};

/*
 * Trains a detector. val may be NULL (no validation: the last epoch's
 * model is the best). Errors: FUNDUS_EINVAL (bad parameters, a checkpoint
 * of another run), those of loading, decoding and saving. Errors of the
 * checkpoint file begin "checkpoint: ", of the output file "model: ", so
 * that a caller can name the file.
 */
int fundus_train_run(const struct fundus_train_params *p, const struct fundus_train_data *train,
		     const struct fundus_train_data *val, struct fundus_train_result *res);

/*
 * Evaluates a network on a set: COCO metrics and the one-object ones
 * (fundus/eval.h), with the detector's default parameters.
 */
struct fundus_train_score {
	double map, ap50, ap75, det_rate, mean_iou, centre_median, centre_p95;
};
int fundus_train_evaluate(const struct fundus_net *net, const struct fundus_train_data *d,
			  int threads, struct fundus_train_score *s);

#ifdef __cplusplus
}
#endif
#endif

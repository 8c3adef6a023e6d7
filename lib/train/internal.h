/* Internal to lib/train. */
#ifndef FUNDUS_TRAIN_INTERNAL_H
#define FUNDUS_TRAIN_INTERNAL_H

#include "fundus/detect.h"
#include "fundus/train.h"

/* One photograph held for training. */
struct fundus__titem {
	struct fundus_image *img;  /* RGB8, decoded at a reduced scale */
	int orig_w, orig_h;        /* the full-resolution size the boxes refer to */
	struct fundus_box *boxes;  /* in img pixels */
	int *labels;
	int n;
	struct fundus_record *rec; /* the ground truth as read (full-resolution boxes) */
	char hash[72];             /* "sha256:<hex>" of the file's bytes */
};

struct fundus_train_data {
	struct fundus__titem *items;
	size_t n;
	char **labels;
	int nlabels;
};

/* Copies item src into dst (a new image, boxes and record). */
int fundus__titem_copy(struct fundus__titem *dst, const struct fundus__titem *src);

/* A set of n empty items with d's labels. */
int fundus__tdata_alloc(struct fundus_train_data **out, const struct fundus_train_data *d,
			size_t n);

/*
 * The loss of one image's head outputs against its boxes (network input
 * pixels), for one head: adds the gradient (scaled by norm) into grad and
 * the loss parts into part[3]. out and grad are the head's C x H x W.
 */
struct fundus__head;
void fundus__loss_centre(const float *out, float *grad, int classes, int h, int w, float sx,
			 float sy, const struct fundus_box *boxes, const int *labels, int n,
			 float norm, double part[3]);
void fundus__loss_yolo(const struct fundus__head *hd, const float *out, float *grad, int h, int w,
		       float sx, float sy, const struct fundus_box *boxes, const int *labels,
		       int n, float norm, double part[3]);

#endif

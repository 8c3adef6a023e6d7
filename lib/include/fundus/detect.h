/*
 * fundus/detect.h: running a trained detector on photographs.
 *
 * A detector is a model file (fundus-model(5)) whose network ends in
 * detection heads: [yolo] (anchor boxes on a grid, after darknet) or
 * [centre] (a centre heatmap with offset and size, after CenterNet). The
 * same code prepares the input for training and for detection, so that a
 * model sees at run time exactly what it was trained on:
 *
 *   1. letterbox: the photograph is scaled to fit the network input
 *      (keeping its aspect ratio) and centred on black;
 *   2. normalise: when the description's [net] section says
 *      preprocess=lcn, each channel is contrast-normalised locally inside
 *      the field of view (the bright part of the photograph): the local
 *      mean is subtracted and the result divided by the local standard
 *      deviation, both over a Gaussian window of lcn_sigma times the
 *      field's diameter; outside the field it is 0. This takes away a
 *      camera's colours and a photograph's uneven illumination. Otherwise
 *      x = (pixel / 255 - mean[c]) / std[c].
 *
 *     struct fundus_detector *det;
 *     struct fundus_detect_ctx *dc;
 *     struct fundus_detect_params dp;
 *     const struct fundus_detection *d;
 *     int n;
 *     fundus_detector_load(&det, "od.fdm");
 *     fundus_detect_ctx_new(&dc, det, 1);
 *     fundus_detect_defaults(&dp);
 *     ro.scale = fundus_detector_scale(det, info->width, info->height);
 *     fundus_image_read(src, &ro, &img);
 *     fundus_detect_run(dc, img, info->width, info->height, &dp, &d, &n, NULL);
 *
 * A detector is read-only once made: any number of contexts on any threads
 * may share it. A context belongs to one thread at a time.
 */
#ifndef FUNDUS_DETECT_H
#define FUNDUS_DETECT_H

#include "fundus/core.h"
#include "fundus/image.h"
#include "fundus/nn.h"
#include "fundus/record.h"

#ifdef __cplusplus
extern "C" {
#endif

struct fundus_detector;
struct fundus_detect_ctx;

/*
 * Loads a model file and checks that its network has detection heads
 * (FUNDUS_EFORMAT "the network has no detection head ([yolo] or
 * [centre])" otherwise); the other errors are fundus_net_load()'s.
 */
int fundus_detector_load(struct fundus_detector **out, const char *path);

/* The same over a copy of a network in memory (training validates with it). */
int fundus_detector_new(struct fundus_detector **out, const struct fundus_net *net);

/* Frees a detector; NULL is fine. No context may still use it. */
void fundus_detector_free(struct fundus_detector *d);

/* The detector's network (borrowed, read-only). */
const struct fundus_net *fundus_detector_net(const struct fundus_detector *d);

/*
 * "sha256:<64 hex>" of the model file's bytes, or of the saved form of a
 * network made with fundus_detector_new(). Borrowed.
 */
const char *fundus_detector_id(const struct fundus_detector *d);

/* The model's name: the file name without directory and extension ("od"); "model" in memory. */
const char *fundus_detector_name(const struct fundus_detector *d);

/*
 * The decode scale (1, 2, 4 or 8, for fundus_read_options.scale) at which
 * an image of width x height still covers the network input: decoding
 * more pixels than that only costs time.
 */
int fundus_detector_scale(const struct fundus_detector *d, int width, int height);

/* How detections are chosen. */
struct fundus_detect_params {
	float threshold; /* lowest score kept (0.05) */
	float nms;       /* IoU above which a lower-scored box of the same label is dropped (0.45); 0: off */
	int top;         /* keep at most this many boxes per image, best first (100); 0: no limit */
};
void fundus_detect_defaults(struct fundus_detect_params *p);

/* One detected object, in the coordinates of the full-resolution image. */
struct fundus_detection {
	struct fundus_box box; /* pixels, x1 and y1 exclusive, like fundus_box */
	float score;           /* 0 to 1 */
	int label;             /* index into the network's labels */
};

/* Timings of one fundus_detect_run(), in seconds. */
struct fundus_detect_timing {
	double prepare; /* letterbox and normalise */
	double infer;   /* the network */
	double decode;  /* heads to boxes, suppression */
};

/*
 * Makes a context: an inference context of the network, and buffers. It
 * splits its work over threads workers (1 is best when the caller runs one
 * context per core). The detector must outlive it.
 */
int fundus_detect_ctx_new(struct fundus_detect_ctx **out, const struct fundus_detector *d,
			  int threads);
void fundus_detect_ctx_free(struct fundus_detect_ctx *c);

/*
 * Detects objects in img (any size; RGB8, or converted), a decode of an
 * image whose full-resolution displayed size is orig_w x orig_h (0, 0 when
 * img is the full image): boxes are returned in those coordinates,
 * clipped to the image, best first. *dets points into the context and
 * stays valid until its next run; *n may be 0. timing may be NULL.
 */
int fundus_detect_run(struct fundus_detect_ctx *c, const struct fundus_image *img, int orig_w,
		      int orig_h, const struct fundus_detect_params *p,
		      const struct fundus_detection **dets, int *n,
		      struct fundus_detect_timing *timing);

/*
 * Adds detections to a record as objects with the network's label names,
 * their scores and by = "model:<name>" (fundus_detector_name()). The
 * record's other fields are left as they are.
 */
int fundus_detect_to_record(const struct fundus_detector *d, const struct fundus_detection *dets,
			    int n, struct fundus_record *r);

/*
 * Input preparation, shared with training.
 *
 * Where a photograph lands in the network input: input = image * scale +
 * offset, in pixels, for x and y alike in scale.
 */
struct fundus_letterbox {
	double scale;
	double dx, dy;
};

/*
 * Scales img (RGB8) to fit width x height, keeping its aspect ratio, and
 * centres it on black in *out (a new RGB8 image, width x height). Fills lb.
 */
int fundus_detect_letterbox(const struct fundus_image *img, int width, int height,
			    struct fundus_image **out, struct fundus_letterbox *lb);

/*
 * Turns an RGB8 image of the network's input size into its input floats
 * (channels x height x width, NCHW for one image), as the network's [net]
 * section says (see above). scratch is
 * fundus_detect_normalise_scratch(width, height) floats of the caller's,
 * or NULL to allocate and free them here.
 */
int fundus_detect_normalise(const struct fundus_net *net, const struct fundus_image *img,
			    float *out, float *scratch);
size_t fundus_detect_normalise_scratch(int width, int height);

#ifdef __cplusplus
}
#endif
#endif

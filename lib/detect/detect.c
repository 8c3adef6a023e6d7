/*
 * Detectors: a network with detection heads, its input preparation, and
 * the decoding of its heads into boxes (fundus/detect.h).
 */
#include <math.h>
#include <string.h>

#include "detect/internal.h"
#include "fundus/file.h"
#include "fundus/sha256.h"

/* Reads the heads of the network into d->heads. */
static int find_heads(struct fundus_detector *d)
{
	const struct fundus_net *net = d->net;
	int n = fundus_net_output_count(net);

	d->nheads = 0;
	for (int i = 0; i < n; i++) {
		int layer = fundus_net_output_layer(net, i);
		const char *type = fundus_net_layer_type(net, layer);
		struct fundus__head *h;

		if (strcmp(type, "yolo") && strcmp(type, "centre"))
			continue;
		if (d->nheads == FUNDUS__MAX_HEADS)
			return fundus_error_set(FUNDUS_ELIMIT, "more than %d detection heads",
						FUNDUS__MAX_HEADS);
		h = &d->heads[d->nheads++];
		memset(h, 0, sizeof *h);
		h->output = i;
		h->layer = layer;
		if (fundus__head_parse(net, h) < 0)
			return fundus_error_set(FUNDUS_EFORMAT, "layer %d [%s]: %s", layer, type,
						fundus_errmsg());
	}
	if (d->nheads == 0)
		return fundus_error_set(FUNDUS_EFORMAT,
					"the network has no detection head ([yolo] or [centre])");
	for (int i = 0; i < d->nheads; i++)
		if (d->heads[i].classes != d->heads[0].classes)
			return fundus_error_set(FUNDUS_EFORMAT,
						"the heads disagree on the number of classes");
	if (fundus_net_label_count(net) && fundus_net_label_count(net) != d->heads[0].classes)
		return fundus_error_set(FUNDUS_EFORMAT, "%d labels for %d classes",
					fundus_net_label_count(net), d->heads[0].classes);
	return 0;
}

/* Finishes a detector around d->net (owned), given the bytes of its saved form. */
static int finish(struct fundus_detector *d, const void *bytes, size_t len, const char *name)
{
	uint8_t dg[FUNDUS_SHA256_BYTES];
	char hex[FUNDUS_SHA256_HEX];

	fundus_sha256(bytes, len, dg);
	fundus_sha256_hex(dg, hex);
	snprintf(d->id, sizeof d->id, "sha256:%s", hex);
	snprintf(d->name, sizeof d->name, "%s", name);
	return find_heads(d);
}

int fundus_detector_load(struct fundus_detector **out, const char *path)
{
	struct fundus_detector *d;
	uint8_t *data = NULL;
	size_t len = 0;
	char name[sizeof d->name];
	const char *base, *dot;
	int rc;

	*out = NULL;
	d = fundus_calloc(1, sizeof *d);
	if (d == NULL)
		return FUNDUS_ENOMEM;
	rc = fundus_file_read(path, FUNDUS_MODEL_MAX_BYTES, &data, &len);
	if (rc >= 0)
		rc = fundus_net_load_buffer(&d->net, data, len);
	if (rc >= 0) {
		base = strrchr(path, '/');
		base = base ? base + 1 : path;
		dot = strrchr(base, '.');
		snprintf(name, sizeof name, "%.*s",
			 (int)(dot && dot != base ? (size_t)(dot - base) : strlen(base)), base);
		rc = finish(d, data, len, name);
	}
	fundus_free(data);
	if (rc < 0) {
		fundus_detector_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

int fundus_detector_new(struct fundus_detector **out, const struct fundus_net *net)
{
	struct fundus_detector *d;
	uint8_t *data = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	d = fundus_calloc(1, sizeof *d);
	if (d == NULL)
		return FUNDUS_ENOMEM;
	rc = fundus_net_save_buffer(net, &data, &len);
	if (rc >= 0)
		rc = fundus_net_load_buffer(&d->net, data, len);
	if (rc >= 0)
		rc = finish(d, data, len, "model");
	fundus_free(data);
	if (rc < 0) {
		fundus_detector_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

void fundus_detector_free(struct fundus_detector *d)
{
	if (d == NULL)
		return;
	fundus_net_free(d->net);
	fundus_free(d);
}

const struct fundus_net *fundus_detector_net(const struct fundus_detector *d)
{
	return d->net;
}

const char *fundus_detector_id(const struct fundus_detector *d)
{
	return d->id;
}

const char *fundus_detector_name(const struct fundus_detector *d)
{
	return d->name;
}

int fundus_detector_scale(const struct fundus_detector *d, int width, int height)
{
	struct fundus_net_input in;
	double fit;

	fundus_net_get_input(d->net, &in);
	if (width <= 0 || height <= 0)
		return 1;
	/* The decode must keep at least the letterbox's long side. */
	fit = fmin((double)in.width / width, (double)in.height / height);
	return fundus_image_fit_scale(width, height,
				      (int)ceil((width > height ? width : height) * fit));
}

void fundus_detect_defaults(struct fundus_detect_params *p)
{
	p->threshold = 0.05f;
	p->nms = 0.45f;
	p->top = 100;
}

int fundus_detect_ctx_new(struct fundus_detect_ctx **out, const struct fundus_detector *d,
			  int threads)
{
	struct fundus_detect_ctx *c;
	struct fundus_nn_ctx_params cp;
	struct fundus_net_input in;
	size_t plane, cap = 0;
	int rc;

	*out = NULL;
	if (threads < 1)
		return fundus_error_set(FUNDUS_EINVAL, "threads must be at least 1");
	c = fundus_calloc(1, sizeof *c);
	if (c == NULL)
		return FUNDUS_ENOMEM;
	c->det = d;
	fundus_net_get_input(d->net, &in);
	fundus_nn_ctx_defaults(&cp);
	cp.threads = threads;
	/* The network is only read; the folding of batch norm is under a lock. */
	rc = fundus_nn_ctx_new(&c->nn, (struct fundus_net *)d->net, &cp);
	if (rc < 0)
		goto fail;
	plane = (size_t)in.width * (size_t)in.height;
	c->input = fundus_malloc(plane * (size_t)in.channels * sizeof(float));
	c->scratch = fundus_malloc(fundus_detect_normalise_scratch(in.width, in.height) * sizeof(float));
	for (int i = 0; i < d->nheads; i++) {
		int sh[4];
		size_t cnt;

		fundus_nn_output_shape(c->nn, d->heads[i].output, sh);
		cnt = (size_t)sh[1] * (size_t)sh[2] * (size_t)sh[3];
		if (cnt > cap)
			cap = cnt;
		cnt = (size_t)sh[2] * (size_t)sh[3] * (size_t)(d->heads[i].nmask ? d->heads[i].nmask : 1) *
		      (size_t)d->heads[i].classes;
		c->cand_cap += cnt < FUNDUS__MAX_CAND ? cnt : FUNDUS__MAX_CAND;
	}
	c->out = fundus_malloc(cap * sizeof(float));
	c->cand = fundus_malloc((c->cand_cap ? c->cand_cap : 1) * sizeof *c->cand);
	if (c->input == NULL || c->scratch == NULL || c->out == NULL || c->cand == NULL) {
		rc = FUNDUS_ENOMEM;
		goto fail;
	}
	*out = c;
	return 0;
fail:
	fundus_detect_ctx_free(c);
	return rc;
}

void fundus_detect_ctx_free(struct fundus_detect_ctx *c)
{
	if (c == NULL)
		return;
	fundus_nn_ctx_free(c->nn);
	fundus_free(c->input);
	fundus_free(c->scratch);
	fundus_free(c->out);
	fundus_free(c->cand);
	fundus_free(c);
}

/* Letterboxes, normalises and runs the network on one image. */
static int forward(struct fundus_detect_ctx *c, const struct fundus_image *img,
		   struct fundus_letterbox *lb, double *t_prep)
{
	const struct fundus_net *net = c->det->net;
	struct fundus_net_input in;
	struct fundus_image *rgb = NULL, *box = NULL;
	double t0 = fundus_now();
	int rc;

	fundus_net_get_input(net, &in);
	if (img->format != FUNDUS_PIX_RGB8) {
		rc = fundus_image_convert(img, FUNDUS_PIX_RGB8, &rgb);
		if (rc < 0)
			return rc;
		img = rgb;
	}
	rc = fundus_detect_letterbox(img, in.width, in.height, &box, lb);
	fundus_image_free(rgb);
	if (rc < 0)
		return rc;
	rc = fundus_detect_normalise(net, box, c->input, c->scratch);
	fundus_image_free(box);
	if (rc < 0)
		return rc;
	if (t_prep)
		*t_prep = fundus_now() - t0;
	return fundus_nn_forward(c->nn, c->input);
}

int fundus_detect_run(struct fundus_detect_ctx *c, const struct fundus_image *img, int orig_w,
		      int orig_h, const struct fundus_detect_params *p,
		      const struct fundus_detection **dets, int *n,
		      struct fundus_detect_timing *timing)
{
	struct fundus_letterbox lb;
	double t0, t1, t2, prep = 0, kx, ky;
	int rc, m;

	*dets = NULL;
	*n = 0;
	if (img == NULL || p == NULL || img->width <= 0 || img->height <= 0 || orig_w < 0 ||
	    orig_h < 0)
		return fundus_error_set(FUNDUS_EINVAL, "bad arguments to fundus_detect_run");
	if (orig_w == 0 || orig_h == 0) {
		orig_w = img->width;
		orig_h = img->height;
	}
	t0 = fundus_now();
	rc = forward(c, img, &lb, &prep);
	if (rc < 0)
		return rc;
	t1 = fundus_now();
	m = fundus__detect_decode(c, p);
	if (m < 0)
		return m;
	/* From network input pixels to the full-resolution image. */
	kx = (double)orig_w / img->width;
	ky = (double)orig_h / img->height;
	for (int i = 0; i < m; i++) {
		struct fundus_box *b = &c->cand[i].box;

		b->x0 = fmin(fmax((b->x0 - lb.dx) / lb.scale * kx, 0), orig_w);
		b->x1 = fmin(fmax((b->x1 - lb.dx) / lb.scale * kx, 0), orig_w);
		b->y0 = fmin(fmax((b->y0 - lb.dy) / lb.scale * ky, 0), orig_h);
		b->y1 = fmin(fmax((b->y1 - lb.dy) / lb.scale * ky, 0), orig_h);
	}
	t2 = fundus_now();
	if (timing) {
		timing->prepare = prep;
		timing->infer = t1 - t0 - prep;
		timing->decode = t2 - t1;
	}
	*dets = c->cand;
	*n = m;
	return 0;
}

int fundus_detect_to_record(const struct fundus_detector *d, const struct fundus_detection *dets,
			    int n, struct fundus_record *r)
{
	char by[sizeof d->name + 8];
	int rc;

	snprintf(by, sizeof by, "model:%s", d->name);
	for (int i = 0; i < n; i++) {
		const char *label = fundus_net_label(d->net, dets[i].label);
		struct fundus_box b;
		char fallback[32];

		if (label == NULL) {
			snprintf(fallback, sizeof fallback, "class%d", dets[i].label);
			label = fallback;
		}
		/* Rounded: float noise in 17 digits helps nobody reading a record. */
		b.x0 = round(dets[i].box.x0 * 100) / 100;
		b.y0 = round(dets[i].box.y0 * 100) / 100;
		b.x1 = round(dets[i].box.x1 * 100) / 100;
		b.y1 = round(dets[i].box.y1 * 100) / 100;
		rc = fundus_record_add_object(r, label, &b, round(dets[i].score * 1e4) / 1e4, by);
		if (rc < 0)
			return rc;
	}
	return 0;
}

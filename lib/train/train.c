/*
 * The training loop: batches prepared by a loader thread, steps of the
 * optimiser, validation after every epoch, checkpoints that resume
 * exactly.
 *
 * Exactness: every random choice is drawn from a stream split off the seed
 * by what it is for (the order of epoch e: stream 2^32 + e; the
 * augmentation of the i-th sample of the run: stream i), never from a
 * stream shared in time, and the network runs in deterministic mode. So a
 * run stopped after any epoch and resumed from its checkpoint takes the
 * same steps as one that was never stopped.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "detect/internal.h"
#include "fundus/eval.h"
#include "fundus/file.h"
#include "fundus/rng.h"
#include "train/internal.h"

void fundus_train_defaults(struct fundus_train_params *p)
{
	memset(p, 0, sizeof *p);
	p->arch = "disc-centre";
	p->batch = 16;
	p->epochs = 60;
	p->lr = 0.002f;
	p->weight_decay = 0.0005f;
	p->ema = 0.998f;
	p->warmup = 50;
	p->crop = 160;
	p->seed = 1;
	p->threads = 1;
	fundus_augment_defaults(&p->aug);
}

/* One prepared batch. */
struct batch {
	float *input;             /* batch x 3 x H x W */
	struct fundus_box *boxes; /* per image, up to maxobj, input pixels */
	int *labels;
	int *nobj;
	int rc;
	char msg[256]; /* the loader thread's message when rc < 0 */
};

/* The loader thread and what it shares with the loop. */
struct loader {
	const struct fundus_train_params *p;
	const struct fundus_train_data *d;
	const struct fundus_net *net;
	int w, h, batch, maxobj;
	int cw, ch;                 /* the crop trained on (w, h without cropping) */
	float *full;                /* one normalised input, 3 x h x w, before cropping */
	struct fundus_box *fb;      /* its boxes */
	int *fl;
	long epoch_size;
	struct fundus_rng base;
	struct batch buf[2];
	long next_step, ready_step; /* the step the loader prepares next; the one ready in buf */
	long last_step;             /* exclusive */
	int quit;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int started, inited;
	struct fundus_image *img;   /* augmented, input size */
	float *scratch;
	size_t *order;              /* sample index within an epoch -> item */
	size_t *perm;               /* one shuffled pass over the items */
	long order_epoch;
};

/* The item of the k-th sample of the run: epochs of shuffled passes over the data. */
static size_t sample_item(struct loader *L, long k)
{
	long e = k / L->epoch_size, i = k % L->epoch_size;
	size_t n = L->d->n;

	if (L->order_epoch != e) {
		/* One permutation per pass; an epoch may hold several passes. */
		struct fundus_rng r = fundus_rng_split(&L->base, ((uint64_t)1 << 32) + (uint64_t)e);

		for (long j = 0; j < L->epoch_size; j += (long)n) {
			long m = L->epoch_size - j < (long)n ? L->epoch_size - j : (long)n;

			for (size_t a = 0; a < n; a++)
				L->perm[a] = a;
			fundus_rng_shuffle(&r, L->perm, n);
			memcpy(L->order + j, L->perm, (size_t)m * sizeof *L->perm);
		}
		L->order_epoch = e;
	}
	return L->order[i];
}

/*
 * Cuts a cw x ch window out of the normalised input L->full into dst and
 * moves its boxes; the window holds a box (when there is one) three times
 * in four, so that most crops teach the object and some the background.
 */
static void crop_input(struct loader *L, struct fundus_rng *r, int n, float *dst,
		       struct fundus_box *boxes, int *labels, int *out_n)
{
	size_t plane = (size_t)L->w * (size_t)L->h, cplane = (size_t)L->cw * (size_t)L->ch;
	int ox = 0, oy = 0, kept = 0, mx = L->w - L->cw, my = L->h - L->ch;

	if (n > 0 && fundus_rng_uniform(r) < 0.75) {
		const struct fundus_box *b = &L->fb[fundus_rng_below(r, (uint64_t)n)];
		int lo = (int)ceil(b->x1) - L->cw, hi = (int)floor(b->x0);

		lo = lo < 0 ? 0 : lo;
		hi = hi > mx ? mx : hi;
		ox = lo <= hi ? lo + (int)fundus_rng_below(r, (uint64_t)(hi - lo + 1))
			      : (int)fundus_rng_below(r, (uint64_t)mx + 1);
		lo = (int)ceil(b->y1) - L->ch;
		hi = (int)floor(b->y0);
		lo = lo < 0 ? 0 : lo;
		hi = hi > my ? my : hi;
		oy = lo <= hi ? lo + (int)fundus_rng_below(r, (uint64_t)(hi - lo + 1))
			      : (int)fundus_rng_below(r, (uint64_t)my + 1);
	} else {
		ox = (int)fundus_rng_below(r, (uint64_t)mx + 1);
		oy = (int)fundus_rng_below(r, (uint64_t)my + 1);
	}
	for (int c = 0; c < 3; c++)
		for (int y = 0; y < L->ch; y++)
			memcpy(dst + (size_t)c * cplane + (size_t)y * L->cw,
			       L->full + (size_t)c * plane + (size_t)(y + oy) * L->w + ox,
			       (size_t)L->cw * sizeof *dst);
	for (int i = 0; i < n; i++) {
		struct fundus_box b = L->fb[i];
		double area = (b.x1 - b.x0) * (b.y1 - b.y0), vis;

		b.x0 = fmax(b.x0 - ox, 0);
		b.y0 = fmax(b.y0 - oy, 0);
		b.x1 = fmin(b.x1 - ox, L->cw);
		b.y1 = fmin(b.y1 - oy, L->ch);
		vis = b.x1 > b.x0 && b.y1 > b.y0 ? (b.x1 - b.x0) * (b.y1 - b.y0) : 0;
		if (area <= 0 || vis < L->p->aug.min_visible * area)
			continue;
		boxes[kept] = b;
		labels[kept++] = L->fl[i];
	}
	*out_n = kept;
}

/* Prepares the batch of one step into b. */
static int prepare_batch(struct loader *L, long step, struct batch *b)
{
	size_t plane = (size_t)L->cw * (size_t)L->ch;
	int crop = L->cw != L->w || L->ch != L->h;

	for (int i = 0; i < L->batch; i++) {
		long k = step * L->batch + i;
		const struct fundus__titem *it = &L->d->items[sample_item(L, k)];
		struct fundus_rng r = fundus_rng_split(&L->base, (uint64_t)k);
		int n = it->n < L->maxobj ? it->n : L->maxobj, rc, m = 0;
		struct fundus_box *bx = b->boxes + (size_t)i * L->maxobj;
		int *lb = b->labels + (size_t)i * L->maxobj;

		rc = fundus_augment_apply(&L->p->aug, &r, it->img, it->boxes, it->labels, n, L->img,
					  crop ? L->fb : bx, crop ? L->fl : lb, &m);
		if (rc >= 0)
			rc = fundus_detect_normalise(L->net, L->img,
						     crop ? L->full : b->input + (size_t)i * 3 * plane,
						     L->scratch);
		if (rc < 0)
			return rc;
		if (crop)
			crop_input(L, &r, m, b->input + (size_t)i * 3 * plane, bx, lb, &m);
		b->nobj[i] = m;
	}
	return 0;
}

/* The loader: prepares step next_step into the free buffer, one ahead of the loop. */
static void *loader_main(void *arg)
{
	struct loader *L = arg;

	pthread_mutex_lock(&L->mu);
	for (;;) {
		long s;

		while (!L->quit && (L->next_step >= L->last_step || L->next_step > L->ready_step + 2))
			pthread_cond_wait(&L->cv, &L->mu);
		if (L->quit)
			break;
		s = L->next_step;
		pthread_mutex_unlock(&L->mu);
		{
			struct batch *b = &L->buf[s & 1];

			b->rc = prepare_batch(L, s, b);
			if (b->rc < 0)
				snprintf(b->msg, sizeof b->msg, "%s", fundus_errmsg());
		}
		pthread_mutex_lock(&L->mu);
		L->next_step = s + 1;
		pthread_cond_broadcast(&L->cv);
	}
	pthread_mutex_unlock(&L->mu);
	return NULL;
}

/* Waits for step s's batch; the previous buffer is then free again. */
static struct batch *loader_get(struct loader *L, long s)
{
	struct batch *b;

	pthread_mutex_lock(&L->mu);
	L->ready_step = s - 1; /* the loop is done with s - 1 */
	pthread_cond_broadcast(&L->cv);
	while (L->next_step <= s)
		pthread_cond_wait(&L->cv, &L->mu);
	b = &L->buf[s & 1];
	pthread_mutex_unlock(&L->mu);
	return b;
}

static void loader_stop(struct loader *L)
{
	if (L->started) {
		pthread_mutex_lock(&L->mu);
		L->quit = 1;
		pthread_cond_broadcast(&L->cv);
		pthread_mutex_unlock(&L->mu);
		pthread_join(L->th, NULL);
		L->started = 0;
	}
	if (L->inited) {
		pthread_mutex_destroy(&L->mu);
		pthread_cond_destroy(&L->cv);
	}
	for (int k = 0; k < 2; k++) {
		fundus_free(L->buf[k].input);
		fundus_free(L->buf[k].boxes);
		fundus_free(L->buf[k].labels);
		fundus_free(L->buf[k].nobj);
	}
	fundus_image_free(L->img);
	fundus_free(L->scratch);
	fundus_free(L->order);
	fundus_free(L->perm);
	fundus_free(L->full);
	fundus_free(L->fb);
	fundus_free(L->fl);
}

static int loader_start(struct loader *L, long first, long last)
{
	size_t plane = (size_t)L->cw * (size_t)L->ch, full = (size_t)L->w * (size_t)L->h;
	int rc;

	L->maxobj = 1;
	for (size_t i = 0; i < L->d->n; i++)
		if (L->d->items[i].n > L->maxobj)
			L->maxobj = L->d->items[i].n;
	pthread_mutex_init(&L->mu, NULL);
	pthread_cond_init(&L->cv, NULL);
	L->inited = 1;
	for (int k = 0; k < 2; k++) {
		struct batch *b = &L->buf[k];

		b->input = fundus_malloc((size_t)L->batch * 3 * plane * sizeof(float));
		b->boxes = fundus_malloc((size_t)L->batch * (size_t)L->maxobj * sizeof *b->boxes);
		b->labels = fundus_malloc((size_t)L->batch * (size_t)L->maxobj * sizeof *b->labels);
		b->nobj = fundus_calloc((size_t)L->batch, sizeof *b->nobj);
		if (!b->input || !b->boxes || !b->labels || !b->nobj)
			return FUNDUS_ENOMEM;
	}
	L->scratch = fundus_malloc(fundus_detect_normalise_scratch(L->w, L->h) * sizeof(float));
	L->order = fundus_malloc((size_t)L->epoch_size * sizeof *L->order);
	L->perm = fundus_malloc(L->d->n * sizeof *L->perm);
	L->full = fundus_malloc(full * 3 * sizeof(float));
	L->fb = fundus_malloc((size_t)L->maxobj * sizeof *L->fb);
	L->fl = fundus_malloc((size_t)L->maxobj * sizeof *L->fl);
	if (L->scratch == NULL || L->order == NULL || L->perm == NULL || L->full == NULL ||
	    L->fb == NULL || L->fl == NULL)
		return FUNDUS_ENOMEM;
	L->order_epoch = -1;
	rc = fundus_image_new(&L->img, L->w, L->h, FUNDUS_PIX_RGB8);
	if (rc < 0)
		return rc;
	L->next_step = first;
	L->ready_step = first - 1;
	L->last_step = last;
	if (pthread_create(&L->th, NULL, loader_main, L) != 0)
		return fundus_error_set(FUNDUS_ENOMEM, "cannot start the loader thread");
	L->started = 1;
	return 0;
}

int fundus_train_evaluate(const struct fundus_net *net, const struct fundus_train_data *d,
			  int threads, struct fundus_train_score *s)
{
	struct fundus_detector *det = NULL;
	struct fundus_detect_ctx *c = NULL;
	struct fundus_record **gt = NULL, **pred = NULL;
	struct fundus_eval_options eo;
	struct fundus_eval_result *res = NULL;
	struct fundus_detect_params dp;
	int rc;

	memset(s, 0, sizeof *s);
	rc = fundus_detector_new(&det, net);
	if (rc >= 0)
		rc = fundus_detect_ctx_new(&c, det, threads > 0 ? threads : 1);
	if (rc < 0)
		goto out;
	gt = fundus_calloc(d->n + 1, sizeof *gt);
	pred = fundus_calloc(d->n + 1, sizeof *pred);
	if (gt == NULL || pred == NULL) {
		rc = FUNDUS_ENOMEM;
		goto out;
	}
	fundus_detect_defaults(&dp);
	dp.threshold = 0.001f;
	for (size_t i = 0; i < d->n; i++) {
		const struct fundus__titem *it = &d->items[i];
		const struct fundus_detection *dd;
		int n;

		gt[i] = it->rec;
		rc = fundus_record_new(&pred[i]);
		if (rc >= 0)
			rc = fundus_record_set_string(&pred[i]->image, it->rec->image);
		if (rc >= 0)
			rc = fundus_detect_run(c, it->img, it->orig_w, it->orig_h, &dp, &dd, &n, NULL);
		if (rc >= 0)
			rc = fundus_detect_to_record(det, dd, n, pred[i]);
		if (rc < 0)
			goto out;
	}
	fundus_eval_options_default(&eo);
	rc = fundus_eval_run(gt, d->n, pred, d->n, &eo, &res);
	if (rc < 0)
		goto out;
	s->map = res->metric[FUNDUS_EVAL_AP];
	s->ap50 = res->metric[FUNDUS_EVAL_AP50];
	s->ap75 = res->metric[FUNDUS_EVAL_AP75];
	s->det_rate = NAN;
	s->mean_iou = NAN;
	s->centre_median = NAN;
	s->centre_p95 = NAN;
	if (res->n_labels >= 1) {
		s->det_rate = res->labels[0].single.rate;
		s->mean_iou = res->labels[0].single.mean_iou;
		s->centre_median = res->labels[0].single.centre_median;
		s->centre_p95 = res->labels[0].single.centre_p95;
	}
out:
	fundus_eval_result_free(res);
	if (pred)
		for (size_t i = 0; i < d->n; i++)
			fundus_record_free(pred[i]);
	fundus_free(pred);
	fundus_free(gt);
	fundus_detect_ctx_free(c);
	fundus_detector_free(det);
	return rc;
}

/*
 * The network a run starts from, before labels: the --init model, or a
 * new one from the built-in or file description at the asked input size.
 */
static int new_net(const struct fundus_train_params *p, struct fundus_net **out)
{
	struct fundus_net *net = NULL;
	struct fundus_net_params np;
	struct fundus_net_input in;
	const char *desc = fundus_net_builtin(p->arch);
	uint8_t *text = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (p->init)
		return fundus_net_load(out, p->init);
	if (desc == NULL) {
		rc = fundus_file_read(p->arch, (size_t)1 << 24, &text, &len);
		if (rc < 0)
			return rc;
		desc = (const char *)text;
	} else {
		len = strlen(desc);
	}
	fundus_net_defaults(&np);
	np.seed = p->seed;
	rc = fundus_net_new(&net, desc, len, &np);
	fundus_free(text);
	if (rc >= 0 && (p->width > 0 || p->height > 0)) {
		fundus_net_get_input(net, &in);
		in.width = p->width > 0 ? p->width : in.width;
		in.height = p->height > 0 ? p->height : in.height;
		rc = fundus_net_set_input(net, &in);
	}
	if (rc < 0) {
		fundus_net_free(net);
		return rc;
	}
	*out = net;
	return 0;
}

int fundus_train_input(const struct fundus_train_params *p, struct fundus_net_input *in)
{
	struct fundus_net *net;
	int rc = new_net(p, &net);

	if (rc < 0)
		return rc;
	fundus_net_get_input(net, in);
	fundus_net_free(net);
	return 0;
}

/* The network to train, with the data's labels (which an --init model must have). */
static int make_net(const struct fundus_train_params *p, const struct fundus_train_data *d,
		    struct fundus_net **out)
{
	struct fundus_net *net;
	int rc = new_net(p, &net);

	*out = NULL;
	if (rc < 0)
		return rc;
	if (p->init) {
		if (fundus_net_label_count(net) != d->nlabels) {
			rc = fundus_error_set(FUNDUS_EINVAL, "the model has %d labels, the data %d",
					      fundus_net_label_count(net), d->nlabels);
			fundus_net_free(net);
			return rc;
		}
		for (int i = 0; i < d->nlabels; i++)
			if (strcmp(fundus_net_label(net, i), d->labels[i]) != 0) {
				rc = fundus_error_set(FUNDUS_EINVAL,
						      "the model's label %d is '%s', the data's '%s'",
						      i, fundus_net_label(net, i), d->labels[i]);
				fundus_net_free(net);
				return rc;
			}
		*out = net;
		return 0;
	}
	rc = fundus_net_set_labels(net, (const char *const *)d->labels, d->nlabels);
	if (rc < 0) {
		fundus_net_free(net);
		return rc;
	}
	/* Heads start out saying "nothing here" (a prior of 0.01), as in focal-loss detectors. */
	for (int o = 0; o < fundus_net_output_count(net); o++) {
		int layer = fundus_net_output_layer(net, o);
		int centre = strcmp(fundus_net_layer_type(net, layer), "centre") == 0;

		for (int t = 0; t < fundus_net_tensor_count(net); t++) {
			struct fundus_net_tensor tn;

			fundus_net_tensor(net, t, &tn);
			if (tn.layer != layer - 1 || strstr(tn.name, ".bias") == NULL)
				continue;
			if (centre) {
				for (int k = 0; k < d->nlabels && (size_t)k < tn.count; k++)
					tn.data[k] = -4.6f;
			} else {
				int per = d->nlabels + 5;

				for (size_t k = 4; k < tn.count; k += (size_t)per)
					tn.data[k] = -4.6f;
			}
		}
	}
	fundus_net_touch(net);
	*out = net;
	return 0;
}

/* Adds the loss gradients of every head for one batch; returns the parts. */
static int batch_loss(struct fundus_nn_ctx *ctx, const struct fundus_detector *det,
		      const struct batch *b, int batch, int maxobj, int w, int h, float **obuf,
		      float **gbuf, double part[3])
{
	for (int i = 0; i < det->nheads; i++) {
		const struct fundus__head *hd = &det->heads[i];
		int sh[4];
		size_t per;
		float sx, sy;

		fundus_nn_output_shape(ctx, hd->output, sh);
		per = (size_t)sh[1] * (size_t)sh[2] * (size_t)sh[3];
		sx = (float)w / (float)sh[3];
		sy = (float)h / (float)sh[2];
		fundus_nn_get_output(ctx, hd->output, obuf[i]);
		for (int k = 0; k < batch; k++) {
			const struct fundus_box *bx = b->boxes + (size_t)k * maxobj;
			const int *lb = b->labels + (size_t)k * maxobj;

			if (hd->centre)
				fundus__loss_centre(obuf[i] + k * per, gbuf[i] + k * per, hd->classes,
						    sh[2], sh[3], sx, sy, bx, lb, b->nobj[k],
						    1.0f / (float)batch, part);
			else
				fundus__loss_yolo(hd, obuf[i] + k * per, gbuf[i] + k * per, sh[2],
						  sh[3], sx, sy, bx, lb, b->nobj[k],
						  1.0f / (float)batch, part);
		}
		fundus_nn_set_output_grad(ctx, hd->output, gbuf[i]);
	}
	return 0;
}

/*
 * Checkpoints: "FDTRAIN1", then u64 lengths and bytes of three parts: a
 * text line of the loop's state, the current network (a model file), the
 * optimiser state; then the best model (a model file, or length 0).
 */
#define CKPT_MAGIC "FDTRAIN1"

struct loop_state {
	int epoch;       /* epochs done */
	int best_epoch;
	double best_map;
	double seconds;
	uint64_t seed;
	int batch;
	long epoch_size;
	size_t ntrain;
	int since_best;
	int planned; /* epochs planned from the speed of the first under a time budget; 0: none */
};

static int put_part(uint8_t **buf, size_t *len, size_t *cap, const void *data, size_t n)
{
	uint64_t ln = n;

	while (*len + 8 + n > *cap) {
		size_t nc = *cap ? *cap * 2 : 4096;
		uint8_t *nb = fundus_realloc(*buf, nc);

		if (nb == NULL)
			return FUNDUS_ENOMEM;
		*buf = nb;
		*cap = nc;
	}
	memcpy(*buf + *len, &ln, 8);
	if (n)
		memcpy(*buf + *len + 8, data, n);
	*len += 8 + n;
	return 0;
}

static int get_part(const uint8_t *buf, size_t len, size_t *at, const uint8_t **data, size_t *n)
{
	uint64_t ln;

	if (len - *at < 8)
		return fundus_error_set(FUNDUS_EFORMAT, "checkpoint truncated");
	memcpy(&ln, buf + *at, 8);
	*at += 8;
	if (ln > len - *at)
		return fundus_error_set(FUNDUS_EFORMAT, "checkpoint truncated");
	*data = buf + *at;
	*n = (size_t)ln;
	*at += (size_t)ln;
	return 0;
}

static int save_checkpoint(const char *path, const struct loop_state *st,
			   const struct fundus_net *net, const struct fundus_nn_optim *opt,
			   const struct fundus_net *best)
{
	uint8_t *buf = NULL, *m = NULL, *o = NULL, *bm = NULL;
	size_t len = 0, cap = 0, ml = 0, ol = 0, bl = 0;
	char line[512];
	int rc, n;

	n = snprintf(line, sizeof line,
		     "epoch=%d best_epoch=%d best_map=%.17g seconds=%.17g seed=%llu batch=%d "
		     "epoch_size=%ld ntrain=%zu since_best=%d planned=%d\n",
		     st->epoch, st->best_epoch, st->best_map, st->seconds,
		     (unsigned long long)st->seed, st->batch, st->epoch_size, st->ntrain,
		     st->since_best, st->planned);
	rc = fundus_net_save_buffer(net, &m, &ml);
	if (rc >= 0)
		rc = fundus_nn_optim_save_state(opt, &o, &ol);
	if (rc >= 0 && best)
		rc = fundus_net_save_buffer(best, &bm, &bl);
	if (rc >= 0) {
		buf = fundus_malloc(8);
		if (buf == NULL)
			rc = FUNDUS_ENOMEM;
		else {
			memcpy(buf, CKPT_MAGIC, 8);
			len = cap = 8;
		}
	}
	if (rc >= 0)
		rc = put_part(&buf, &len, &cap, line, (size_t)n);
	if (rc >= 0)
		rc = put_part(&buf, &len, &cap, m, ml);
	if (rc >= 0)
		rc = put_part(&buf, &len, &cap, o, ol);
	if (rc >= 0)
		rc = put_part(&buf, &len, &cap, bm, bl);
	if (rc >= 0)
		rc = fundus_file_write_atomic(path, buf, len);
	fundus_free(buf);
	fundus_free(m);
	fundus_free(o);
	fundus_free(bm);
	return rc;
}

/* Reads a checkpoint: the state, the network, the optimiser state bytes, the best model. */
static int load_checkpoint(const char *path, struct loop_state *st, struct fundus_net **net,
			   uint8_t **file, const uint8_t **opt, size_t *optlen,
			   struct fundus_net **best)
{
	const uint8_t *line = NULL, *m = NULL, *bm = NULL;
	size_t len = 0, at = 8, ll = 0, ml = 0, bl = 0;
	unsigned long long seed;
	char text[512];
	int rc;

	*net = *best = NULL;
	rc = fundus_file_read(path, (size_t)1 << 32, file, &len);
	if (rc < 0)
		return rc;
	if (len < 8 || memcmp(*file, CKPT_MAGIC, 8) != 0)
		return fundus_error_set(FUNDUS_EFORMAT, "not a fundus-train checkpoint");
	rc = get_part(*file, len, &at, &line, &ll);
	if (rc >= 0)
		rc = get_part(*file, len, &at, &m, &ml);
	if (rc >= 0)
		rc = get_part(*file, len, &at, opt, optlen);
	if (rc >= 0)
		rc = get_part(*file, len, &at, &bm, &bl);
	if (rc < 0)
		return rc;
	snprintf(text, sizeof text, "%.*s", (int)(ll < sizeof text ? ll : sizeof text - 1),
		 (const char *)line);
	if (sscanf(text,
		   "epoch=%d best_epoch=%d best_map=%lg seconds=%lg seed=%llu batch=%d "
		   "epoch_size=%ld ntrain=%zu since_best=%d planned=%d",
		   &st->epoch, &st->best_epoch, &st->best_map, &st->seconds, &seed, &st->batch,
		   &st->epoch_size, &st->ntrain, &st->since_best, &st->planned) != 10)
		return fundus_error_set(FUNDUS_EFORMAT, "checkpoint state line unreadable");
	st->seed = seed;
	rc = fundus_net_load_buffer(net, m, ml);
	if (rc >= 0 && bl)
		rc = fundus_net_load_buffer(best, bm, bl);
	return rc;
}

int fundus_train_run(const struct fundus_train_params *p, const struct fundus_train_data *train,
		     const struct fundus_train_data *val, struct fundus_train_result *res)
{
	struct fundus_net *net = NULL, *ema = NULL, *best = NULL;
	struct fundus_detector *det = NULL;
	struct fundus_nn_ctx *ctx = NULL;
	struct fundus_nn_optim *opt = NULL;
	struct fundus_nn_optim_params op;
	struct fundus_nn_ctx_params cp;
	struct fundus_net_input in;
	struct loader L;
	struct loop_state st;
	float *obuf[FUNDUS__MAX_HEADS] = {0}, *gbuf[FUNDUS__MAX_HEADS] = {0};
	uint8_t *ckfile = NULL;
	const uint8_t *ckopt = NULL;
	size_t ckoptlen = 0;
	long steps_per_epoch, total_steps;
	double t_start;
	int rc, stopped = 0;

	memset(res, 0, sizeof *res);
	memset(&L, 0, sizeof L);
	memset(&st, 0, sizeof st);
	if (train == NULL || train->n == 0)
		return fundus_error_set(FUNDUS_EINVAL, "no training images");
	if (p->batch < 1 || p->epochs < 0 || p->epoch_size < 0 || !(p->lr > 0) ||
	    p->time_limit < 0 || p->patience < 0 || p->threads < 1)
		return fundus_error_set(FUNDUS_EINVAL, "bad training parameters");
	st.seed = p->seed;
	st.batch = p->batch;
	st.epoch_size = p->epoch_size ? p->epoch_size
				      : (long)(train->n > 512 ? train->n : 512);
	st.epoch_size = (st.epoch_size + p->batch - 1) / p->batch * p->batch;
	st.ntrain = train->n;
	st.best_map = -1;
	steps_per_epoch = st.epoch_size / p->batch;
	total_steps = steps_per_epoch * p->epochs;

	if (p->resume) {
		struct loop_state cs;

		if (p->checkpoint == NULL)
			return fundus_error_set(FUNDUS_EINVAL, "resuming needs a checkpoint file");
		memset(&cs, 0, sizeof cs);
		rc = load_checkpoint(p->checkpoint, &cs, &net, &ckfile, &ckopt, &ckoptlen, &best);
		if (rc < 0)
			rc = fundus_error_set(rc, "checkpoint: %s", fundus_errmsg());
		else if (cs.seed != st.seed || cs.batch != st.batch ||
			 cs.epoch_size != st.epoch_size || cs.ntrain != st.ntrain)
			rc = fundus_error_set(FUNDUS_EINVAL,
					      "checkpoint: of another run (seed %llu, batch %d, %ld "
					      "images per epoch, %zu training images)",
					      (unsigned long long)cs.seed, cs.batch, cs.epoch_size,
					      cs.ntrain);
		if (rc < 0)
			goto out;
		st = cs;
	} else {
		rc = make_net(p, train, &net);
		if (rc < 0)
			goto out;
	}
	rc = fundus_detector_new(&det, net);
	if (rc < 0)
		goto out;
	fundus_net_get_input(net, &in);
	fundus_nn_optim_defaults(&op);
	op.kind = FUNDUS_NN_ADAMW;
	op.lr = p->lr;
	op.weight_decay = p->weight_decay;
	op.ema_decay = p->ema;
	op.warmup_steps = p->warmup;
	op.total_steps = total_steps;
	op.clip_norm = 10;
	if (st.planned)
		op.total_steps = steps_per_epoch * st.planned;
	rc = fundus_nn_optim_new(&opt, net, &op);
	if (rc >= 0 && ckopt)
		rc = fundus_nn_optim_load_state(opt, ckopt, ckoptlen);
	if (rc < 0)
		goto out;
	fundus_nn_ctx_defaults(&cp);
	cp.mode = FUNDUS_NN_TRAIN;
	cp.batch = p->batch;
	cp.threads = p->threads;
	cp.deterministic = 1;
	cp.width = p->crop > 0 && p->crop < in.width ? p->crop : in.width;
	cp.height = p->crop > 0 && p->crop < in.height ? p->crop : in.height;
	rc = fundus_nn_ctx_new(&ctx, net, &cp);
	if (rc < 0)
		goto out;
	for (int i = 0; i < det->nheads; i++) {
		int sh[4];
		size_t cnt;

		fundus_nn_output_shape(ctx, det->heads[i].output, sh);
		cnt = (size_t)sh[0] * sh[1] * sh[2] * sh[3];
		obuf[i] = fundus_malloc(cnt * sizeof(float));
		gbuf[i] = fundus_malloc(cnt * sizeof(float));
		if (obuf[i] == NULL || gbuf[i] == NULL) {
			rc = FUNDUS_ENOMEM;
			goto out;
		}
	}
	rc = fundus_net_dup(net, &ema);
	if (rc < 0)
		goto out;
	L.p = p;
	L.d = train;
	L.net = net;
	L.w = in.width;
	L.h = in.height;
	L.cw = cp.width;
	L.ch = cp.height;
	L.batch = p->batch;
	L.epoch_size = st.epoch_size;
	fundus_rng_seed(&L.base, p->seed);
	rc = loader_start(&L, (long)st.epoch * steps_per_epoch, total_steps);
	if (rc < 0)
		goto out;
	t_start = fundus_now() - st.seconds;
	while (st.epoch < (st.planned ? st.planned : p->epochs)) {
		struct fundus_train_epoch ep;
		double t0 = fundus_now(), loss = 0, part[3] = {0, 0, 0};
		long s0 = (long)st.epoch * steps_per_epoch;

		for (long s = s0; s < s0 + steps_per_epoch; s++) {
			struct batch *b = loader_get(&L, s);
			double pp[3] = {0, 0, 0};

			if (b->rc < 0) {
				rc = fundus_error_set(b->rc, "%s", b->msg);
				goto out;
			}
			fundus_nn_forward(ctx, b->input);
			batch_loss(ctx, det, b, p->batch, L.maxobj, L.cw, L.ch, obuf, gbuf, pp);
			fundus_nn_zero_grad(ctx);
			fundus_nn_backward(ctx);
			rc = fundus_nn_optim_step(opt, ctx, NULL);
			if (rc < 0)
				goto out;
			for (int k = 0; k < 3; k++)
				part[k] += pp[k] / p->batch;
			loss += (pp[0] + pp[1] + pp[2]) / p->batch;
			if (p->progress)
				fundus_progress_report(p->progress, "training", s - s0 + 1,
						       steps_per_epoch);
			if (p->stop && *p->stop) {
				stopped = 3;
				break;
			}
		}
		if (stopped == 3)
			break;
		st.epoch++;
		/*
		 * Under a time budget, the speed so far (validation included)
		 * plans how many epochs fit, after every epoch, and the
		 * learning rate decays over those: a run cut by the clock in
		 * mid-schedule would stop at its highest rate.
		 */
		if (p->time_limit > 0) {
			double spent = fundus_now() - t_start, per = spent / st.epoch;
			double left = p->time_limit - spent;
			long fit = st.epoch + (long)floor((left > 0 ? left : 0) / (per > 1e-3 ? per : 1e-3));

			st.planned = (int)(fit < st.epoch ? st.epoch : fit > p->epochs ? p->epochs : fit);
			if (st.planned < 1)
				st.planned = 1;
			op.total_steps = steps_per_epoch * st.planned;
			fundus_nn_optim_set_total_steps(opt, op.total_steps);
		}
		memset(&ep, 0, sizeof ep);
		ep.epoch = st.epoch;
		ep.step = fundus_nn_optim_steps(opt);
		ep.lr = fundus_nn_schedule_lr(&op, ep.step);
		ep.loss = loss / steps_per_epoch;
		for (int k = 0; k < 3; k++)
			ep.loss_part[k] = part[k] / steps_per_epoch;
		ep.images_per_second = (double)st.epoch_size / (fundus_now() - t0);
		/* The model of this epoch: the moving average when it is on. */
		if (p->ema > 0)
			rc = fundus_nn_optim_ema_copy(opt, ema);
		else {
			fundus_net_free(ema);
			ema = NULL;
			rc = fundus_net_dup(net, &ema);
		}
		if (rc < 0)
			goto out;
		ep.map = ep.ap50 = ep.det_rate = ep.mean_iou = NAN;
		if (val && val->n) {
			struct fundus_train_score sc;

			rc = fundus_train_evaluate(ema, val, p->threads, &sc);
			if (rc < 0)
				goto out;
			ep.map = sc.map;
			ep.ap50 = sc.ap50;
			ep.det_rate = sc.det_rate;
			ep.mean_iou = sc.mean_iou;
		}
		if (!(val && val->n) || ep.map > st.best_map) {
			st.best_map = val && val->n ? ep.map : st.best_map;
			st.best_epoch = st.epoch;
			st.since_best = 0;
			ep.best = 1;
			fundus_net_free(best);
			best = NULL;
			rc = fundus_net_dup(ema, &best);
			if (rc >= 0 && p->output && (rc = fundus_net_save(best, p->output)) < 0)
				rc = fundus_error_set(rc, "model: %s", fundus_errmsg());
			if (rc < 0)
				goto out;
		} else {
			st.since_best++;
		}
		ep.seconds = fundus_now() - t_start;
		st.seconds = ep.seconds;
		if (p->checkpoint) {
			rc = save_checkpoint(p->checkpoint, &st, net, opt, best);
			if (rc < 0) {
				rc = fundus_error_set(rc, "checkpoint: %s", fundus_errmsg());
				goto out;
			}
		}
		if (p->on_epoch) {
			rc = p->on_epoch(p->ud, &ep);
			if (rc) {
				stopped = 3;
				rc = rc < 0 ? rc : 0;
				break;
			}
		}
		if (p->patience && st.since_best >= p->patience) {
			stopped = 1;
			break;
		}
		if (p->time_limit > 0 && ep.seconds >= p->time_limit) {
			stopped = 2;
			break;
		}
		if (p->stop && *p->stop) {
			stopped = 3;
			break;
		}
	}
	if (best == NULL) {
		rc = fundus_net_dup(ema, &best);
		if (rc < 0)
			goto out;
	}
	res->best = best;
	best = NULL;
	res->best_epoch = st.best_epoch;
	res->epochs = st.epoch;
	res->seconds = fundus_now() - t_start;
	res->stopped = stopped;
	rc = 0;
out:
	loader_stop(&L);
	for (int i = 0; i < FUNDUS__MAX_HEADS; i++) {
		fundus_free(obuf[i]);
		fundus_free(gbuf[i]);
	}
	fundus_free(ckfile);
	fundus_nn_ctx_free(ctx);
	fundus_nn_optim_free(opt);
	fundus_detector_free(det);
	fundus_net_free(best);
	fundus_net_free(ema);
	fundus_net_free(net);
	return rc;
}

/*
 * Contexts: the activations, gradients and scratch space of one batch size
 * and input size, all allocated when the context is made, and the forward
 * and backward passes over the layers.
 */
#include <string.h>
#include <time.h>

#include "nn/internal.h"

void fundus_nn_ctx_defaults(struct fundus_nn_ctx_params *p)
{
	memset(p, 0, sizeof *p);
	p->mode = FUNDUS_NN_INFER;
	p->path = FUNDUS_NN_FAST;
	p->threading = FUNDUS_NN_POOL_THREADS;
	p->batch = 1;
	p->threads = 1;
	p->bn_momentum = 0.03f;
}

/* Seconds on the clock the profile asked for. */
static double now(const struct fundus_nn_ctx *ctx)
{
	struct timespec ts;

	clock_gettime(ctx->p.profile == 2 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void fundus__parallel(struct fundus_nn_ctx *ctx, size_t n, fundus_pool_range_fn fn, void *arg)
{
	fundus_pool_for(ctx->pool, n, fn, arg);
}

void fundus_nn_ctx_free(struct fundus_nn_ctx *ctx)
{
	if (ctx == NULL)
		return;
	if (ctx->st) {
		for (int i = 0; i < ctx->net->nlayers; i++) {
			fundus_free(ctx->st[i].y);
			fundus_free(ctx->st[i].dy);
			fundus_free(ctx->st[i].z);
			fundus_free(ctx->st[i].stats);
			fundus_free(ctx->st[i].idx);
		}
	}
	fundus_free(ctx->st);
	fundus_free(ctx->in.y);
	fundus_free(ctx->in.dy);
	if (ctx->grads)
		for (int i = 0; i < ctx->net->ntensors; i++)
			fundus_free(ctx->grads[i]);
	fundus_free(ctx->grads);
	if (ctx->wscratch)
		for (int i = 0; i < ctx->nworkers; i++)
			fundus_free(ctx->wscratch[i]);
	fundus_free(ctx->wscratch);
	fundus_free(ctx->work);
	fundus_free(ctx->out_grad_set);
	fundus_free(ctx->prof_fwd);
	fundus_free(ctx->prof_bwd);
	fundus_free(ctx->zero_buf);
	fundus_free(ctx->zero_count);
	if (ctx->own_pool)
		fundus_pool_free(ctx->pool);
	fundus_free(ctx);
}

/* Allocates n floats, or leaves *p NULL for n = 0; returns 0 or FUNDUS_ENOMEM. */
static int alloc_floats(float **p, size_t n)
{
	size_t bytes;

	*p = NULL;
	if (n == 0)
		return 0;
	if (fundus_size_mul(&bytes, n, sizeof(float)) < 0)
		return FUNDUS_EOVERFLOW;
	*p = fundus_malloc(bytes);
	return *p ? 0 : FUNDUS_ENOMEM;
}

/* Checks the parameters; returns 0 or FUNDUS_EINVAL. */
static int check_params(const struct fundus_nn_ctx_params *p)
{
	if (p->mode != FUNDUS_NN_INFER && p->mode != FUNDUS_NN_TRAIN &&
	    p->mode != FUNDUS_NN_TRAIN_BN_FROZEN)
		return fundus_error_set(FUNDUS_EINVAL, "bad mode %d", (int)p->mode);
	if (p->path != FUNDUS_NN_FAST && p->path != FUNDUS_NN_REFERENCE)
		return fundus_error_set(FUNDUS_EINVAL, "bad path %d", (int)p->path);
	if (p->threading != FUNDUS_NN_POOL_THREADS && p->threading != FUNDUS_NN_BLAS_THREADS)
		return fundus_error_set(FUNDUS_EINVAL, "bad threading %d", (int)p->threading);
	if (p->batch < 1 || p->batch > 65536)
		return fundus_error_set(FUNDUS_EINVAL, "bad batch size %d", p->batch);
	if (p->width < 0 || p->height < 0 || p->width > FUNDUS_NET_MAX_SIZE ||
	    p->height > FUNDUS_NET_MAX_SIZE)
		return fundus_error_set(FUNDUS_EINVAL, "bad input size %dx%d", p->width, p->height);
	if (p->threads < 0 || p->threads > 1024)
		return fundus_error_set(FUNDUS_EINVAL, "bad thread count %d", p->threads);
	if (p->deterministic && p->threading == FUNDUS_NN_BLAS_THREADS && p->threads != 1)
		return fundus_error_set(FUNDUS_EINVAL,
					"BLAS threads are not deterministic: use pool threads");
	if (!(p->bn_momentum >= 0 && p->bn_momentum <= 1))
		return fundus_error_set(FUNDUS_EINVAL, "bad batch-norm momentum");
	if (p->profile < 0 || p->profile > 2)
		return fundus_error_set(FUNDUS_EINVAL, "bad profile %d", p->profile);
	return 0;
}

/* Sets up the threads: a pool of our own, the caller's, or OpenBLAS's. */
static int setup_threads(struct fundus_nn_ctx *ctx)
{
	const struct fundus_nn_ctx_params *p = &ctx->p;
	int n = p->threads ? p->threads : fundus_cpu_count();

	if (p->pool) {
		ctx->pool = p->pool;
		ctx->nworkers = fundus_pool_threads(p->pool);
		fundus__blas_threads(1);
	} else if (p->threading == FUNDUS_NN_BLAS_THREADS) {
		ctx->nworkers = 1;
		fundus__blas_threads(n);
	} else {
		fundus__blas_threads(1);
		ctx->nworkers = n;
		if (n > 1) {
			int rc = fundus_pool_new(&ctx->pool, n);

			if (rc < 0)
				return rc;
			ctx->own_pool = 1;
		}
	}
	return 0;
}

/* Works out shapes, which states need gradients, and allocates everything. */
static int setup_states(struct fundus_nn_ctx *ctx)
{
	struct fundus_net *net = ctx->net;
	int B = ctx->p.batch, H = ctx->p.height, W = ctx->p.width, rc;
	int *hs, *ws;
	size_t wk = 0, sh = 0;

	hs = fundus_calloc((size_t)net->nlayers, sizeof *hs);
	ws = fundus_calloc((size_t)net->nlayers, sizeof *ws);
	ctx->st = fundus_calloc((size_t)net->nlayers, sizeof *ctx->st);
	if (hs == NULL || ws == NULL || ctx->st == NULL) {
		rc = FUNDUS_ENOMEM;
		goto done;
	}
	rc = fundus__net_shapes(net, H, W, hs, ws);
	if (rc < 0)
		goto done;
	ctx->in.c = net->input.channels;
	ctx->in.h = H;
	ctx->in.w = W;
	ctx->in.needs_grad = ctx->training && ctx->p.input_grad;
	for (int i = 0; i < net->nlayers; i++) {
		const struct fundus__layer *l = &net->layers[i];
		struct fundus__state *s = &ctx->st[i];

		s->c = l->channels;
		s->h = hs[i];
		s->w = ws[i];
		if (ctx->training) {
			for (int k = 0; k < l->ntensors && !s->needs_grad; k++)
				s->needs_grad = net->tensors[l->tensor0 + k].trainable;
			for (int j = 0; j < l->ninputs && !s->needs_grad; j++)
				s->needs_grad = fundus__in(ctx, l, j)->needs_grad;
		}
	}
	for (int i = -1; i < net->nlayers; i++) {
		struct fundus__state *s = i < 0 ? &ctx->in : &ctx->st[i];

		rc = fundus_size_mul3(&s->plane, (size_t)B, (size_t)s->h, (size_t)s->w);
		if (rc == 0)
			rc = fundus_size_mul(&s->count, s->plane, (size_t)s->c);
		if (rc == 0)
			rc = alloc_floats(&s->y, s->count);
		if (rc == 0 && s->needs_grad)
			rc = alloc_floats(&s->dy, s->count);
		if (rc < 0)
			goto done;
	}
	for (int i = 0; i < net->nlayers; i++) {
		const struct fundus__layer *l = &net->layers[i];
		struct fundus__state *s = &ctx->st[i];
		size_t zf = 0, nstats = 0, nidx = 0, a = 0, b = 0;

		if (l->type->state)
			l->type->state(ctx, l, &zf, &nstats, &nidx);
		rc = alloc_floats(&s->z, zf);
		if (rc == 0)
			rc = alloc_floats(&s->stats, nstats);
		if (rc == 0 && nidx) {
			s->idx = fundus_calloc(nidx, sizeof *s->idx);
			rc = s->idx ? 0 : FUNDUS_ENOMEM;
		}
		if (rc < 0)
			goto done;
		if (l->type->scratch)
			l->type->scratch(ctx, l, &a, &b);
		wk = a > wk ? a : wk;
		sh = b > sh ? b : sh;
	}
	ctx->wscratch = fundus_calloc((size_t)ctx->nworkers, sizeof *ctx->wscratch);
	if (ctx->wscratch == NULL) {
		rc = FUNDUS_ENOMEM;
		goto done;
	}
	ctx->wscratch_size = wk;
	for (int i = 0; i < ctx->nworkers && rc == 0; i++)
		rc = alloc_floats(&ctx->wscratch[i], wk);
	if (rc == 0)
		rc = alloc_floats(&ctx->work, sh);
	ctx->work_size = sh;
done:
	fundus_free(hs);
	fundus_free(ws);
	return rc;
}

/* Allocates the gradient of every trainable tensor. */
static int setup_grads(struct fundus_nn_ctx *ctx)
{
	struct fundus_net *net = ctx->net;

	ctx->grads = fundus_calloc((size_t)net->ntensors, sizeof *ctx->grads);
	if (ctx->grads == NULL)
		return FUNDUS_ENOMEM;
	for (int i = 0; i < net->ntensors; i++) {
		if (!net->tensors[i].trainable)
			continue;
		ctx->grads[i] = fundus_calloc(net->tensors[i].count, sizeof(float));
		if (ctx->grads[i] == NULL)
			return FUNDUS_ENOMEM;
	}
	return 0;
}

int fundus_nn_ctx_new(struct fundus_nn_ctx **out, struct fundus_net *net,
		      const struct fundus_nn_ctx_params *p)
{
	struct fundus_nn_ctx *ctx;
	int rc;

	*out = NULL;
	rc = check_params(p);
	if (rc < 0)
		return rc;
	ctx = fundus_calloc(1, sizeof *ctx);
	if (ctx == NULL)
		return FUNDUS_ENOMEM;
	ctx->net = net;
	ctx->p = *p;
	if (ctx->p.width == 0)
		ctx->p.width = net->input.width;
	if (ctx->p.height == 0)
		ctx->p.height = net->input.height;
	ctx->p.pool = NULL;
	ctx->training = p->mode != FUNDUS_NN_INFER;
	ctx->batch_stats = p->mode == FUNDUS_NN_TRAIN;
	ctx->fast = p->path == FUNDUS_NN_FAST;
	ctx->p.pool = p->pool;
	rc = setup_threads(ctx);
	if (rc == 0)
		rc = setup_states(ctx);
	if (rc == 0 && ctx->training)
		rc = setup_grads(ctx);
	if (rc == 0) {
		ctx->out_grad_set = fundus_calloc((size_t)net->noutputs, sizeof(int));
		if (ctx->out_grad_set == NULL)
			rc = FUNDUS_ENOMEM;
	}
	if (rc == 0 && ctx->training) {
		int n = (net->nlayers > net->ntensors ? net->nlayers : net->ntensors) + 1;

		ctx->zero_buf = fundus_calloc((size_t)n, sizeof *ctx->zero_buf);
		ctx->zero_count = fundus_calloc((size_t)n, sizeof *ctx->zero_count);
		if (ctx->zero_buf == NULL || ctx->zero_count == NULL)
			rc = FUNDUS_ENOMEM;
	}
	if (rc == 0 && p->profile) {
		ctx->prof_fwd = fundus_calloc((size_t)net->nlayers, sizeof(double));
		ctx->prof_bwd = fundus_calloc((size_t)net->nlayers, sizeof(double));
		if (ctx->prof_fwd == NULL || ctx->prof_bwd == NULL)
			rc = FUNDUS_ENOMEM;
	}
	if (rc == 0 && !ctx->training && ctx->fast)
		rc = fundus__net_fold(net);
	if (rc < 0) {
		fundus_nn_ctx_free(ctx);
		return rc;
	}
	pthread_mutex_lock(&net->fold_mu);
	ctx->version = net->version;
	pthread_mutex_unlock(&net->fold_mu);
	*out = ctx;
	return 0;
}

void fundus_nn_input_shape(const struct fundus_nn_ctx *ctx, int shape[4])
{
	shape[0] = ctx->p.batch;
	shape[1] = ctx->in.c;
	shape[2] = ctx->in.h;
	shape[3] = ctx->in.w;
}

/* Copies NCHW into the context's CNHW layout (add: accumulate). */
static void from_nchw(const struct fundus__state *s, int batch, const float *src, float *dst)
{
	size_t hw = (size_t)s->h * (size_t)s->w;

	for (int b = 0; b < batch; b++)
		for (int c = 0; c < s->c; c++)
			memcpy(dst + (size_t)c * s->plane + (size_t)b * hw,
			       src + ((size_t)b * (size_t)s->c + (size_t)c) * hw,
			       hw * sizeof(float));
}

/* Copies the context's CNHW layout out as NCHW. */
static void to_nchw(const struct fundus__state *s, int batch, const float *src, float *dst)
{
	size_t hw = (size_t)s->h * (size_t)s->w;

	for (int b = 0; b < batch; b++)
		for (int c = 0; c < s->c; c++)
			memcpy(dst + ((size_t)b * (size_t)s->c + (size_t)c) * hw,
			       src + (size_t)c * s->plane + (size_t)b * hw, hw * sizeof(float));
}

int fundus_nn_forward(struct fundus_nn_ctx *ctx, const float *input)
{
	struct fundus_net *net = ctx->net;
	unsigned long version;

	pthread_mutex_lock(&net->fold_mu);
	version = net->version;
	pthread_mutex_unlock(&net->fold_mu);
	if (!ctx->training && ctx->fast && version != ctx->version)
		return fundus_error_set(FUNDUS_EINVAL,
					"the network's weights changed after this context was "
					"made");
	from_nchw(&ctx->in, ctx->p.batch, input, ctx->in.y);
	for (int i = 0; i < net->nlayers; i++) {
		const struct fundus__layer *l = &net->layers[i];
		double t0 = ctx->prof_fwd ? now(ctx) : 0;

		if (ctx->fast)
			l->type->forward(ctx, l);
		else
			l->type->forward_ref(ctx, l);
		if (ctx->prof_fwd)
			ctx->prof_fwd[i] += now(ctx) - t0;
	}
	memset(ctx->out_grad_set, 0, (size_t)net->noutputs * sizeof(int));
	ctx->version = version;
	return 0;
}

int fundus_nn_layer_shape(const struct fundus_nn_ctx *ctx, int layer, int shape[4])
{
	const struct fundus__state *s;

	if (layer < 0 || layer >= ctx->net->nlayers)
		return fundus_error_set(FUNDUS_EINVAL, "no layer %d", layer);
	s = &ctx->st[layer];
	shape[0] = ctx->p.batch;
	shape[1] = s->c;
	shape[2] = s->h;
	shape[3] = s->w;
	return 0;
}

int fundus_nn_output_shape(const struct fundus_nn_ctx *ctx, int i, int shape[4])
{
	const struct fundus__state *s;

	if (i < 0 || i >= ctx->net->noutputs)
		return fundus_error_set(FUNDUS_EINVAL, "no output %d", i);
	s = &ctx->st[ctx->net->outputs[i]];
	shape[0] = ctx->p.batch;
	shape[1] = s->c;
	shape[2] = s->h;
	shape[3] = s->w;
	return 0;
}

int fundus_nn_get_output(const struct fundus_nn_ctx *ctx, int i, float *out)
{
	if (i < 0 || i >= ctx->net->noutputs)
		return fundus_error_set(FUNDUS_EINVAL, "no output %d", i);
	to_nchw(&ctx->st[ctx->net->outputs[i]], ctx->p.batch, ctx->st[ctx->net->outputs[i]].y, out);
	return 0;
}

int fundus_nn_set_output_grad(struct fundus_nn_ctx *ctx, int i, const float *grad)
{
	struct fundus__state *s;

	if (!ctx->training)
		return fundus_error_set(FUNDUS_EINVAL, "not a training context");
	if (i < 0 || i >= ctx->net->noutputs)
		return fundus_error_set(FUNDUS_EINVAL, "no output %d", i);
	s = &ctx->st[ctx->net->outputs[i]];
	if (s->dy == NULL) /* nothing upstream learns: the gradient goes nowhere */
		return 0;
	from_nchw(s, ctx->p.batch, grad, s->dy);
	ctx->out_grad_set[i] = 1;
	return 0;
}

/* Buffers to zero, cut into pieces the pool shares. */
#define ZERO_PIECE ((size_t)1 << 16)

struct zero_job {
	float **buf;
	size_t *count;
	int n;
};

/* Zeroes pieces [b, e) of the buffers, numbered buffer by buffer. */
static void zero_range(void *arg, size_t b, size_t e, int worker)
{
	const struct zero_job *j = arg;
	size_t piece = 0;

	for (int i = 0; i < j->n && piece < e; i++) {
		size_t pieces = (j->count[i] + ZERO_PIECE - 1) / ZERO_PIECE;

		for (size_t k = 0; k < pieces; k++, piece++) {
			size_t at = k * ZERO_PIECE;

			if (piece < b || piece >= e)
				continue;
			memset(j->buf[i] + at, 0,
			       (j->count[i] - at < ZERO_PIECE ? j->count[i] - at : ZERO_PIECE) *
				   sizeof(float));
		}
	}
}

/* Zeroes n buffers of count[i] floats (NULL ones skipped) over the pool. */
static void zero_buffers(struct fundus_nn_ctx *ctx, float **buf, size_t *count, int n)
{
	struct zero_job j = {buf, count, n};
	size_t pieces = 0;

	for (int i = 0; i < n; i++) {
		if (buf[i] == NULL)
			count[i] = 0;
		pieces += (count[i] + ZERO_PIECE - 1) / ZERO_PIECE;
	}
	fundus__parallel(ctx, pieces, zero_range, &j);
}

void fundus_nn_zero_grad(struct fundus_nn_ctx *ctx)
{
	if (ctx->grads == NULL)
		return;
	for (int i = 0; i < ctx->net->ntensors; i++)
		ctx->zero_count[i] = ctx->net->tensors[i].count;
	zero_buffers(ctx, ctx->grads, ctx->zero_count, ctx->net->ntensors);
}

int fundus_nn_backward(struct fundus_nn_ctx *ctx)
{
	struct fundus_net *net = ctx->net;

	if (!ctx->training)
		return fundus_error_set(FUNDUS_EINVAL, "not a training context");
	/* Every gradient of an activation starts at zero but the outputs' that were set. */
	for (int i = 0; i <= net->nlayers; i++) {
		struct fundus__state *s = i < net->nlayers ? &ctx->st[i] : &ctx->in;
		int keep = 0;

		for (int k = 0; k < net->noutputs && i < net->nlayers; k++)
			keep |= net->outputs[k] == i && ctx->out_grad_set[k];
		ctx->zero_buf[i] = keep ? NULL : s->dy;
		ctx->zero_count[i] = s->count;
	}
	zero_buffers(ctx, ctx->zero_buf, ctx->zero_count, net->nlayers + 1);
	for (int i = net->nlayers - 1; i >= 0; i--) {
		const struct fundus__layer *l = &net->layers[i];
		double t0;

		if (!ctx->st[i].needs_grad)
			continue;
		t0 = ctx->prof_bwd ? now(ctx) : 0;
		if (ctx->fast)
			l->type->backward(ctx, l);
		else
			l->type->backward_ref(ctx, l);
		if (ctx->prof_bwd)
			ctx->prof_bwd[i] += now(ctx) - t0;
	}
	return 0;
}

const float *fundus_nn_grad(const struct fundus_nn_ctx *ctx, int tensor)
{
	if (ctx->grads == NULL || tensor < 0 || tensor >= ctx->net->ntensors)
		return NULL;
	return ctx->grads[tensor];
}

int fundus_nn_get_input_grad(const struct fundus_nn_ctx *ctx, float *out)
{
	if (ctx->in.dy == NULL)
		return fundus_error_set(FUNDUS_EINVAL, "the context keeps no input gradient");
	to_nchw(&ctx->in, ctx->p.batch, ctx->in.dy, out);
	return 0;
}

int fundus_nn_layer_seconds(const struct fundus_nn_ctx *ctx, int layer, double *forward,
			    double *backward)
{
	if (layer < 0 || layer >= ctx->net->nlayers)
		return fundus_error_set(FUNDUS_EINVAL, "no layer %d", layer);
	*forward = ctx->prof_fwd ? ctx->prof_fwd[layer] : 0;
	*backward = ctx->prof_bwd ? ctx->prof_bwd[layer] : 0;
	return 0;
}

void fundus_nn_reset_profile(struct fundus_nn_ctx *ctx)
{
	if (ctx->prof_fwd) {
		memset(ctx->prof_fwd, 0, (size_t)ctx->net->nlayers * sizeof(double));
		memset(ctx->prof_bwd, 0, (size_t)ctx->net->nlayers * sizeof(double));
	}
}

/*
 * Optimisers: SGD with momentum (and Nesterov's variant) and AdamW, as
 * PyTorch defines them; the learning-rate schedule (linear warm-up, cosine
 * decay); clipping by the global gradient norm; and an exponential moving
 * average of the weights.
 */
#include <math.h>
#include <string.h>

#include "nn/internal.h"

/* Elements per piece of work when the update is shared over threads. */
#define UPDATE_BLOCK 16384

struct fundus_nn_optim {
	struct fundus_net *net;
	struct fundus_nn_optim_params p;
	long steps;
	float **m, **v; /* per trainable tensor: momentum or first moment; second moment */
	float **ema;    /* per tensor, when the average is on */
	/* Every tensor cut into blocks of UPDATE_BLOCK values, for the pool. */
	int nblocks;
	int *blk_tensor;
	size_t *blk_start;
	double *partial; /* per block: the sum of squared gradients */
};

void fundus_nn_optim_defaults(struct fundus_nn_optim_params *p)
{
	memset(p, 0, sizeof *p);
	p->kind = FUNDUS_NN_SGD;
	p->lr = 0.01f;
	p->momentum = 0.9f;
	p->beta1 = 0.9f;
	p->beta2 = 0.999f;
	p->eps = 1e-8f;
	p->weight_decay = 5e-4f;
	p->warmup_start = 0.1f;
	p->final_lr = 0.01f;
}

double fundus_nn_schedule_lr(const struct fundus_nn_optim_params *p, long step)
{
	double f = 1;

	if (step < 0)
		step = 0;
	if (p->warmup_steps > 0 && step < p->warmup_steps) {
		f = p->warmup_start +
		    (1.0 - p->warmup_start) * (double)step / (double)p->warmup_steps;
	} else if (p->total_steps > p->warmup_steps) {
		double t =
		    (double)(step - p->warmup_steps) / (double)(p->total_steps - p->warmup_steps);

		if (t > 1)
			t = 1;
		f = p->final_lr + (1.0 - p->final_lr) * 0.5 * (1.0 + cos(M_PI * t));
	}
	return p->lr * f;
}

void fundus_nn_optim_free(struct fundus_nn_optim *opt)
{
	if (opt == NULL)
		return;
	for (int i = 0; i < opt->net->ntensors; i++) {
		if (opt->m)
			fundus_free(opt->m[i]);
		if (opt->v)
			fundus_free(opt->v[i]);
		if (opt->ema)
			fundus_free(opt->ema[i]);
	}
	fundus_free(opt->m);
	fundus_free(opt->v);
	fundus_free(opt->ema);
	fundus_free(opt->blk_tensor);
	fundus_free(opt->blk_start);
	fundus_free(opt->partial);
	fundus_free(opt);
}

/* Checks the parameters. */
static int check_params(const struct fundus_nn_optim_params *p)
{
	if (p->kind != FUNDUS_NN_SGD && p->kind != FUNDUS_NN_ADAMW)
		return fundus_error_set(FUNDUS_EINVAL, "bad optimiser %d", (int)p->kind);
	if (!(p->lr >= 0) || !(p->momentum >= 0 && p->momentum < 1) ||
	    !(p->beta1 >= 0 && p->beta1 < 1) || !(p->beta2 >= 0 && p->beta2 < 1) || !(p->eps > 0) ||
	    !(p->weight_decay >= 0) || !(p->clip_norm >= 0) ||
	    !(p->ema_decay >= 0 && p->ema_decay < 1) || p->warmup_steps < 0 || p->total_steps < 0 ||
	    !(p->warmup_start >= 0) || !(p->final_lr >= 0))
		return fundus_error_set(FUNDUS_EINVAL, "bad optimiser parameters");
	return 0;
}

int fundus_nn_optim_new(struct fundus_nn_optim **out, struct fundus_net *net,
			const struct fundus_nn_optim_params *p)
{
	struct fundus_nn_optim *opt;
	int n = net->ntensors, rc;

	*out = NULL;
	rc = check_params(p);
	if (rc < 0)
		return rc;
	opt = fundus_calloc(1, sizeof *opt);
	if (opt == NULL)
		return FUNDUS_ENOMEM;
	opt->net = net;
	opt->p = *p;
	opt->m = fundus_calloc((size_t)n + 1, sizeof *opt->m);
	opt->v = fundus_calloc((size_t)n + 1, sizeof *opt->v);
	if (p->ema_decay > 0)
		opt->ema = fundus_calloc((size_t)n + 1, sizeof *opt->ema);
	if (opt->m == NULL || opt->v == NULL || (p->ema_decay > 0 && opt->ema == NULL))
		goto nomem;
	for (int i = 0; i < n; i++) {
		const struct fundus__tensor *t = &net->tensors[i];
		int need_m = t->trainable && (p->kind == FUNDUS_NN_ADAMW || p->momentum > 0);

		if (need_m && (opt->m[i] = fundus_calloc(t->count, sizeof(float))) == NULL)
			goto nomem;
		if (t->trainable && p->kind == FUNDUS_NN_ADAMW &&
		    (opt->v[i] = fundus_calloc(t->count, sizeof(float))) == NULL)
			goto nomem;
		if (opt->ema) {
			opt->ema[i] = fundus_malloc(t->count * sizeof(float));
			if (opt->ema[i] == NULL)
				goto nomem;
			memcpy(opt->ema[i], t->data, t->count * sizeof(float));
		}
	}
	for (int i = 0; i < n; i++)
		opt->nblocks += (int)((net->tensors[i].count + UPDATE_BLOCK - 1) / UPDATE_BLOCK);
	opt->blk_tensor = fundus_calloc((size_t)opt->nblocks + 1, sizeof *opt->blk_tensor);
	opt->blk_start = fundus_calloc((size_t)opt->nblocks + 1, sizeof *opt->blk_start);
	opt->partial = fundus_calloc((size_t)opt->nblocks + 1, sizeof *opt->partial);
	if (opt->blk_tensor == NULL || opt->blk_start == NULL || opt->partial == NULL)
		goto nomem;
	for (int i = 0, b = 0; i < n; i++)
		for (size_t at = 0; at < net->tensors[i].count; at += UPDATE_BLOCK, b++) {
			opt->blk_tensor[b] = i;
			opt->blk_start[b] = at;
		}
	*out = opt;
	return 0;
nomem:
	fundus_nn_optim_free(opt);
	return FUNDUS_ENOMEM;
}

/* What the pieces of one step share. */
struct step_job {
	struct fundus_nn_optim *opt;
	struct fundus_nn_ctx *ctx;
	int phase;       /* 0: squared gradients, 1: update, 2: moving average */
	float lr, scale; /* learning rate, gradient scale (clipping) */
	float c1, ic2;   /* AdamW: 1 - beta1^t, 1 / sqrt(1 - beta2^t) */
	float df, di;    /* moving average: decay and 1 - decay */
};

/* Updates the values [i0, i1) of tensor t. */
static void update(const struct step_job *j, int t, size_t i0, size_t i1)
{
	const struct fundus_nn_optim_params *p = &j->opt->p;
	const struct fundus__tensor *tn = &j->opt->net->tensors[t];
	const float *g = j->ctx->grads[t];
	float *w = tn->data, *m = j->opt->m[t], *v = j->opt->v[t];
	float decay = tn->decay ? p->weight_decay : 0, lr = j->lr, scale = j->scale;

	if (p->kind == FUNDUS_NN_SGD) {
		for (size_t i = i0; i < i1; i++) {
			float d = g[i] * scale + decay * w[i];

			if (m) {
				m[i] = p->momentum * m[i] + d;
				d = p->nesterov ? d + p->momentum * m[i] : m[i];
			}
			w[i] -= lr * d;
		}
	} else {
		float a = lr / j->c1;

		for (size_t i = i0; i < i1; i++) {
			float d = g[i] * scale;

			w[i] -= lr * decay * w[i];
			m[i] = p->beta1 * m[i] + (1 - p->beta1) * d;
			v[i] = p->beta2 * v[i] + (1 - p->beta2) * d * d;
			w[i] -= a * m[i] / (sqrtf(v[i]) * j->ic2 + p->eps);
		}
	}
}

/* One phase of a step over blocks [b, e). */
static void step_range(void *arg, size_t b, size_t e, int worker)
{
	const struct step_job *j = arg;
	struct fundus_nn_optim *opt = j->opt;

	for (size_t k = b; k < e; k++) {
		int t = opt->blk_tensor[k];
		const struct fundus__tensor *tn = &opt->net->tensors[t];
		size_t i0 = opt->blk_start[k];
		size_t i1 = tn->count - i0 < UPDATE_BLOCK ? tn->count : i0 + UPDATE_BLOCK;
		const float *g = j->ctx->grads[t];

		if (j->phase == 0) {
			opt->partial[k] = g ? fundus__sum_sq_dev(g + i0, i1 - i0, 0.0f) : 0;
		} else if (j->phase == 1) {
			if (g && tn->trainable)
				update(j, t, i0, i1);
		} else {
			float *ema = opt->ema[t];

			for (size_t i = i0; i < i1; i++)
				ema[i] = j->df * ema[i] + j->di * tn->data[i];
		}
	}
}

int fundus_nn_optim_step(struct fundus_nn_optim *opt, struct fundus_nn_ctx *ctx, double *grad_norm)
{
	struct fundus_net *net = opt->net;
	const struct fundus_nn_optim_params *p = &opt->p;
	double norm = 0, t = (double)opt->steps + 1;
	struct step_job j = {.opt = opt, .ctx = ctx, .scale = 1};

	if (ctx->net != net || !ctx->training)
		return fundus_error_set(FUNDUS_EINVAL,
					"not a training context of the optimiser's network");
	/* Sums per block, added in block order: the same norm for every thread count. */
	fundus__parallel(ctx, (size_t)opt->nblocks, step_range, &j);
	for (int k = 0; k < opt->nblocks; k++)
		norm += opt->partial[k];
	norm = sqrt(norm);
	if (grad_norm)
		*grad_norm = norm;
	if (!isfinite(norm))
		return fundus_error_set(FUNDUS_EINVAL, "the gradient is not finite");
	if (p->clip_norm > 0 && norm > p->clip_norm)
		j.scale = (float)(p->clip_norm / norm);
	j.phase = 1;
	j.lr = (float)fundus_nn_schedule_lr(p, opt->steps);
	j.c1 = (float)(1 - pow(p->beta1, t));
	j.ic2 = (float)(1 / sqrt(1 - pow(p->beta2, t)));
	fundus__parallel(ctx, (size_t)opt->nblocks, step_range, &j);
	opt->steps++;
	if (opt->ema) {
		/* A short memory at first, so that the average soon leaves the initial weights. */
		double d = (1.0 + (double)opt->steps) / (10.0 + (double)opt->steps);

		if (d > p->ema_decay)
			d = p->ema_decay;
		j.phase = 2;
		j.df = (float)d;
		j.di = (float)(1 - d);
		fundus__parallel(ctx, (size_t)opt->nblocks, step_range, &j);
	}
	fundus_net_touch(net);
	return 0;
}

long fundus_nn_optim_steps(const struct fundus_nn_optim *opt)
{
	return opt->steps;
}

int fundus_nn_optim_ema_copy(const struct fundus_nn_optim *opt, struct fundus_net *dst)
{
	const struct fundus_net *net = opt->net;

	if (opt->ema == NULL)
		return fundus_error_set(FUNDUS_EINVAL, "the moving average is off");
	if (dst->ntensors != net->ntensors)
		return fundus_error_set(FUNDUS_EINVAL, "the networks differ");
	for (int i = 0; i < net->ntensors; i++)
		if (dst->tensors[i].count != net->tensors[i].count ||
		    strcmp(dst->tensors[i].name, net->tensors[i].name) != 0)
			return fundus_error_set(FUNDUS_EINVAL, "the networks differ at tensor %s",
						net->tensors[i].name);
	for (int i = 0; i < net->ntensors; i++)
		memcpy(dst->tensors[i].data, opt->ema[i], net->tensors[i].count * sizeof(float));
	fundus_net_touch(dst);
	return 0;
}

/*
 * Which of tensor i's buffers (bit 0 m, 1 v, 2 ema) the state holds; bufs
 * gets the places of all three, in that order.
 */
static uint8_t state_mask(const struct fundus_nn_optim *opt, int i, float **bufs[3])
{
	uint8_t mask = 0;

	bufs[0] = &opt->m[i];
	bufs[1] = &opt->v[i];
	bufs[2] = opt->ema ? &opt->ema[i] : NULL;
	for (int k = 0; k < 3; k++)
		if (bufs[k] && *bufs[k])
			mask |= (uint8_t)(1u << k);
	return mask;
}

#define STATE_MAGIC "FDNNOPT1"

int fundus_nn_optim_save_state(const struct fundus_nn_optim *opt, uint8_t **data, size_t *len)
{
	const struct fundus_net *net = opt->net;
	size_t n = 8 + 8 + 4, at;
	uint8_t *b;
	int64_t steps = opt->steps;
	uint32_t nt = (uint32_t)net->ntensors;

	*data = NULL;
	*len = 0;
	for (int i = 0; i < net->ntensors; i++) {
		float **bufs[3];
		uint8_t mask = state_mask(opt, i, bufs);

		n += 1;
		for (int k = 0; k < 3; k++)
			if (mask & (1u << k))
				n += net->tensors[i].count * sizeof(float);
	}
	b = fundus_malloc(n);
	if (b == NULL)
		return FUNDUS_ENOMEM;
	memcpy(b, STATE_MAGIC, 8);
	memcpy(b + 8, &steps, 8); /* host order: a state resumes on the machine that wrote it */
	memcpy(b + 16, &nt, 4);
	at = 20;
	for (int i = 0; i < net->ntensors; i++) {
		float **bufs[3];
		uint8_t mask = state_mask(opt, i, bufs);

		b[at++] = mask;
		for (int k = 0; k < 3; k++)
			if (mask & (1u << k)) {
				memcpy(b + at, *bufs[k], net->tensors[i].count * sizeof(float));
				at += net->tensors[i].count * sizeof(float);
			}
	}
	*data = b;
	*len = n;
	return 0;
}

int fundus_nn_optim_load_state(struct fundus_nn_optim *opt, const void *data, size_t len)
{
	const struct fundus_net *net = opt->net;
	const uint8_t *b = data;
	int64_t steps;
	uint32_t nt;
	size_t at = 20;

	if (len < 20 || memcmp(b, STATE_MAGIC, 8) != 0)
		return fundus_error_set(FUNDUS_EFORMAT, "not an optimiser state");
	memcpy(&steps, b + 8, 8);
	memcpy(&nt, b + 16, 4);
	if (steps < 0)
		return fundus_error_set(FUNDUS_EFORMAT, "optimiser state with %lld steps",
					(long long)steps);
	if (nt != (uint32_t)net->ntensors)
		return fundus_error_set(FUNDUS_EFORMAT,
					"optimiser state for %u tensors, the network has %d", nt,
					net->ntensors);
	/* Check the whole layout before changing anything. */
	for (int pass = 0; pass < 2; pass++) {
		at = 20;
		for (int i = 0; i < net->ntensors; i++) {
			float **bufs[3];
			uint8_t mask = state_mask(opt, i, bufs);

			if (at >= len || b[at] != mask)
				return fundus_error_set(FUNDUS_EFORMAT,
							"optimiser state does not match the optimiser "
							"(tensor %s)",
							net->tensors[i].name);
			at++;
			for (int k = 0; k < 3; k++)
				if (mask & (1u << k)) {
					size_t sz = net->tensors[i].count * sizeof(float);

					if (len - at < sz)
						return fundus_error_set(FUNDUS_EFORMAT,
									"optimiser state truncated");
					if (pass)
						memcpy(*bufs[k], b + at, sz);
					at += sz;
				}
		}
		if (at != len)
			return fundus_error_set(FUNDUS_EFORMAT, "optimiser state has %zu extra bytes",
						len - at);
	}
	opt->steps = steps;
	return 0;
}

int fundus_nn_optim_set_total_steps(struct fundus_nn_optim *opt, long total_steps)
{
	if (total_steps < 0)
		return fundus_error_set(FUNDUS_EINVAL, "negative total steps");
	opt->p.total_steps = total_steps;
	return 0;
}

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
	*out = opt;
	return 0;
nomem:
	fundus_nn_optim_free(opt);
	return FUNDUS_ENOMEM;
}

struct update_job {
	struct fundus_nn_optim *opt;
	const float *g;
	float *w, *m, *v;
	size_t count;
	float lr, scale, decay;
	double c1, c2; /* AdamW bias corrections */
};

/* Updates elements of blocks [b, e) of one tensor. */
static void update_range(void *arg, size_t b, size_t e, int worker)
{
	const struct update_job *j = arg;
	const struct fundus_nn_optim_params *p = &j->opt->p;
	size_t i0 = b * UPDATE_BLOCK,
	       i1 = e * UPDATE_BLOCK < j->count ? e * UPDATE_BLOCK : j->count;

	if (p->kind == FUNDUS_NN_SGD) {
		for (size_t i = i0; i < i1; i++) {
			float g = j->g[i] * j->scale + j->decay * j->w[i];

			if (j->m) {
				j->m[i] = p->momentum * j->m[i] + g;
				g = p->nesterov ? g + p->momentum * j->m[i] : j->m[i];
			}
			j->w[i] -= j->lr * g;
		}
	} else {
		float a = (float)(j->lr / j->c1), ic2 = (float)(1.0 / sqrt(j->c2));

		for (size_t i = i0; i < i1; i++) {
			float g = j->g[i] * j->scale;

			j->w[i] -= j->lr * j->decay * j->w[i];
			j->m[i] = p->beta1 * j->m[i] + (1 - p->beta1) * g;
			j->v[i] = p->beta2 * j->v[i] + (1 - p->beta2) * g * g;
			j->w[i] -= a * j->m[i] / (sqrtf(j->v[i]) * ic2 + p->eps);
		}
	}
}

/* The moving average of blocks [b, e) of one tensor: m = lr m + scale w (the fields reused). */
static void ema_range(void *arg, size_t b, size_t e, int worker)
{
	const struct update_job *j = arg;
	size_t i0 = b * UPDATE_BLOCK,
	       i1 = e * UPDATE_BLOCK < j->count ? e * UPDATE_BLOCK : j->count;

	for (size_t i = i0; i < i1; i++)
		j->m[i] = j->lr * j->m[i] + j->scale * j->w[i];
}

int fundus_nn_optim_step(struct fundus_nn_optim *opt, struct fundus_nn_ctx *ctx, double *grad_norm)
{
	struct fundus_net *net = opt->net;
	const struct fundus_nn_optim_params *p = &opt->p;
	double norm = 0, t = (double)opt->steps + 1;
	float scale = 1;

	if (ctx->net != net || !ctx->training)
		return fundus_error_set(FUNDUS_EINVAL,
					"not a training context of the optimiser's network");
	/* In tensor order, in blocks of floats added into doubles: the same sum for every thread
	 * count. */
	for (int i = 0; i < net->ntensors; i++)
		if (ctx->grads[i])
			norm += fundus__sum_sq_dev(ctx->grads[i], net->tensors[i].count, 0.0f);
	norm = sqrt(norm);
	if (grad_norm)
		*grad_norm = norm;
	if (!isfinite(norm))
		return fundus_error_set(FUNDUS_EINVAL, "the gradient is not finite");
	if (p->clip_norm > 0 && norm > p->clip_norm)
		scale = (float)(p->clip_norm / norm);
	for (int i = 0; i < net->ntensors; i++) {
		struct fundus__tensor *tn = &net->tensors[i];
		struct update_job j = {
		    .opt = opt,
		    .g = ctx->grads[i],
		    .w = tn->data,
		    .m = opt->m[i],
		    .v = opt->v[i],
		    .count = tn->count,
		    .lr = (float)fundus_nn_schedule_lr(p, opt->steps),
		    .scale = scale,
		    .decay = tn->decay ? p->weight_decay : 0,
		    .c1 = 1 - pow(p->beta1, t),
		    .c2 = 1 - pow(p->beta2, t),
		};

		if (j.g == NULL || !tn->trainable)
			continue;
		fundus__parallel(ctx, (tn->count + UPDATE_BLOCK - 1) / UPDATE_BLOCK, update_range,
				 &j);
	}
	opt->steps++;
	if (opt->ema) {
		/* A short memory at first, so that the average soon leaves the initial weights. */
		double d = (1.0 + (double)opt->steps) / (10.0 + (double)opt->steps);
		float df, di;

		if (d > p->ema_decay)
			d = p->ema_decay;
		df = (float)d;
		di = (float)(1 - d);
		for (int i = 0; i < net->ntensors; i++) {
			struct update_job j = {.opt = opt,
					       .w = net->tensors[i].data,
					       .m = opt->ema[i],
					       .count = net->tensors[i].count,
					       .lr = df,
					       .scale = di};

			fundus__parallel(ctx, (j.count + UPDATE_BLOCK - 1) / UPDATE_BLOCK,
					 ema_range, &j);
		}
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

/*
 * Batch normalisation: the per-channel kernels that convolutions fuse, and
 * the [batchnorm] layer. Statistics are summed in blocks of floats added
 * into doubles, which keeps both the speed of vector adds and the accuracy
 * over planes of millions of values.
 */
#include <math.h>
#include <string.h>

#include "nn/internal.h"

double fundus__sum_floats(const float *x, size_t n)
{
	double total = 0;
	size_t i = 0;

	while (i < n) {
		size_t e = n - i > 4096 ? i + 4096 : n;
		float acc[16] = {0};
		double block = 0;

		for (; i + 16 <= e; i += 16)
			for (int k = 0; k < 16; k++)
				acc[k] += x[i + k];
		for (; i < e; i++)
			acc[0] += x[i];
		for (int k = 0; k < 16; k++)
			block += acc[k];
		total += block;
	}
	return total;
}

void fundus__sum_shifted(const float *x, size_t n, float m, double *s1, double *s2)
{
	size_t i = 0;

	*s1 = *s2 = 0;
	while (i < n) {
		size_t e = n - i > 4096 ? i + 4096 : n;
		float a1[16] = {0}, a2[16] = {0};

		for (; i + 16 <= e; i += 16)
			for (int k = 0; k < 16; k++) {
				float d = x[i + k] - m;

				a1[k] += d;
				a2[k] += d * d;
			}
		for (; i < e; i++) {
			a1[0] += x[i] - m;
			a2[0] += (x[i] - m) * (x[i] - m);
		}
		for (int k = 0; k < 16; k++) {
			*s1 += a1[k];
			*s2 += a2[k];
		}
	}
}

double fundus__sum_sq_dev(const float *x, size_t n, float m)
{
	double total = 0;
	size_t i = 0;

	while (i < n) {
		size_t e = n - i > 4096 ? i + 4096 : n;
		float acc[16] = {0};
		double block = 0;

		for (; i + 16 <= e; i += 16)
			for (int k = 0; k < 16; k++) {
				float d = x[i + k] - m;

				acc[k] += d * d;
			}
		for (; i < e; i++)
			acc[0] += (x[i] - m) * (x[i] - m);
		for (int k = 0; k < 16; k++)
			block += acc[k];
		total += block;
	}
	return total;
}

void fundus__bn_channel_forward(const float *x, float *y, size_t n, float gamma, float beta,
				int act, int batch, float *mean, float *istd, float *var)
{
	float a, b;

	if (batch) {
		double m = fundus__sum_floats(x, n) / (double)n;
		double v = fundus__sum_sq_dev(x, n, (float)m) / (double)n;

		*mean = (float)m;
		*var = (float)v;
		*istd = (float)(1.0 / sqrt(v + FUNDUS__BN_EPS));
	}
	a = gamma * *istd;
	b = beta - *mean * a;
	/* The common activations in the same pass (as in activation.c, without float selects). */
	if (act == FUNDUS__ACT_LEAKY) {
		for (size_t i = 0; i < n; i++) {
			float v = x[i] * a + b, s = FUNDUS__LEAKY_SLOPE * v;

			y[i] = v > s ? v : s;
		}
	} else if (act == FUNDUS__ACT_RELU) {
		for (size_t i = 0; i < n; i++) {
			float v = x[i] * a + b;

			y[i] = v > 0 ? v : 0;
		}
	} else {
		for (size_t i = 0; i < n; i++)
			y[i] = x[i] * a + b;
		if (act != FUNDUS__ACT_LINEAR)
			fundus__act_forward(act, y, y, n);
	}
}

/*
 * The gradient before a piecewise-linear activation, from the value before
 * it, a = x ka + kb, computed as the forward pass did.
 */
static inline float act_grad(int act, float x, float ka, float kb, float d)
{
	float a = x * ka + kb;

	if (act == FUNDUS__ACT_LINEAR)
		return d;
	return fundus__where_positive(a, d,
				      act == FUNDUS__ACT_LEAKY ? FUNDUS__LEAKY_SLOPE * d : 0.0f);
}

void fundus__bn_channel_backward(const float *x, const float *y, float *dy, float *dx, size_t n,
				 float gamma, float beta, int act, float mean, float istd,
				 int batch, int add, double *dgamma, double *dbeta)
{
	/*
	 * For the piecewise-linear activations the gradient before the
	 * activation is recomputed in each pass from x and dy (two streams),
	 * instead of being stored and read back; silu and sigmoid, dear to
	 * compute, store it in dy.
	 */
	int direct =
	    act == FUNDUS__ACT_LINEAR || act == FUNDUS__ACT_RELU || act == FUNDUS__ACT_LEAKY;
	float ka = gamma * istd, kb = beta - mean * ka;
	double sg = 0, sb = 0;
	float kbar, kg;

	for (size_t o = 0; o < n; o += 512) {
		size_t len = n - o < 512 ? n - o : 512;
		float a[512], accg[16] = {0}, accb[16] = {0};
		size_t i = 0;

		if (!direct) {
			if (act == FUNDUS__ACT_SILU)
				for (size_t t = 0; t < len; t++)
					a[t] = x[o + t] * ka + kb;
			fundus__act_backward(act, act == FUNDUS__ACT_SILU ? a : NULL, y + o, dy + o,
					     dy + o, len);
			for (; i + 16 <= len; i += 16)
				for (int t = 0; t < 16; t++) {
					float d = dy[o + i + t];

					accb[t] += d;
					accg[t] += d * (x[o + i + t] - mean);
				}
		} else {
			for (; i + 16 <= len; i += 16)
				for (int t = 0; t < 16; t++) {
					float xv = x[o + i + t],
					      d = act_grad(act, xv, ka, kb, dy[o + i + t]);

					accb[t] += d;
					accg[t] += d * (xv - mean);
				}
		}
		for (; i < len; i++) {
			float d = direct ? act_grad(act, x[o + i], ka, kb, dy[o + i]) : dy[o + i];

			accb[0] += d;
			accg[0] += d * (x[o + i] - mean);
		}
		for (int t = 0; t < 16; t++) {
			sb += accb[t];
			sg += accg[t];
		}
	}
	sg *= istd;
	*dgamma = sg;
	*dbeta = sb;
	/* With batch statistics: dx = gamma istd (da - mean(da) - xhat mean(da xhat)). */
	kbar = batch ? (float)(sb / (double)n) : 0.0f;
	kg = batch ? (float)(sg / (double)n) * istd : 0.0f;
	if (direct) {
		if (add)
			for (size_t i = 0; i < n; i++)
				dx[i] += ka * (act_grad(act, x[i], ka, kb, dy[i]) - kbar -
					       (x[i] - mean) * kg);
		else
			for (size_t i = 0; i < n; i++)
				dx[i] = ka * (act_grad(act, x[i], ka, kb, dy[i]) - kbar -
					      (x[i] - mean) * kg);
	} else if (add) {
		for (size_t i = 0; i < n; i++)
			dx[i] += ka * (dy[i] - kbar - (x[i] - mean) * kg);
	} else {
		for (size_t i = 0; i < n; i++)
			dx[i] = ka * (dy[i] - kbar - (x[i] - mean) * kg);
	}
}

void fundus__bn_update_running(float *rmean, float *rvar, float mean, float var, size_t n,
			       float momentum)
{
	/* The running variance is the unbiased one, as in PyTorch. */
	double unbiased = n > 1 ? (double)var * (double)n / (double)(n - 1) : var;

	*rmean = (1 - momentum) * *rmean + momentum * mean;
	*rvar = (float)((1 - momentum) * *rvar + momentum * unbiased);
}

/*
 * The [batchnorm] layer: tensors gamma, beta, mean, var. Its folded form
 * is a scale and a shift per channel.
 */
enum { BN_GAMMA, BN_BETA, BN_MEAN, BN_VAR };

static const struct fundus__key bn_keys[] = {FUNDUS__K_END};

/* Same channels as the input; four tensors of that length. */
static int bn_build(struct fundus_net *net, struct fundus__layer *l)
{
	int c = fundus__in_channels(net, l);
	int rc;

	l->channels = c;
	rc = fundus__layer_add_tensor(net, l, "gamma", 1, &c, 1, 0, FUNDUS__INIT_ONE, 0);
	if (rc == 0)
		rc = fundus__layer_add_tensor(net, l, "beta", 1, &c, 1, 0, FUNDUS__INIT_ZERO, 0);
	if (rc == 0)
		rc = fundus__layer_add_tensor(net, l, "mean", 1, &c, 0, 0, FUNDUS__INIT_ZERO, 0);
	if (rc == 0)
		rc = fundus__layer_add_tensor(net, l, "var", 1, &c, 0, 0, FUNDUS__INIT_ONE, 0);
	return rc;
}

/* Same size as the input. */
static int bn_shape(const struct fundus_net *net, const struct fundus__layer *l, const int *in_h,
		    const int *in_w, int *h, int *w)
{
	*h = in_h[0];
	*w = in_w[0];
	return 0;
}

/* Batch mean and inverse deviation per channel, for backward. */
static void bn_state(const struct fundus_nn_ctx *ctx, const struct fundus__layer *l, size_t *z,
		     size_t *stats, size_t *idx)
{
	*stats = 2 * (size_t)l->channels;
}

/* The scale and shift per channel that batch norm is at inference. */
static int bn_fold(struct fundus_net *net, const struct fundus__layer *l, float **w, float **b)
{
	int c = l->channels;
	const float *g = fundus__tensor_data(net, l, BN_GAMMA);
	const float *be = fundus__tensor_data(net, l, BN_BETA);
	const float *m = fundus__tensor_data(net, l, BN_MEAN);
	const float *v = fundus__tensor_data(net, l, BN_VAR);

	if (*w == NULL)
		*w = fundus_malloc((size_t)c * sizeof **w);
	if (*b == NULL)
		*b = fundus_malloc((size_t)c * sizeof **b);
	if (*w == NULL || *b == NULL)
		return FUNDUS_ENOMEM;
	for (int i = 0; i < c; i++) {
		float s = g[i] / sqrtf(v[i] + FUNDUS__BN_EPS);

		(*w)[i] = s;
		(*b)[i] = be[i] - m[i] * s;
	}
	return 0;
}

struct bn_job {
	struct fundus_nn_ctx *ctx;
	const struct fundus__layer *l;
};

/* Forward of channels [b, e). */
static void bn_fwd_range(void *arg, size_t b, size_t e, int worker)
{
	struct bn_job *j = arg;
	struct fundus_nn_ctx *ctx = j->ctx;
	const struct fundus__layer *l = j->l;
	struct fundus__state *s = &ctx->st[l->index];
	const float *x = fundus__in(ctx, l, 0)->y;
	struct fundus_net *net = ctx->net;

	for (size_t c = b; c < e; c++) {
		const float *xc = x + c * s->plane;
		float *yc = s->y + c * s->plane;

		if (!ctx->training) {
			float sc = net->fold_w[l->index][c], sh = net->fold_b[l->index][c];

			for (size_t i = 0; i < s->plane; i++)
				yc[i] = xc[i] * sc + sh;
		} else {
			float *rm = fundus__tensor_data(net, l, BN_MEAN) + c;
			float *rv = fundus__tensor_data(net, l, BN_VAR) + c;
			float mean = *rm, istd = 1.0f / sqrtf(*rv + FUNDUS__BN_EPS), var;

			fundus__bn_channel_forward(
			    xc, yc, s->plane, fundus__tensor_data(net, l, BN_GAMMA)[c],
			    fundus__tensor_data(net, l, BN_BETA)[c], FUNDUS__ACT_LINEAR,
			    ctx->batch_stats, &mean, &istd, &var);
			s->stats[c] = mean;
			s->stats[l->channels + c] = istd;
			if (ctx->batch_stats)
				fundus__bn_update_running(rm, rv, mean, var, s->plane,
							  ctx->p.bn_momentum);
		}
	}
}

/* Normalises every channel, shared over the pool. */
static void bn_forward(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	struct bn_job j = {ctx, l};

	fundus__parallel(ctx, (size_t)l->channels, bn_fwd_range, &j);
}

/* Backward of channels [b, e). */
static void bn_bwd_range(void *arg, size_t b, size_t e, int worker)
{
	struct bn_job *j = arg;
	struct fundus_nn_ctx *ctx = j->ctx;
	const struct fundus__layer *l = j->l;
	struct fundus__state *s = &ctx->st[l->index];
	struct fundus__state *in = fundus__in_mut(ctx, l, 0);
	struct fundus_net *net = ctx->net;

	for (size_t c = b; c < e; c++) {
		double dg, db;
		float *dyc = s->dy + c * s->plane;

		/* Without an input gradient, dx goes into dy itself (and is dropped). */
		fundus__bn_channel_backward(
		    in->y + c * s->plane, s->y + c * s->plane, dyc,
		    in->dy ? in->dy + c * s->plane : dyc, s->plane,
		    fundus__tensor_data(net, l, BN_GAMMA)[c],
		    fundus__tensor_data(net, l, BN_BETA)[c], FUNDUS__ACT_LINEAR, s->stats[c],
		    s->stats[l->channels + c], ctx->batch_stats, in->dy != NULL, &dg, &db);
		fundus__grad(ctx, l, BN_GAMMA)[c] += (float)dg;
		fundus__grad(ctx, l, BN_BETA)[c] += (float)db;
	}
}

/* The gradients of every channel, shared over the pool. */
static void bn_backward(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	struct bn_job j = {ctx, l};

	fundus__parallel(ctx, (size_t)l->channels, bn_bwd_range, &j);
}

/*
 * Reference path: the textbook formulas in double, one channel at a time.
 * In training the statistics are the batch's, otherwise the running ones.
 */
void fundus__bn_ref_forward(const float *x, float *y, size_t plane, int channels,
			    const float *gamma, const float *beta, float *rmean, float *rvar,
			    int batch, float momentum, float *stats, int act)
{
	for (int c = 0; c < channels; c++) {
		const float *xc = x + (size_t)c * plane;
		double mean = 0, var = 0, istd;

		if (batch) {
			for (size_t i = 0; i < plane; i++)
				mean += xc[i];
			mean /= (double)plane;
			for (size_t i = 0; i < plane; i++)
				var += (xc[i] - mean) * (xc[i] - mean);
			var /= (double)plane;
			fundus__bn_update_running(&rmean[c], &rvar[c], (float)mean, (float)var,
						  plane, momentum);
		} else {
			mean = rmean[c];
			var = rvar[c];
		}
		istd = 1 / sqrt(var + FUNDUS__BN_EPS);
		if (stats) {
			stats[c] = (float)mean;
			stats[channels + c] = (float)istd;
		}
		for (size_t i = 0; i < plane; i++)
			y[(size_t)c * plane + i] =
			    (float)fundus__act_ref(act, gamma[c] * (xc[i] - mean) * istd + beta[c]);
	}
}

void fundus__bn_ref_backward(const float *x, const float *dy, float *dx, size_t plane, int channels,
			     const float *gamma, const float *beta, const float *stats, int batch,
			     int act, float *dgamma, float *dbeta)
{
	for (int c = 0; c < channels; c++) {
		const float *xc = x + (size_t)c * plane;
		const float *dyc = dy + (size_t)c * plane;
		double mean = stats[c], istd = stats[channels + c], sg = 0, sb = 0;

		for (size_t i = 0; i < plane; i++) {
			double xh = (xc[i] - mean) * istd;
			double da = dyc[i] * fundus__act_grad_ref(act, gamma[c] * xh + beta[c]);

			sb += da;
			sg += da * xh;
		}
		dgamma[c] += (float)sg;
		dbeta[c] += (float)sb;
		if (dx == NULL)
			continue;
		for (size_t i = 0; i < plane; i++) {
			double xh = (xc[i] - mean) * istd;
			double da = dyc[i] * fundus__act_grad_ref(act, gamma[c] * xh + beta[c]);
			double g = batch ? gamma[c] * istd *
					       (da - sb / (double)plane - xh * sg / (double)plane)
					 : gamma[c] * istd * da;

			dx[(size_t)c * plane + i] += (float)g;
		}
	}
}

/* Reference forward: the textbook formulas. */
static void bn_forward_ref(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	struct fundus__state *s = &ctx->st[l->index];
	struct fundus_net *net = ctx->net;

	fundus__bn_ref_forward(
	    fundus__in(ctx, l, 0)->y, s->y, s->plane, l->channels,
	    fundus__tensor_data(net, l, BN_GAMMA), fundus__tensor_data(net, l, BN_BETA),
	    fundus__tensor_data(net, l, BN_MEAN), fundus__tensor_data(net, l, BN_VAR),
	    ctx->batch_stats, ctx->p.bn_momentum, s->stats, FUNDUS__ACT_LINEAR);
}

/* Reference backward: the textbook formulas. */
static void bn_backward_ref(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	struct fundus__state *s = &ctx->st[l->index];
	struct fundus__state *in = fundus__in_mut(ctx, l, 0);
	struct fundus_net *net = ctx->net;

	fundus__bn_ref_backward(
	    in->y, s->dy, in->dy, s->plane, l->channels, fundus__tensor_data(net, l, BN_GAMMA),
	    fundus__tensor_data(net, l, BN_BETA), s->stats, ctx->batch_stats, FUNDUS__ACT_LINEAR,
	    fundus__grad(ctx, l, BN_GAMMA), fundus__grad(ctx, l, BN_BETA));
}

const struct fundus__layer_type fundus__batchnorm_type = {
    .name = "batchnorm",
    .prefix = "bn",
    .keys = bn_keys,
    .spec_size = 0,
    .build = bn_build,
    .shape = bn_shape,
    .state = bn_state,
    .forward = bn_forward,
    .backward = bn_backward,
    .forward_ref = bn_forward_ref,
    .backward_ref = bn_backward_ref,
    .fold = bn_fold,
};

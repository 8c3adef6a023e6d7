/*
 * Tests of training: optimiser steps against values worked out by hand,
 * the learning-rate schedule, clipping, weight decay that skips batch norm
 * and biases, the moving average, and bit-identical weights from two runs
 * with one seed and one thread count.
 */
#include <stdio.h>

#include "fundus/core.h"
#include "fundus/nn.h"
#include "harness.h"
#include "nnutil.h"

/* y = w x + b on one pixel: dL/dw = x g, dL/db = g for an output gradient g. */
static const char linear_desc[] = "[net]\nwidth=1\nheight=1\nchannels=1\n"
				  "[convolutional]\nfilters=1\nsize=1\n";

struct linear {
	struct fundus_net *net;
	struct fundus_nn_ctx *ctx;
	float *w, *b;
};

static int linear_new(struct linear *m)
{
	struct fundus_nn_ctx_params cp;
	struct fundus_net_tensor t;

	if (fundus_net_new(&m->net, linear_desc, strlen(linear_desc), NULL) < 0)
		return -1;
	fundus_net_tensor(m->net, 0, &t);
	m->w = t.data;
	fundus_net_tensor(m->net, 1, &t);
	m->b = t.data;
	*m->w = 0.5f;
	*m->b = 0.2f;
	fundus_net_touch(m->net);
	fundus_nn_ctx_defaults(&cp);
	cp.mode = FUNDUS_NN_TRAIN;
	return fundus_nn_ctx_new(&m->ctx, m->net, &cp);
}

static void linear_free(struct linear *m)
{
	fundus_nn_ctx_free(m->ctx);
	fundus_net_free(m->net);
}

/* One forward and backward with x = 2, g = 1: dw = 2, db = 1. */
static int linear_grad(struct linear *m)
{
	float x = 2, g = 1;

	if (fundus_nn_forward(m->ctx, &x) < 0 || fundus_nn_set_output_grad(m->ctx, 0, &g) < 0)
		return -1;
	fundus_nn_zero_grad(m->ctx);
	return fundus_nn_backward(m->ctx);
}

TEST(sgd_momentum_and_decay)
{
	struct fundus_nn_optim_params p;
	struct fundus_nn_optim *opt;
	struct linear m;

	CHECK_OK(linear_new(&m));
	fundus_nn_optim_defaults(&p);
	p.lr = 0.1f;
	p.momentum = 0.9f;
	p.weight_decay = 0.01f;
	CHECK_OK(fundus_nn_optim_new(&opt, m.net, &p));
	CHECK_OK(linear_grad(&m));
	CHECK_NEAR(fundus_nn_grad(m.ctx, 0)[0], 2, 1e-6);
	CHECK_NEAR(fundus_nn_grad(m.ctx, 1)[0], 1, 1e-6);
	CHECK_OK(fundus_nn_optim_step(opt, m.ctx, NULL));
	/* g = 2 + 0.01 * 0.5 = 2.005, v = g, w = 0.5 - 0.1 v; the bias has no decay */
	CHECK_NEAR(*m.w, 0.2995, 1e-6);
	CHECK_NEAR(*m.b, 0.1, 1e-6);
	CHECK_OK(linear_grad(&m));
	CHECK_OK(fundus_nn_optim_step(opt, m.ctx, NULL));
	/* g = 2 + 0.01 * 0.2995, v = 0.9 * 2.005 + g = 3.807495 */
	CHECK_NEAR(*m.w, -0.0812495, 1e-6);
	CHECK_NEAR(*m.b, -0.09, 1e-6);
	CHECK_INT_EQ(fundus_nn_optim_steps(opt), 2);
	fundus_nn_optim_free(opt);
	linear_free(&m);
}

TEST(sgd_nesterov)
{
	struct fundus_nn_optim_params p;
	struct fundus_nn_optim *opt;
	struct linear m;

	CHECK_OK(linear_new(&m));
	fundus_nn_optim_defaults(&p);
	p.lr = 0.1f;
	p.momentum = 0.9f;
	p.nesterov = 1;
	p.weight_decay = 0.01f;
	CHECK_OK(fundus_nn_optim_new(&opt, m.net, &p));
	CHECK_OK(linear_grad(&m));
	CHECK_OK(fundus_nn_optim_step(opt, m.ctx, NULL));
	/* v = g = 2.005, step g + 0.9 v = 3.8095 */
	CHECK_NEAR(*m.w, 0.11905, 1e-6);
	/* v = 1, step 1.9 */
	CHECK_NEAR(*m.b, 0.01, 1e-6);
	fundus_nn_optim_free(opt);
	linear_free(&m);
}

TEST(adamw)
{
	struct fundus_nn_optim_params p;
	struct fundus_nn_optim *opt;
	struct linear m;

	CHECK_OK(linear_new(&m));
	fundus_nn_optim_defaults(&p);
	p.kind = FUNDUS_NN_ADAMW;
	p.lr = 0.1f;
	p.weight_decay = 0.01f;
	CHECK_OK(fundus_nn_optim_new(&opt, m.net, &p));
	CHECK_OK(linear_grad(&m));
	CHECK_OK(fundus_nn_optim_step(opt, m.ctx, NULL));
	/* w = 0.5 (1 - 0.1 * 0.01) = 0.4995; m^ = 2, v^ = 4: w -= 0.1 * 2 / 2 */
	CHECK_NEAR(*m.w, 0.3995, 1e-6);
	CHECK_NEAR(*m.b, 0.1, 1e-6);
	CHECK_OK(linear_grad(&m));
	CHECK_OK(fundus_nn_optim_step(opt, m.ctx, NULL));
	/* w = 0.3995 * 0.999; m = 0.38, v = 0.007996: m^ = 2, v^ = 4 again */
	CHECK_NEAR(*m.w, 0.2991005, 1e-6);
	CHECK_NEAR(*m.b, 0.0, 1e-6);
	fundus_nn_optim_free(opt);
	linear_free(&m);
}

TEST(clipping_by_global_norm)
{
	struct fundus_nn_optim_params p;
	struct fundus_nn_optim *opt;
	struct linear m;
	double norm;

	CHECK_OK(linear_new(&m));
	fundus_nn_optim_defaults(&p);
	p.lr = 1;
	p.momentum = 0;
	p.weight_decay = 0;
	p.clip_norm = 1;
	CHECK_OK(fundus_nn_optim_new(&opt, m.net, &p));
	CHECK_OK(linear_grad(&m));
	CHECK_OK(fundus_nn_optim_step(opt, m.ctx, &norm));
	/* |(2, 1)| = sqrt 5; the step is (2, 1) / sqrt 5 */
	CHECK_NEAR(norm, 2.2360680, 1e-6);
	CHECK_NEAR(*m.w, 0.5 - 0.8944272, 1e-6);
	CHECK_NEAR(*m.b, 0.2 - 0.4472136, 1e-6);
	fundus_nn_optim_free(opt);
	linear_free(&m);
}

TEST(schedule_warmup_then_cosine)
{
	struct fundus_nn_optim_params p;

	fundus_nn_optim_defaults(&p);
	CHECK_NEAR(fundus_nn_schedule_lr(&p, 0), 0.01, 1e-9);
	CHECK_NEAR(fundus_nn_schedule_lr(&p, 1000000), 0.01, 1e-9);
	p.lr = 1;
	p.warmup_steps = 10;
	p.warmup_start = 0.1f;
	p.total_steps = 110;
	p.final_lr = 0.01f;
	CHECK_NEAR(fundus_nn_schedule_lr(&p, 0), 0.1, 1e-7);
	CHECK_NEAR(fundus_nn_schedule_lr(&p, 5), 0.55, 1e-7);
	CHECK_NEAR(fundus_nn_schedule_lr(&p, 9), 0.91, 1e-7);
	CHECK_NEAR(fundus_nn_schedule_lr(&p, 10), 1.0, 1e-7);
	/* half way through the decay: 0.01 + 0.99 (1 + cos(pi / 2)) / 2 */
	CHECK_NEAR(fundus_nn_schedule_lr(&p, 60), 0.505, 1e-7);
	/* a quarter: 0.01 + 0.99 (1 + cos(pi / 4)) / 2 = 0.855 */
	CHECK_NEAR(fundus_nn_schedule_lr(&p, 35), 0.8550179, 1e-6);
	CHECK_NEAR(fundus_nn_schedule_lr(&p, 110), 0.01, 1e-7);
	CHECK_NEAR(fundus_nn_schedule_lr(&p, 500), 0.01, 1e-7);
	CHECK_NEAR(fundus_nn_schedule_lr(&p, -3), 0.1, 1e-7);
}

/* Decay shrinks convolution weights and leaves batch norm and biases alone. */
TEST(weight_decay_skips_batchnorm_and_bias)
{
	const char *desc = "[net]\nwidth=4\nheight=4\nchannels=2\n"
			   "[convolutional]\nfilters=3\nsize=3\npad=1\nbatch_normalize=1\n"
			   "[convolutional]\nfilters=2\nsize=1\n";
	struct fundus_net *net = nu_net(desc, 4), *before;
	struct fundus_nn_ctx *ctx;
	struct fundus_nn_ctx_params cp;
	struct fundus_nn_optim_params p;
	struct fundus_nn_optim *opt;
	float x[2 * 16] = {0};

	CHECK(net != NULL);
	CHECK_OK(fundus_net_dup(net, &before));
	fundus_nn_ctx_defaults(&cp);
	cp.mode = FUNDUS_NN_TRAIN_BN_FROZEN;
	CHECK_OK(fundus_nn_ctx_new(&ctx, net, &cp));
	fundus_nn_optim_defaults(&p);
	p.lr = 0.1f;
	p.momentum = 0;
	p.weight_decay = 0.5f;
	CHECK_OK(fundus_nn_optim_new(&opt, net, &p));
	/* No output gradient: every gradient is zero; only decay moves weights. */
	CHECK_OK(fundus_nn_forward(ctx, x));
	fundus_nn_zero_grad(ctx);
	CHECK_OK(fundus_nn_backward(ctx));
	CHECK_OK(fundus_nn_optim_step(opt, ctx, NULL));
	for (int i = 0; i < fundus_net_tensor_count(net); i++) {
		struct fundus_net_tensor a, b;

		fundus_net_tensor(net, i, &a);
		fundus_net_tensor(before, i, &b);
		for (size_t k = 0; k < a.count; k++) {
			double want = strstr(a.name, ".weight") ? b.data[k] * 0.95 : b.data[k];

			CHECK_NEAR(a.data[k], want, 1e-6);
		}
	}
	fundus_nn_optim_free(opt);
	fundus_nn_ctx_free(ctx);
	fundus_net_free(net);
	fundus_net_free(before);
}

TEST(moving_average)
{
	struct fundus_nn_optim_params p;
	struct fundus_nn_optim *opt;
	struct fundus_net *avg;
	struct fundus_net_tensor t;
	struct linear m;

	CHECK_OK(linear_new(&m));
	fundus_nn_optim_defaults(&p);
	p.lr = 0.1f;
	p.momentum = 0;
	p.weight_decay = 0;
	p.ema_decay = 0.9f;
	CHECK_OK(fundus_nn_optim_new(&opt, m.net, &p));
	CHECK_OK(fundus_net_dup(m.net, &avg));
	CHECK_OK(linear_grad(&m));
	CHECK_OK(fundus_nn_optim_step(opt, m.ctx, NULL));
	/* w: 0.5 -> 0.3; the decay ramps up as min(0.9, 2 / 11) after one step */
	CHECK_NEAR(*m.w, 0.3, 1e-6);
	CHECK_OK(fundus_nn_optim_ema_copy(opt, avg));
	fundus_net_tensor(avg, 0, &t);
	CHECK_NEAR(t.data[0], 2.0 / 11 * 0.5 + 9.0 / 11 * 0.3, 1e-6);
	for (int s = 0; s < 200; s++) {
		CHECK_OK(linear_grad(&m));
		CHECK_OK(fundus_nn_optim_step(opt, m.ctx, NULL));
	}
	/* w falls by 0.2 a step; the average lags by about 0.2 d / (1 - d) = 1.8 */
	CHECK_OK(fundus_nn_optim_ema_copy(opt, avg));
	CHECK_NEAR(t.data[0] - *m.w, 1.8, 0.01);
	fundus_nn_optim_free(opt);
	p.ema_decay = 0;
	CHECK_OK(fundus_nn_optim_new(&opt, m.net, &p));
	CHECK_INT_EQ(fundus_nn_optim_ema_copy(opt, avg), FUNDUS_EINVAL);
	fundus_nn_optim_free(opt);
	fundus_net_free(avg);
	linear_free(&m);
}

/* A small detector in the style of yolov3-tiny. */
static const char tiny_desc[] =
    "[net]\nwidth=32\nheight=32\nchannels=3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\npad=1\nactivation=leaky\n"
    "[maxpool]\nsize=2\nstride=2\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\npad=1\nactivation=leaky\n"
    "[maxpool]\nsize=2\nstride=2\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=2\npad=1\nactivation=silu\n"
    "[convolutional]\nfilters=6\nsize=1\n"
    "[yolo]\nmask=0\nanchors=4,4, 8,8\nclasses=1\nnum=2\n"
    "[route]\nlayers=-3\n"
    "[upsample]\n"
    "[route]\nlayers=-1,3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\npad=1\ngroups=4\nactivation=leaky\n"
    "[convolutional]\nfilters=6\nsize=1\n"
    "[yolo]\nmask=1\nanchors=4,4, 8,8\nclasses=1\nnum=2\n";

/*
 * Trains tiny_desc for steps steps of a squared loss towards fixed random
 * targets; returns the network and the first and last losses.
 */
static struct fundus_net *train(int threads, int steps, enum fundus_nn_optim_kind kind,
				double *first, double *last)
{
	struct fundus_net_params np;
	struct fundus_net *net;
	struct fundus_nn_ctx *ctx;
	struct fundus_nn_ctx_params cp;
	struct fundus_nn_optim_params op;
	struct fundus_nn_optim *opt;
	struct fundus_rng rng;
	float *x, *t[2], *y;
	size_t n[2];

	fundus_net_defaults(&np);
	np.seed = 77;
	if (fundus_net_new(&net, tiny_desc, strlen(tiny_desc), &np) < 0)
		return NULL;
	fundus_nn_ctx_defaults(&cp);
	cp.mode = FUNDUS_NN_TRAIN;
	cp.batch = 4;
	cp.threads = threads;
	cp.deterministic = 1;
	fundus_nn_optim_defaults(&op);
	op.kind = kind;
	op.lr = kind == FUNDUS_NN_SGD ? 0.02f : 0.003f;
	op.warmup_steps = 2;
	op.total_steps = steps;
	op.clip_norm = 10;
	op.ema_decay = 0.99f;
	if (fundus_nn_ctx_new(&ctx, net, &cp) < 0 || fundus_nn_optim_new(&opt, net, &op) < 0)
		return NULL;
	fundus_rng_seed(&rng, 3);
	x = nu_random(&rng, 4 * 3 * 32 * 32, 1);
	for (int i = 0; i < 2; i++) {
		n[i] = nu_out_count(ctx, i);
		t[i] = nu_random(&rng, n[i], 0.5);
	}
	y = malloc(n[1] * sizeof *y);
	for (int s = 0; s < steps; s++) {
		double loss = 0;

		fundus_nn_forward(ctx, x);
		for (int i = 0; i < 2; i++) {
			fundus_nn_get_output(ctx, i, y);
			for (size_t k = 0; k < n[i]; k++) {
				y[k] -= t[i][k];
				loss += 0.5 * y[k] * y[k];
				y[k] /= 4; /* the mean over the batch */
			}
			fundus_nn_set_output_grad(ctx, i, y);
		}
		if (s == 0)
			*first = loss;
		*last = loss;
		fundus_nn_zero_grad(ctx);
		fundus_nn_backward(ctx);
		fundus_nn_optim_step(opt, ctx, NULL);
	}
	free(x);
	free(y);
	free(t[0]);
	free(t[1]);
	fundus_nn_optim_free(opt);
	fundus_nn_ctx_free(ctx);
	return net;
}

/* Bit-identical tensors. */
static int identical(const struct fundus_net *a, const struct fundus_net *b)
{
	for (int i = 0; i < fundus_net_tensor_count(a); i++) {
		struct fundus_net_tensor ta, tb;

		fundus_net_tensor(a, i, &ta);
		fundus_net_tensor(b, i, &tb);
		if (memcmp(ta.data, tb.data, ta.count * sizeof(float)) != 0)
			return 0;
	}
	return 1;
}

TEST(deterministic_training)
{
	for (int threads = 1; threads <= 2; threads++)
		for (int kind = 0; kind < 2; kind++) {
			double f1, l1, f2, l2;
			struct fundus_net *a = train(threads, 6, kind, &f1, &l1);
			struct fundus_net *b = train(threads, 6, kind, &f2, &l2);

			CHECK(a && b);
			CHECK(identical(a, b));
			CHECK(f1 == f2 && l1 == l2);
			fundus_net_free(a);
			fundus_net_free(b);
		}
}

TEST(training_lowers_the_loss)
{
	double first, last;
	struct fundus_net *net = train(2, 25, FUNDUS_NN_SGD, &first, &last);

	CHECK(net != NULL);
	if (getenv("NN_VERBOSE"))
		printf("sgd: loss %g -> %g\n", first, last);
	CHECK(last < 0.8 * first);
	fundus_net_free(net);
	net = train(2, 25, FUNDUS_NN_ADAMW, &first, &last);
	if (getenv("NN_VERBOSE"))
		printf("adamw: loss %g -> %g\n", first, last);
	CHECK(last < 0.8 * first);
	fundus_net_free(net);
}

/* A saved state resumes exactly; one that does not fit is refused, nothing changed. */
TEST(optimiser_state)
{
	struct fundus_nn_optim_params p;
	struct fundus_nn_optim *a, *b, *sgd;
	struct linear m;
	uint8_t *st, *bad;
	size_t len;
	float w1, b1;

	CHECK_OK(linear_new(&m));
	fundus_nn_optim_defaults(&p);
	p.kind = FUNDUS_NN_ADAMW;
	p.lr = 0.1f;
	p.ema_decay = 0.9f;
	CHECK_OK(fundus_nn_optim_new(&a, m.net, &p));
	CHECK_OK(fundus_nn_optim_new(&b, m.net, &p));
	CHECK_OK(linear_grad(&m));
	CHECK_OK(fundus_nn_optim_step(a, m.ctx, NULL));
	CHECK_OK(fundus_nn_optim_save_state(a, &st, &len));
	CHECK_OK(fundus_nn_optim_load_state(b, st, len));
	CHECK_INT_EQ(fundus_nn_optim_steps(b), 1);
	/* The same second step from a and from b, on the same weights. */
	CHECK_OK(linear_grad(&m));
	w1 = *m.w;
	b1 = *m.b;
	CHECK_OK(fundus_nn_optim_step(a, m.ctx, NULL));
	{
		float wa = *m.w, ba = *m.b;

		*m.w = w1;
		*m.b = b1;
		fundus_net_touch(m.net);
		CHECK_OK(fundus_nn_optim_step(b, m.ctx, NULL));
		CHECK(*m.w == wa);
		CHECK(*m.b == ba);
	}

	bad = malloc(len + 1);
	memcpy(bad, st, len);
	bad[0] = 'X';
	CHECK_INT_EQ(fundus_nn_optim_load_state(b, bad, len), FUNDUS_EFORMAT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "not an optimiser state");
	CHECK_INT_EQ(fundus_nn_optim_load_state(b, st, 10), FUNDUS_EFORMAT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "not an optimiser state");
	memcpy(bad, st, len);
	bad[16] = 7;
	CHECK_INT_EQ(fundus_nn_optim_load_state(b, bad, len), FUNDUS_EFORMAT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "for 7 tensors, the network has 2");
	memcpy(bad, st, len);
	bad[15] = 0x80;
	CHECK_INT_EQ(fundus_nn_optim_load_state(b, bad, len), FUNDUS_EFORMAT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "steps");
	CHECK_INT_EQ(fundus_nn_optim_load_state(b, st, len - 1), FUNDUS_EFORMAT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "truncated");
	memcpy(bad, st, len);
	bad[len] = 0;
	CHECK_INT_EQ(fundus_nn_optim_load_state(b, bad, len + 1), FUNDUS_EFORMAT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "1 extra bytes");
	/* An SGD optimiser without a moving average holds other buffers. */
	fundus_nn_optim_defaults(&p);
	CHECK_OK(fundus_nn_optim_new(&sgd, m.net, &p));
	CHECK_INT_EQ(fundus_nn_optim_load_state(sgd, st, len), FUNDUS_EFORMAT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "does not match the optimiser (tensor ");
	CHECK_INT_EQ(fundus_nn_optim_steps(sgd), 0);
	/* The failed loads left b as it was: two steps. */
	CHECK_INT_EQ(fundus_nn_optim_steps(b), 2);

	free(bad);
	fundus_free(st);
	fundus_nn_optim_free(sgd);
	fundus_nn_optim_free(a);
	fundus_nn_optim_free(b);
	linear_free(&m);
}

/* Per-layer shapes and times, and the moved end of the schedule. */
TEST(profile_shapes_and_total_steps)
{
	struct fundus_nn_optim_params p;
	struct fundus_nn_ctx_params cp;
	struct fundus_nn_optim *opt;
	struct fundus_nn_ctx *ctx;
	struct linear m;
	int ls[4], os[4];
	double f = -1, b = -1;
	float x = 2, g = 1;

	CHECK_OK(linear_new(&m));
	CHECK_OK(fundus_nn_layer_shape(m.ctx, 0, ls));
	CHECK_OK(fundus_nn_output_shape(m.ctx, 0, os));
	CHECK(memcmp(ls, os, sizeof ls) == 0);
	CHECK_INT_EQ(fundus_nn_layer_shape(m.ctx, 1, ls), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "no layer 1");
	/* Without profile, zeros. */
	CHECK_OK(linear_grad(&m));
	CHECK_OK(fundus_nn_layer_seconds(m.ctx, 0, &f, &b));
	CHECK(f == 0 && b == 0);
	CHECK_INT_EQ(fundus_nn_layer_seconds(m.ctx, -1, &f, &b), FUNDUS_EINVAL);

	fundus_nn_ctx_defaults(&cp);
	cp.mode = FUNDUS_NN_TRAIN;
	cp.profile = 3;
	CHECK_INT_EQ(fundus_nn_ctx_new(&ctx, m.net, &cp), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "bad profile 3");
	cp.profile = 2;
	CHECK_OK(fundus_nn_ctx_new(&ctx, m.net, &cp));
	CHECK_OK(fundus_nn_forward(ctx, &x));
	CHECK_OK(fundus_nn_set_output_grad(ctx, 0, &g));
	CHECK_OK(fundus_nn_backward(ctx));
	CHECK_OK(fundus_nn_layer_seconds(ctx, 0, &f, &b));
	CHECK(f >= 0 && b >= 0);
	fundus_nn_reset_profile(ctx);
	CHECK_OK(fundus_nn_layer_seconds(ctx, 0, &f, &b));
	CHECK(f == 0 && b == 0);
	fundus_nn_ctx_free(ctx);

	/* Plain SGD whose decay would end after one step; moved, it does not. */
	fundus_nn_optim_defaults(&p);
	p.momentum = 0;
	p.total_steps = 1;
	CHECK_OK(fundus_nn_optim_new(&opt, m.net, &p));
	CHECK_OK(linear_grad(&m));
	CHECK_OK(fundus_nn_optim_step(opt, m.ctx, NULL));
	CHECK_NEAR(*m.w, 0.5 - 0.01 * (2 + 5e-4 * 0.5), 1e-6);
	CHECK_INT_EQ(fundus_nn_optim_set_total_steps(opt, -1), FUNDUS_EINVAL);
	CHECK_OK(fundus_nn_optim_set_total_steps(opt, 0));
	{
		float w1 = *m.w;

		CHECK_OK(linear_grad(&m));
		CHECK_OK(fundus_nn_optim_step(opt, m.ctx, NULL));
		CHECK_NEAR(*m.w, w1 - 0.01 * (2 + 5e-4 * w1), 1e-6);
	}
	fundus_nn_optim_free(opt);
	linear_free(&m);
}

TEST(bad_uses)
{
	struct fundus_nn_ctx_params cp;
	struct fundus_nn_optim_params p;
	struct fundus_nn_optim *opt;
	struct fundus_nn_ctx *ctx;
	struct linear m, other;
	float g = 1;

	CHECK_OK(linear_new(&m));
	CHECK_OK(linear_new(&other));
	fundus_nn_optim_defaults(&p);
	CHECK_OK(fundus_nn_optim_new(&opt, m.net, &p));
	CHECK_INT_EQ(fundus_nn_optim_step(opt, other.ctx, NULL), FUNDUS_EINVAL);
	fundus_nn_optim_free(opt);
	p.momentum = 1;
	CHECK_INT_EQ(fundus_nn_optim_new(&opt, m.net, &p), FUNDUS_EINVAL);
	fundus_nn_ctx_defaults(&cp);
	cp.threading = FUNDUS_NN_BLAS_THREADS;
	cp.threads = 2;
	cp.deterministic = 1;
	CHECK_INT_EQ(fundus_nn_ctx_new(&ctx, m.net, &cp), FUNDUS_EINVAL);
	cp.deterministic = 0;
	cp.batch = 0;
	CHECK_INT_EQ(fundus_nn_ctx_new(&ctx, m.net, &cp), FUNDUS_EINVAL);
	cp.batch = 1;
	CHECK_OK(fundus_nn_ctx_new(&ctx, m.net, &cp));
	CHECK_INT_EQ(fundus_nn_backward(ctx), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_nn_set_output_grad(ctx, 0, &g), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_nn_get_input_grad(ctx, &g), FUNDUS_EINVAL);
	CHECK(fundus_nn_blas_core()[0] != '\0');
	fundus_nn_ctx_free(ctx);
	linear_free(&m);
	linear_free(&other);
}

int main(int argc, char **argv)
{
	RUN(sgd_momentum_and_decay);
	RUN(sgd_nesterov);
	RUN(adamw);
	RUN(clipping_by_global_norm);
	RUN(schedule_warmup_then_cosine);
	RUN(weight_decay_skips_batchnorm_and_bias);
	RUN(moving_average);
	RUN(deterministic_training);
	RUN(training_lowers_the_loss);
	RUN(optimiser_state);
	RUN(profile_shapes_and_total_steps);
	RUN(bad_uses);
	return harness_done();
}

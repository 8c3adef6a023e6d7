/*
 * Tests of the network layers: every layer's gradients against finite
 * differences, in both compute paths (and batch norm in both of its
 * modes); and the fast path against the reference path on random shapes
 * (stride, padding, dilation, groups, depthwise, odd sizes, batches).
 */
#include <stdio.h>

#include "fundus/core.h"
#include "fundus/nn.h"
#include "harness.h"
#include "nnutil.h"

/* What a gradient check found. */
struct gc_result {
	int checked, skipped, failed;
	char first[256];
};

struct gc_state {
	struct fundus_nn_ctx *ctx;
	float *x;
	float **r;
	int nout;
	struct gc_result *res;
};

/* Compares an analytic derivative with the central difference at *v. */
static void gc_point(struct gc_state *st, float *v, double analytic, const char *what, size_t index,
		     struct fundus_net *net)
{
	static const double hs[2] = {1e-2, 1e-3};
	double num = 0;
	float save = *v;

	st->res->checked++;
	for (int k = 0; k < 2; k++) {
		float up = (float)(save + hs[k]), down = (float)(save - hs[k]);
		double lp, lm, l0;

		*v = up;
		if (net)
			fundus_net_touch(net);
		lp = nu_loss(st->ctx, st->x, st->r, st->nout);
		*v = down;
		if (net)
			fundus_net_touch(net);
		lm = nu_loss(st->ctx, st->x, st->r, st->nout);
		*v = save;
		if (net)
			fundus_net_touch(net);
		num = (lp - lm) / ((double)up - (double)down);
		if (fabs(analytic - num) <= 2e-3 + 2e-2 * fmax(fabs(analytic), fabs(num)))
			return;
		if (k == 1) {
			/* Disagreeing one-sided slopes: a kink (relu, max) lies within h. */
			double fwd, bwd;

			l0 = nu_loss(st->ctx, st->x, st->r, st->nout);
			fwd = (lp - l0) / ((double)up - save);
			bwd = (l0 - lm) / ((double)save - down);
			if (fabs(fwd - bwd) > 0.05 * fmax(1, fabs(num))) {
				st->res->skipped++;
				return;
			}
		}
	}
	if (st->res->failed++ == 0)
		snprintf(st->res->first, sizeof st->res->first,
			 "%s[%zu]: analytic %.6g, numeric %.6g", what, index, analytic, num);
}

/*
 * Checks the gradients of the input and of every trainable tensor of the
 * network desc at a sample of points.
 */
static int grad_check(const char *desc, int batch, int h, int w, enum fundus_nn_mode mode,
		      enum fundus_nn_path path, int threads, struct gc_result *res)
{
	struct fundus_nn_ctx_params cp;
	struct fundus_net *net = nu_net(desc, 7);
	struct gc_state st = {0};
	struct fundus_rng rng;
	float *r[8] = {0}, *dx;
	size_t nin;

	memset(res, 0, sizeof *res);
	if (net == NULL) {
		snprintf(res->first, sizeof res->first, "net: %s", fundus_errmsg());
		return -1;
	}
	fundus_nn_ctx_defaults(&cp);
	cp.mode = mode;
	cp.path = path;
	cp.batch = batch;
	cp.width = w;
	cp.height = h;
	cp.threads = threads;
	cp.input_grad = 1;
	if (fundus_nn_ctx_new(&st.ctx, net, &cp) < 0) {
		snprintf(res->first, sizeof res->first, "ctx: %s", fundus_errmsg());
		fundus_net_free(net);
		return -1;
	}
	fundus_rng_seed(&rng, 99);
	nin = nu_in_count(st.ctx);
	st.x = nu_random(&rng, nin, 1.0);
	st.nout = fundus_net_output_count(net);
	for (int i = 0; i < st.nout; i++)
		r[i] = nu_random(&rng, nu_out_count(st.ctx, i), 1.0);
	st.r = r;
	st.res = res;
	nu_loss(st.ctx, st.x, r, st.nout);
	for (int i = 0; i < st.nout; i++)
		fundus_nn_set_output_grad(st.ctx, i, r[i]);
	fundus_nn_zero_grad(st.ctx);
	fundus_nn_backward(st.ctx);
	dx = malloc(nin * sizeof *dx);
	fundus_nn_get_input_grad(st.ctx, dx);
	for (int i = 0; i < fundus_net_tensor_count(net); i++) {
		/* Copy: the checks below run forward passes, not backward ones. */
		const float *g = fundus_nn_grad(st.ctx, i);
		struct fundus_net_tensor t;
		float *gc;

		fundus_net_tensor(net, i, &t);
		if (g == NULL)
			continue;
		gc = malloc(t.count * sizeof *gc);
		memcpy(gc, g, t.count * sizeof *gc);
		for (size_t k = 0; k < t.count; k += t.count / 10 + 1)
			gc_point(&st, &t.data[k], gc[k], t.name, k, net);
		free(gc);
	}
	for (size_t k = 0; k < nin; k += nin / 24 + 1)
		gc_point(&st, &st.x[k], dx[k], "input", k, NULL);
	free(dx);
	free(st.x);
	for (int i = 0; i < st.nout; i++)
		free(r[i]);
	fundus_nn_ctx_free(st.ctx);
	fundus_net_free(net);
	return res->failed || res->skipped * 4 > res->checked ? -1 : 0;
}

#define NET(c) "[net]\nwidth=8\nheight=8\nchannels=" #c "\n"

static const struct {
	const char *name;
	const char *desc;
	int batch, h, w;
} cases[] = {
    {"conv3x3_bias", NET(3) "[convolutional]\nfilters=4\nsize=3\npad=1\n", 2, 5, 6},
    {"conv_stride_dilation_groups_leaky",
     NET(4) "[convolutional]\nfilters=6\nsize=3\nstride=2\npadding=2\ndilation=2\ngroups=2\n"
	    "activation=leaky\n",
     2, 7, 9},
    {"conv_depthwise_relu",
     NET(3) "[convolutional]\nfilters=3\nsize=3\npad=1\ngroups=3\n"
	    "activation=relu\n",
     2, 6, 5},
    {"conv_pointwise_sigmoid",
     NET(5) "[convolutional]\nfilters=3\nsize=1\n"
	    "activation=sigmoid\n",
     2, 4, 3},
    {"conv_5x5_stride3_silu",
     NET(2) "[convolutional]\nfilters=3\nsize=5\nstride=3\npadding=1\n"
	    "activation=silu\n",
     1, 9, 8},
    {"conv_bn_leaky",
     NET(3) "[convolutional]\nfilters=4\nsize=3\npad=1\nbatch_normalize=1\n"
	    "activation=leaky\n",
     2, 5, 4},
    {"conv_bn_silu",
     NET(2) "[convolutional]\nfilters=3\nsize=3\nstride=2\npad=1\n"
	    "batch_normalize=1\nactivation=silu\n",
     3, 6, 5},
    {"batchnorm", NET(3) "[batchnorm]\n", 2, 4, 5},
    {"activation_relu", NET(2) "[activation]\nactivation=relu\n", 2, 3, 4},
    {"activation_leaky", NET(2) "[activation]\nactivation=leaky\n", 2, 3, 4},
    {"activation_silu", NET(2) "[activation]\nactivation=silu\n", 2, 3, 4},
    {"activation_sigmoid", NET(2) "[activation]\nactivation=logistic\n", 2, 3, 4},
    {"maxpool_2x2", NET(2) "[maxpool]\nsize=2\nstride=2\n", 2, 6, 5},
    {"maxpool_3x3_stride1_padded", NET(2) "[maxpool]\nsize=3\nstride=1\npadding=2\n", 1, 5, 4},
    {"maxpool_2x2_stride1", NET(2) "[maxpool]\nsize=2\nstride=1\n", 2, 4, 4},
    {"avgpool_3x3_stride2", NET(2) "[avgpool]\nsize=3\nstride=2\npadding=1\n", 2, 7, 6},
    {"globalavgpool", NET(3) "[globalavgpool]\n", 2, 5, 3},
    {"upsample_2", NET(2) "[upsample]\nstride=2\n", 2, 3, 2},
    {"upsample_3", NET(1) "[upsample]\nstride=3\n", 1, 2, 3},
    {"route_concat",
     NET(2) "[convolutional]\nfilters=3\nsize=1\n[convolutional]\nfilters=2\n"
	    "size=3\npad=1\n[route]\nlayers=-1,0\n",
     2, 4, 3},
    {"route_group",
     NET(2) "[convolutional]\nfilters=4\nsize=1\n[route]\nlayers=0\ngroups=2\n"
	    "group_id=1\n",
     1, 3, 3},
    {"shortcut_leaky",
     NET(2) "[convolutional]\nfilters=3\nsize=1\n[convolutional]\nfilters=3\n"
	    "size=3\npad=1\n[shortcut]\nfrom=-2\nactivation=leaky\n",
     2, 3, 4},
    {"yolo_heads",
     NET(2) "[convolutional]\nfilters=12\nsize=1\n[yolo]\nmask=0,1\n"
	    "anchors=1,2,3,4,5,6\nclasses=1\nnum=3\n[route]\nlayers=0\n"
	    "[convolutional]\nfilters=6\nsize=3\npad=1\n[yolo]\nmask=2\n"
	    "anchors=1,2,3,4,5,6\nclasses=1\nnum=3\n",
     2, 3, 3},
};

/* Runs every case in one mode and path. */
static int check_cases(enum fundus_nn_mode mode, enum fundus_nn_path path, int threads)
{
	int bad = 0;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct gc_result res;

		if (grad_check(cases[i].desc, cases[i].batch, cases[i].h, cases[i].w, mode, path,
			       threads, &res) < 0) {
			fprintf(stderr,
				"%s (mode %d, %s, %d threads): %d of %d failed, %d skipped; %s\n",
				cases[i].name, (int)mode, path ? "reference" : "fast", threads,
				res.failed, res.checked, res.skipped, res.first);
			bad++;
		} else if (getenv("NN_VERBOSE")) {
			printf("%s: %d checked, %d skipped\n", cases[i].name, res.checked,
			       res.skipped);
		}
	}
	return bad;
}

TEST(gradients_reference_path)
{
	CHECK_INT_EQ(check_cases(FUNDUS_NN_TRAIN, FUNDUS_NN_REFERENCE, 1), 0);
}

TEST(gradients_fast_path)
{
	CHECK_INT_EQ(check_cases(FUNDUS_NN_TRAIN, FUNDUS_NN_FAST, 1), 0);
}

TEST(gradients_fast_path_two_threads)
{
	CHECK_INT_EQ(check_cases(FUNDUS_NN_TRAIN, FUNDUS_NN_FAST, 2), 0);
}

/* Batch norm with running statistics (its inference form), with gradients. */
TEST(gradients_batchnorm_frozen)
{
	static const char *const descs[] = {
	    NET(3) "[batchnorm]\n",
	    NET(3) "[convolutional]\nfilters=4\nsize=3\npad=1\nbatch_normalize=1\n"
		   "activation=silu\n",
	};

	for (int p = 0; p < 2; p++)
		for (int i = 0; i < 2; i++) {
			struct gc_result res;
			int rc =
			    grad_check(descs[i], 2, 4, 5, FUNDUS_NN_TRAIN_BN_FROZEN, p, 2, &res);

			if (rc < 0)
				fprintf(stderr, "%s\n", res.first);
			CHECK_INT_EQ(rc, 0);
		}
}

/* Largest |a - b| over n values, and the largest |b|. */
static double max_diff(const float *a, const float *b, size_t n, double *scale)
{
	double d = 0;

	*scale = 0;
	for (size_t i = 0; i < n; i++) {
		d = fmax(d, fabs((double)a[i] - b[i]));
		*scale = fmax(*scale, fabs((double)b[i]));
	}
	return d;
}

/* Runs one network in both paths and compares outputs and gradients. */
static int compare_paths(const char *desc, int batch, int h, int w, enum fundus_nn_mode mode,
			 int threads, char *why, size_t whylen)
{
	struct fundus_net *net = nu_net(desc, 3);
	struct fundus_nn_ctx *c[2] = {0};
	struct fundus_rng rng;
	float *x = NULL, *r[8] = {0}, *y[2] = {0}, *g[2] = {0};
	int nout, bad = 0;
	size_t nin;

	if (net == NULL) {
		snprintf(why, whylen, "net: %s", fundus_errmsg());
		return -1;
	}
	for (int p = 0; p < 2; p++) {
		struct fundus_nn_ctx_params cp;

		fundus_nn_ctx_defaults(&cp);
		cp.mode = mode;
		cp.path = p ? FUNDUS_NN_REFERENCE : FUNDUS_NN_FAST;
		cp.batch = batch;
		cp.width = w;
		cp.height = h;
		cp.threads = threads;
		cp.input_grad = 1;
		if (fundus_nn_ctx_new(&c[p], net, &cp) < 0) {
			snprintf(why, whylen, "ctx: %s", fundus_errmsg());
			fundus_nn_ctx_free(c[0]);
			fundus_net_free(net);
			return -1;
		}
	}
	fundus_rng_seed(&rng, 5);
	nin = nu_in_count(c[0]);
	x = nu_random(&rng, nin, 1.0);
	nout = fundus_net_output_count(net);
	for (int i = 0; i < nout; i++)
		r[i] = nu_random(&rng, nu_out_count(c[0], i), 1.0);
	for (int p = 0; p < 2; p++)
		fundus_nn_forward(c[p], x);
	for (int i = 0; i < nout && !bad; i++) {
		size_t n = nu_out_count(c[0], i);
		double d, s;

		for (int p = 0; p < 2; p++) {
			y[p] = malloc(n * sizeof(float));
			fundus_nn_get_output(c[p], i, y[p]);
		}
		d = max_diff(y[0], y[1], n, &s);
		if (d > 1e-4 * (1 + s)) {
			snprintf(why, whylen, "output %d differs by %g (scale %g)", i, d, s);
			bad = 1;
		}
		free(y[0]);
		free(y[1]);
	}
	if (mode != FUNDUS_NN_INFER && !bad) {
		for (int p = 0; p < 2; p++) {
			for (int i = 0; i < nout; i++)
				fundus_nn_set_output_grad(c[p], i, r[i]);
			fundus_nn_zero_grad(c[p]);
			fundus_nn_backward(c[p]);
			g[p] = malloc(nin * sizeof(float));
			fundus_nn_get_input_grad(c[p], g[p]);
		}
		{
			double s, d = max_diff(g[0], g[1], nin, &s);

			if (d > 1e-3 * (1e-3 + s)) {
				snprintf(why, whylen, "input gradient differs by %g (scale %g)", d,
					 s);
				bad = 1;
			}
		}
		for (int t = 0; t < fundus_net_tensor_count(net) && !bad; t++) {
			struct fundus_net_tensor tn;
			double s, d;

			fundus_net_tensor(net, t, &tn);
			if (fundus_nn_grad(c[0], t) == NULL)
				continue;
			d = max_diff(fundus_nn_grad(c[0], t), fundus_nn_grad(c[1], t), tn.count,
				     &s);
			if (d > 1e-3 * (1e-3 + s)) {
				snprintf(why, whylen, "gradient of %s differs by %g (scale %g)",
					 tn.name, d, s);
				bad = 1;
			}
		}
		free(g[0]);
		free(g[1]);
	}
	free(x);
	for (int i = 0; i < nout; i++)
		free(r[i]);
	fundus_nn_ctx_free(c[0]);
	fundus_nn_ctx_free(c[1]);
	fundus_net_free(net);
	return bad ? -1 : 0;
}

/* Random convolutions (and a pointwise one and a pool after them), both paths agree. */
TEST(fast_path_matches_reference_on_random_shapes)
{
	static const char *const acts[] = {"linear", "relu", "leaky", "silu", "logistic"};
	struct fundus_rng rng;

	fundus_rng_seed(&rng, 2024);
	for (int iter = 0; iter < 60; iter++) {
		int g = 1 + (int)fundus_rng_below(&rng, 3);
		int depthwise = fundus_rng_below(&rng, 5) == 0;
		int ci = depthwise ? 1 : 1 + (int)fundus_rng_below(&rng, 4);
		int mi = depthwise ? 1 : 1 + (int)fundus_rng_below(&rng, 4);
		int k = 1 + (int)fundus_rng_below(&rng, 5);
		int d = k > 1 ? 1 + (int)fundus_rng_below(&rng, 3) : 1;
		int p = (int)fundus_rng_below(&rng, (uint64_t)k + 1);
		int s = 1 + (int)fundus_rng_below(&rng, 3);
		int span = d * (k - 1) + 1;
		int h = span - 2 * p > 1 ? span - 2 * p : 1, w;
		int bn = (int)fundus_rng_below(&rng, 2), batch = 1 + (int)fundus_rng_below(&rng, 3);
		int extra = (int)fundus_rng_below(&rng, 3);
		const char *act = acts[fundus_rng_below(&rng, 5)];
		enum fundus_nn_mode mode = (enum fundus_nn_mode)fundus_rng_below(&rng, 3);
		char desc[1024], why[256];
		int n;

		if (depthwise)
			g = 1 + (int)fundus_rng_below(&rng, 6);
		w = h + (int)fundus_rng_below(&rng, 9);
		h += (int)fundus_rng_below(&rng, 9);
		n = snprintf(desc, sizeof desc,
			     "[net]\nwidth=%d\nheight=%d\nchannels=%d\n"
			     "[convolutional]\nfilters=%d\nsize=%d\nstride=%d\npadding=%d\n"
			     "dilation=%d\ngroups=%d\nbatch_normalize=%d\nactivation=%s\n",
			     w, h, g * ci, g * mi, k, s, p, d, g, bn, act);
		if (extra == 1)
			snprintf(desc + n, sizeof desc - (size_t)n,
				 "[convolutional]\nfilters=3\nsize=1\nbatch_normalize=%d\n"
				 "activation=leaky\n",
				 1 - bn);
		else if (extra == 2)
			snprintf(desc + n, sizeof desc - (size_t)n,
				 "[maxpool]\nsize=2\nstride=1\n");
		for (int threads = 1; threads <= 2; threads++) {
			int rc = compare_paths(desc, batch, h, w, mode, threads, why, sizeof why);

			if (rc < 0)
				fprintf(stderr, "case %d (mode %d, %d threads):\n%s-> %s\n", iter,
					(int)mode, threads, desc, why);
			CHECK_INT_EQ(rc, 0);
		}
	}
}

/* Shapes large enough for the tiled and chunked schedules of the fast path. */
TEST(fast_path_matches_reference_on_larger_shapes)
{
	static const char *const descs[] = {
	    /* few input channels: column chunks with partial sums */
	    "[net]\nwidth=40\nheight=36\nchannels=1\n[convolutional]\nfilters=8\nsize=3\n"
	    "pad=1\nbatch_normalize=1\nactivation=leaky\n[maxpool]\n",
	    /* many input channels: channel blocks */
	    "[net]\nwidth=20\nheight=18\nchannels=12\n[convolutional]\nfilters=16\nsize=3\n"
	    "stride=2\npad=1\nactivation=silu\n[convolutional]\nfilters=8\nsize=1\n",
	    /* many filters: dW not made transposed */
	    "[net]\nwidth=6\nheight=5\nchannels=4\n[convolutional]\nfilters=300\nsize=3\npad=1\n"
	    "batch_normalize=1\nactivation=leaky\n[convolutional]\nfilters=260\nsize=1\n",
	};
	static const int sizes[][2] = {{36, 40}, {18, 20}, {5, 6}};
	char why[256];

	for (int i = 0; i < 3; i++)
		for (int mode = 0; mode < 2; mode++)
			for (int threads = 1; threads <= 2; threads++) {
				int rc = compare_paths(descs[i], 3, sizes[i][0], sizes[i][1], mode,
						       threads, why, sizeof why);

				if (rc < 0)
					fprintf(stderr, "net %d mode %d threads %d: %s\n", i, mode,
						threads, why);
				CHECK_INT_EQ(rc, 0);
			}
}

int main(int argc, char **argv)
{
	RUN(gradients_reference_path);
	RUN(gradients_fast_path);
	RUN(gradients_fast_path_two_threads);
	RUN(gradients_batchnorm_frozen);
	RUN(fast_path_matches_reference_on_random_shapes);
	RUN(fast_path_matches_reference_on_larger_shapes);
	return harness_done();
}

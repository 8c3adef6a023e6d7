/*
 * Speed of the network engine on yolov3-tiny (one class), for bench/engine:
 *
 *   bench_engine train  [-t THREADS] [-b BATCH] [-s SIZE] [-r RUNS] [-n STEPS] [--blas]
 *   bench_engine infer  [-t THREADS] [-s SIZE] [-r RUNS] [-n PASSES] [--blas]
 *   bench_engine layers [-t THREADS] [-s SIZE] [-b BATCH] [-r RUNS]
 *   bench_engine kernel
 *
 * train: images per second of whole SGD steps (forward, backward, update)
 * on random images with random output gradients; infer: milliseconds per
 * image of a forward pass; layers: each convolution's time in our engine
 * against cblas_sgemm alone on the same matrix shapes (OpenBLAS given the
 * threads), for inference and for the three products of a training step,
 * and the bounds the products alone put on the whole network.
 *
 * --cpu-time measures processor time instead of wall time (one thread only).
 * --net NAME measures another built-in network (train and infer).
 * kernel: prints the matrix-product kernel the engine runs
 * (fundus_nn_gemm_name(): ours, or OpenBLAS's with its core), which train
 * and infer also print on stderr.
 *
 * Every run is printed as it is measured; the last line of each
 * measurement is "RESULT name value value ..." (one value per run), which
 * bench/engine gathers into its table.
 */
#include <cblas.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fundus/nn.h"
#include "fundus/rng.h"

static int threads = 1, batch = 0, size = 256, runs = 5, steps = 0, blas, profile, cpu_time;
static const char *net_name = "yolov3-tiny";

/*
 * Seconds on the wall clock, or (--cpu-time) of the process's processor time:
 * on a machine that others load, that counts our work and not our waiting,
 * but it sums over threads, so it only means time with one thread.
 */
static double now(void)
{
	struct timespec ts;

	clock_gettime(cpu_time ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Reports the library's error and exits. */
static void die(const char *what)
{
	fprintf(stderr, "bench_engine: %s: %s\n", what, fundus_errmsg());
	exit(1);
}

/* n floats uniform in [-1, 1) (malloc'd). */
static float *randoms(size_t n, uint64_t seed)
{
	struct fundus_rng r;
	float *v = malloc(n * sizeof *v);

	if (v == NULL)
		exit(1);
	fundus_rng_seed(&r, seed);
	for (size_t i = 0; i < n; i++)
		v[i] = (float)fundus_rng_range(&r, -1, 1);
	return v;
}

/* The built-in network (--net, yolov3-tiny) with fresh weights. */
static struct fundus_net *network(void)
{
	const char *desc = fundus_net_builtin(net_name);
	struct fundus_net *net;

	if (desc == NULL) {
		fprintf(stderr, "bench_engine: no built-in network '%s'\n", net_name);
		exit(2);
	}
	if (fundus_net_new(&net, desc, strlen(desc), NULL) < 0)
		die(net_name);
	fprintf(stderr, "%s, matrix kernel %s\n", net_name, fundus_nn_gemm_name());
	return net;
}

/* A context for the options given on the command line. */
static struct fundus_nn_ctx *context(struct fundus_net *net, enum fundus_nn_mode mode, int b)
{
	struct fundus_nn_ctx_params cp;
	struct fundus_nn_ctx *ctx;

	fundus_nn_ctx_defaults(&cp);
	cp.mode = mode;
	cp.batch = b;
	cp.width = cp.height = size;
	cp.threads = threads;
	cp.threading = blas ? FUNDUS_NN_BLAS_THREADS : FUNDUS_NN_POOL_THREADS;
	cp.profile = profile ? 1 + cpu_time : 0;
	if (fundus_nn_ctx_new(&ctx, net, &cp) < 0)
		die("context");
	return ctx;
}

/* The product of a shape. */
static size_t count(const int s[4])
{
	return (size_t)s[0] * s[1] * s[2] * s[3];
}

/* qsort order of doubles. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of n values (sorts them). */
static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Prints the per-layer profile of ctx over n passes. */
static void print_profile(struct fundus_net *net, struct fundus_nn_ctx *ctx, int n)
{
	double tf = 0, tb = 0;

	fprintf(stderr, "layer type            forward ms  backward ms\n");
	for (int i = 0; i < fundus_net_layer_count(net); i++) {
		double f, b;

		fundus_nn_layer_seconds(ctx, i, &f, &b);
		tf += f;
		tb += b;
		fprintf(stderr, "%5d %-15s %10.2f %12.2f\n", i, fundus_net_layer_type(net, i),
			1e3 * f / n, 1e3 * b / n);
	}
	fprintf(stderr, "      total           %10.2f %12.2f\n", 1e3 * tf / n, 1e3 * tb / n);
}

/* Images per second of whole training steps. */
static void bench_train(void)
{
	struct fundus_net *net = network();
	struct fundus_nn_ctx *ctx;
	struct fundus_nn_optim_params op;
	struct fundus_nn_optim *opt;
	int in[4], nout, b = batch ? batch : 8, n = steps ? steps : 3;
	float *x, *g[2];
	double *v = calloc((size_t)runs, sizeof *v);

	ctx = context(net, FUNDUS_NN_TRAIN, b);
	fundus_nn_optim_defaults(&op);
	op.lr = 1e-4f;
	if (fundus_nn_optim_new(&opt, net, &op) < 0)
		die("optimiser");
	fundus_nn_input_shape(ctx, in);
	x = randoms(count(in), 1);
	nout = fundus_net_output_count(net);
	for (int i = 0; i < nout; i++) {
		int s[4];

		fundus_nn_output_shape(ctx, i, s);
		g[i] = randoms(count(s), 2 + (uint64_t)i);
	}
	for (int r = -1; r < runs; r++) {
		double t0 = now();

		if (r == 0)
			fundus_nn_reset_profile(ctx);
		for (int s = 0; s < (r < 0 ? 1 : n); s++) {
			if (fundus_nn_forward(ctx, x) < 0)
				die("forward");
			for (int i = 0; i < nout; i++)
				fundus_nn_set_output_grad(ctx, i, g[i]);
			fundus_nn_zero_grad(ctx);
			if (fundus_nn_backward(ctx) < 0 || fundus_nn_optim_step(opt, ctx, NULL) < 0)
				die("training step");
		}
		if (r >= 0) {
			v[r] = n * b / (now() - t0);
			fprintf(stderr,
				"train %d threads%s, batch %d at %d: run %d: %.2f images/s\n",
				threads, blas ? " (BLAS)" : "", b, size, r + 1, v[r]);
		}
	}
	if (profile)
		print_profile(net, ctx, runs * n);
	printf("RESULT ours%s.train.t%d", blas ? "-blas" : "", threads);
	for (int r = 0; r < runs; r++)
		printf(" %.3f", v[r]);
	printf("\n");
	fundus_nn_optim_free(opt);
	fundus_nn_ctx_free(ctx);
	fundus_net_free(net);
	free(x);
	free(v);
	for (int i = 0; i < nout; i++)
		free(g[i]);
}

/* Milliseconds per image of a forward pass. */
static void bench_infer(void)
{
	struct fundus_net *net = network();
	struct fundus_nn_ctx *ctx = context(net, FUNDUS_NN_INFER, 1);
	int in[4], n = steps ? steps : 10;
	float *x;
	double *v = calloc((size_t)runs, sizeof *v);

	fundus_nn_input_shape(ctx, in);
	x = randoms(count(in), 1);
	for (int r = -1; r < runs; r++) {
		double t0 = now();

		if (r == 0)
			fundus_nn_reset_profile(ctx);
		for (int s = 0; s < (r < 0 ? 2 : n); s++)
			if (fundus_nn_forward(ctx, x) < 0)
				die("forward");
		if (r >= 0) {
			v[r] = 1e3 * (now() - t0) / n;
			fprintf(stderr, "infer %d threads%s at %d: run %d: %.2f ms/image\n",
				threads, blas ? " (BLAS)" : "", size, r + 1, v[r]);
		}
	}
	if (profile)
		print_profile(net, ctx, runs * n);
	printf("RESULT ours%s.infer%d.t%d", blas ? "-blas" : "", size, threads);
	for (int r = 0; r < runs; r++)
		printf(" %.3f", v[r]);
	printf("\n");
	fundus_nn_ctx_free(ctx);
	fundus_net_free(net);
	free(x);
	free(v);
}

/* The median seconds of cblas_sgemm C (m x n) = op(A) op(B) with OpenBLAS on `threads`. */
static double time_sgemm(int ta, int tb, int m, int n, int k)
{
	float *a = randoms((size_t)m * k, 3), *b = randoms((size_t)k * n, 4);
	float *c = calloc((size_t)m * n, sizeof *c);
	double v[64];
	int reps = runs < 64 ? runs : 64;

	openblas_set_num_threads(threads);
	for (int r = -1; r < reps; r++) {
		double t0 = now();

		cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
			    tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a, ta ? m : k, b,
			    tb ? k : n, 0.0f, c, n);
		if (r >= 0)
			v[r] = now() - t0;
	}
	free(a);
	free(b);
	free(c);
	return median(v, reps);
}

/* Each convolution against cblas_sgemm alone, and the bounds of the products. */
static void bench_layers(void)
{
	struct fundus_net *net = network();
	int b = batch ? batch : 1, nl = fundus_net_layer_count(net);
	struct fundus_nn_ctx *ctx;
	double gemm_inf = 0, gemm_train = 0, ours_inf = 0, flops_all = 0;
	double *lt = calloc((size_t)nl * (size_t)runs, sizeof *lt);
	int in[4];
	float *x;

	profile = 1;
	ctx = context(net, FUNDUS_NN_INFER, b);
	fundus_nn_input_shape(ctx, in);
	x = randoms(count(in), 1);
	fundus_nn_forward(ctx, x);
	for (int r = 0; r < runs; r++) {
		fundus_nn_reset_profile(ctx);
		fundus_nn_forward(ctx, x);
		for (int i = 0; i < nl; i++) {
			double f, bw;

			fundus_nn_layer_seconds(ctx, i, &f, &bw);
			lt[(size_t)i * runs + r] = f;
		}
	}
	printf("convolutions of %s at %d, batch %d, %d threads: ours (im2col, product,\n"
	       "epilogue) against cblas_sgemm alone on the same shapes (OpenBLAS, %d threads)\n",
	       net_name, size, b, threads, threads);
	printf("layer     M      N      K |  ours ms  GFLOP/s | sgemm ms  GFLOP/s | ours/sgemm | "
	       "train products ms\n");
	for (int i = 0; i < nl; i++) {
		struct fundus_net_tensor t;
		int s[4], m, n, k, ti;
		double fl, ours, g, g3;
		char name[32];

		if (strcmp(fundus_net_layer_type(net, i), "convolutional") != 0)
			continue;
		snprintf(name, sizeof name, "conv%d.weight", i);
		ti = fundus_net_find_tensor(net, name);
		fundus_net_tensor(net, ti, &t);
		fundus_nn_layer_shape(ctx, i, s);
		m = t.dims[0];
		k = t.dims[1] * t.dims[2] * t.dims[3];
		n = s[0] * s[2] * s[3];
		fl = 2.0 * m * n * k;
		ours = median(lt + (size_t)i * runs, runs);
		g = time_sgemm(0, 0, m, n, k);
		/* training at batch 8: forward, weight gradient, input gradient */
		g3 = time_sgemm(0, 0, m, n * 8 / b, k) + time_sgemm(0, 1, m, k, n * 8 / b) +
		     (i ? time_sgemm(1, 0, k, n * 8 / b, m) : 0);
		gemm_inf += g;
		gemm_train += g3;
		ours_inf += ours;
		flops_all += fl;
		printf("%5d %5d %6d %6d | %8.3f %8.1f | %8.3f %8.1f | %10.2f | %8.2f\n", i, m, n, k,
		       1e3 * ours, fl / ours / 1e9, 1e3 * g, fl / g / 1e9, ours / g, 1e3 * g3);
	}
	printf("total %.2f GFLOP: ours %.2f ms (%.1f GFLOP/s) in convolutions, sgemm alone %.2f ms "
	       "(%.1f GFLOP/s)\n",
	       flops_all / 1e9, 1e3 * ours_inf, flops_all / ours_inf / 1e9, 1e3 * gemm_inf,
	       flops_all / gemm_inf / 1e9);
	printf("bounds from the products alone: inference %.2f ms/image, training %.1f images/s "
	       "(batch 8)\n",
	       1e3 * gemm_inf / b, 8 / gemm_train);
	printf("OpenBLAS kernels: %s\n", fundus_nn_blas_core());
	printf("RESULT gemm.infer%d.t%d %.3f\n", size, threads, 1e3 * gemm_inf / b);
	printf("RESULT gemm.train.t%d %.3f\n", threads, 8 / gemm_train);
	fundus_nn_ctx_free(ctx);
	fundus_net_free(net);
	free(lt);
	free(x);
}

/* Parses the options and runs one measurement. */
int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"threads", required_argument, NULL, 't'},
	    {"batch", required_argument, NULL, 'b'},
	    {"size", required_argument, NULL, 's'},
	    {"runs", required_argument, NULL, 'r'},
	    {"steps", required_argument, NULL, 'n'},
	    {"blas", no_argument, NULL, 'B'},
	    {"profile", no_argument, NULL, 'p'},
	    {"cpu-time", no_argument, NULL, 'C'},
	    {"net", required_argument, NULL, 'N'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "t:b:s:r:n:Bp", opts, NULL)) != -1) {
		switch (c) {
		case 't': threads = (int)strtol(optarg, NULL, 10); break;
		case 'b': batch = (int)strtol(optarg, NULL, 10); break;
		case 's': size = (int)strtol(optarg, NULL, 10); break;
		case 'r': runs = (int)strtol(optarg, NULL, 10); break;
		case 'n': steps = (int)strtol(optarg, NULL, 10); break;
		case 'B': blas = 1; break;
		case 'p': profile = 1; break;
		case 'C': cpu_time = 1; break;
		case 'N': net_name = optarg; break;
		default:
			fprintf(stderr,
				"usage: bench_engine train|infer|layers|kernel [-t N] [-b N] "
				"[-s N] [-r N] [-n N] [--blas] [--profile] [--net NAME]\n");
			return 2;
		}
	}
	if (optind >= argc || threads < 1 || runs < 1 || runs > 1000 || size < 32) {
		fprintf(stderr, "usage: bench_engine train|infer|layers|kernel [options]\n");
		return 2;
	}
	if (strcmp(argv[optind], "train") == 0)
		bench_train();
	else if (strcmp(argv[optind], "infer") == 0)
		bench_infer();
	else if (strcmp(argv[optind], "layers") == 0)
		bench_layers();
	else if (strcmp(argv[optind], "kernel") == 0)
		printf("%s\n", fundus_nn_gemm_name());
	else
		return 2;
	return 0;
}

/*
 * Internal interface of the network engine: the network, its layers and
 * tensors, contexts, and the table every layer type fills in.
 *
 * Layout. Inside a context, activations are stored channel-major: channel,
 * then image, then row, then column (CNHW). A channel of the whole batch is
 * one contiguous plane, so that batch norm reads one run of memory per
 * channel and a convolution over the batch is one matrix product of
 * (filters x K) by (K x batch*rows*columns). For one image this is NCHW.
 * The public functions convert at the edges.
 *
 * Gradients. Every backward function adds into the gradients of its inputs
 * (a layer output may feed several layers) and into the context's weight
 * gradients; nothing is overwritten.
 */
#ifndef FUNDUS_NN_INTERNAL_H
#define FUNDUS_NN_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fundus/nn.h"
#include "fundus/rng.h"

#define FUNDUS__MAX_INPUTS  16 /* inputs of one layer (route) */
#define FUNDUS__MAX_LIST    64 /* values in one list key (anchors) */
#define FUNDUS__MAX_TENSORS 8  /* tensors of one layer */

/* Activation functions. */
enum fundus__act {
	FUNDUS__ACT_LINEAR = 0,
	FUNDUS__ACT_RELU,
	FUNDUS__ACT_LEAKY,
	FUNDUS__ACT_SILU,
	FUNDUS__ACT_SIGMOID,
};

/* Slope of LeakyReLU below zero, as in darknet. */
#define FUNDUS__LEAKY_SLOPE 0.1f
/* Added to the variance in batch norm, as in PyTorch and darknet. */
#define FUNDUS__BN_EPS 1e-5f

/*
 * a where s > 0 (by its bits: not for -0 or +0), b elsewhere. Chosen on the
 * bits, as integers, so that GCC vectorises the loops that call it into a
 * blend at its default -ftrapping-math (see activation.c).
 */
static inline float fundus__where_positive(float s, float a, float b)
{
	int32_t sb;
	uint32_t ab, bb, m;
	float r;

	memcpy(&sb, &s, 4);
	memcpy(&ab, &a, 4);
	memcpy(&bb, &b, 4);
	m = (uint32_t) - (int32_t)(sb > 0);
	ab = (ab & m) | (bb & ~m);
	memcpy(&r, &ab, 4);
	return r;
}

/*
 * The description parser fills a layer's spec from a table of keys: one
 * entry per key, giving its kind, where it goes and its bounds. Every type
 * is read by the same code; a key not in the table is an error.
 */
enum fundus__key_kind {
	FUNDUS__KEY_INT,    /* int at offset */
	FUNDUS__KEY_FLOAT,  /* float at offset */
	FUNDUS__KEY_ENUM,   /* int at offset: the index of the value in names */
	FUNDUS__KEY_INTS,   /* int[FUNDUS__MAX_LIST] at offset, count at count_offset */
	FUNDUS__KEY_FLOATS, /* float[FUNDUS__MAX_LIST] at offset, count at count_offset */
};

struct fundus__key {
	const char *name;
	enum fundus__key_kind kind;
	size_t offset;
	int required;
	double def, min, max;     /* default, and bounds of every value */
	const char *const *names; /* FUNDUS__KEY_ENUM: NULL-terminated */
	const int *values;        /* FUNDUS__KEY_ENUM: the value of each name (aliases) */
	size_t count_offset;      /* lists: int count */
};

/* Entries of key tables: name, spec struct and field, required, default, bounds. */
#define FUNDUS__K_INT(n, st, f, req, d, lo, hi)                                                    \
	{                                                                                          \
		.name = n, .kind = FUNDUS__KEY_INT, .offset = offsetof(st, f), .required = req,    \
		.def = d, .min = lo, .max = hi                                                     \
	}
#define FUNDUS__K_FLOAT(n, st, f, req, d, lo, hi)                                                  \
	{                                                                                          \
		.name = n, .kind = FUNDUS__KEY_FLOAT, .offset = offsetof(st, f), .required = req,  \
		.def = d, .min = lo, .max = hi                                                     \
	}
#define FUNDUS__K_ENUM(n, st, f, req, d, nm, vals)                                                 \
	{                                                                                          \
		.name = n, .kind = FUNDUS__KEY_ENUM, .offset = offsetof(st, f), .required = req,   \
		.def = d, .names = nm, .values = vals                                              \
	}
#define FUNDUS__K_INTS(n, st, f, cnt, req, lo, hi)                                                 \
	{                                                                                          \
		.name = n, .kind = FUNDUS__KEY_INTS, .offset = offsetof(st, f), .required = req,   \
		.min = lo, .max = hi, .count_offset = offsetof(st, cnt)                            \
	}
#define FUNDUS__K_FLOATS(n, st, f, cnt, req, lo, hi)                                               \
	{                                                                                          \
		.name = n, .kind = FUNDUS__KEY_FLOATS, .offset = offsetof(st, f), .required = req, \
		.min = lo, .max = hi, .count_offset = offsetof(st, cnt)                            \
	}
#define FUNDUS__K_END                                                                              \
	{                                                                                          \
		.name = NULL                                                                       \
	}

/* One key = value line of a section, as written. */
struct fundus__option {
	char *key, *value;
	int line;
};

/* A weight tensor of the network. */
struct fundus__tensor {
	char name[FUNDUS_NET_MAX_NAME];
	int ndim;
	int dims[4];
	size_t count;
	float *data;
	int trainable, decay;
	int layer;
	enum { FUNDUS__INIT_ZERO, FUNDUS__INIT_ONE, FUNDUS__INIT_HE } init;
	int fan_in;
};

struct fundus__layer;
struct fundus_nn_ctx;

/* What a layer type provides; one static table per type, listed in layer.c. */
struct fundus__layer_type {
	const char *name;   /* section name */
	const char *prefix; /* of tensor names: "conv" gives "conv3.weight" */
	const struct fundus__key *keys;
	size_t spec_size;
	int is_head; /* an output of the network */
	/*
	 * Resolves the inputs (l->inputs, from the spec), checks them, sets
	 * l->channels and declares the tensors (fundus__layer_add_tensor()).
	 * Errors name the line.
	 */
	int (*build)(struct fundus_net *net, struct fundus__layer *l);
	/* Output height and width from the input sizes; an error names the layer. */
	int (*shape)(const struct fundus_net *net, const struct fundus__layer *l, const int *in_h,
		     const int *in_w, int *h, int *w);
	/* FLOPs of one image (multiply-adds times 2); NULL: none counted. */
	double (*flops)(const struct fundus_net *net, const struct fundus__layer *l, int h, int w);
	/* Scratch: floats per worker and shared, for this context; NULL: none. */
	void (*scratch)(const struct fundus_nn_ctx *ctx, const struct fundus__layer *l,
			size_t *per_worker, size_t *shared);
	/* Extra per-layer state sizes in the context (training); NULL: none. */
	void (*state)(const struct fundus_nn_ctx *ctx, const struct fundus__layer *l,
		      size_t *zfloats, size_t *stats, size_t *idx);
	void (*forward)(struct fundus_nn_ctx *ctx, const struct fundus__layer *l);
	void (*backward)(struct fundus_nn_ctx *ctx, const struct fundus__layer *l);
	void (*forward_ref)(struct fundus_nn_ctx *ctx, const struct fundus__layer *l);
	void (*backward_ref)(struct fundus_nn_ctx *ctx, const struct fundus__layer *l);
	/* Folds batch norm into weights for inference; NULL: nothing to fold. */
	int (*fold)(struct fundus_net *net, const struct fundus__layer *l, float **w, float **b);
};

struct fundus__layer {
	const struct fundus__layer_type *type;
	int index;
	int line; /* of the section header */
	void *spec;
	int ninputs;
	int inputs[FUNDUS__MAX_INPUTS]; /* layer indices; -1 is the network input */
	int channels;                   /* of the output */
	int tensor0, ntensors;
	struct fundus__option *opts;
	int nopts;
};

struct fundus_net {
	char *desc;
	size_t desc_len;
	struct fundus__option *opts; /* of the [net] section */
	int nopts;
	struct fundus_net_input input;
	char **labels;
	int nlabels;
	struct fundus__layer *layers;
	int nlayers;
	struct fundus__tensor *tensors;
	int ntensors, tensors_cap;
	int *outputs;
	int noutputs;

	/*
	 * Inference weights with batch norm folded in, per layer (NULL where
	 * nothing folds), made from the weights of version fold_version.
	 */
	pthread_mutex_t fold_mu;
	unsigned long version, fold_version;
	float **fold_w, **fold_b;
};

/* A layer's activations in a context. */
struct fundus__state {
	int c, h, w;
	size_t plane; /* batch * h * w: one channel */
	size_t count; /* c * plane */
	float *y;     /* the output */
	float *dy;    /* gradient of the output (training), NULL when not needed */
	float *z;     /* layer-defined (convolution: the output before batch norm) */
	float *stats; /* layer-defined (batch norm: batch mean and inverse deviation) */
	int32_t *idx; /* layer-defined (max pooling: where each maximum came from) */
	int needs_grad;
};

struct fundus_nn_ctx {
	struct fundus_net *net;
	struct fundus_nn_ctx_params p;
	int training;    /* backward possible */
	int batch_stats; /* batch norm uses the batch's statistics */
	int fast;
	struct fundus_pool *pool; /* NULL: serial */
	int own_pool;
	int nworkers;
	struct fundus__state in;
	struct fundus__state *st;
	float **grads; /* per tensor; NULL for untrained tensors */
	float *work;   /* shared scratch */
	size_t work_size;
	float **wscratch; /* per worker scratch */
	size_t wscratch_size;
	unsigned long version;
	int *out_grad_set;
	double *prof_fwd, *prof_bwd; /* per layer, when profiling */
	float **zero_buf;            /* buffers to zero in parallel (training) */
	size_t *zero_count;
	void *mem; /* one block for the activations */
};

/* The table of layer types, NULL-terminated. */
extern const struct fundus__layer_type *const fundus__layer_types[];

extern const struct fundus__layer_type fundus__conv_type;
extern const struct fundus__layer_type fundus__batchnorm_type;
extern const struct fundus__layer_type fundus__activation_type;
extern const struct fundus__layer_type fundus__maxpool_type;
extern const struct fundus__layer_type fundus__avgpool_type;
extern const struct fundus__layer_type fundus__gap_type;
extern const struct fundus__layer_type fundus__upsample_type;
extern const struct fundus__layer_type fundus__route_type;
extern const struct fundus__layer_type fundus__shortcut_type;
extern const struct fundus__layer_type fundus__yolo_type;
extern const struct fundus__layer_type fundus__centre_type;

/* The shape, forward and backward of head layers, which pass their input through. */
int fundus__head_shape(const struct fundus_net *net, const struct fundus__layer *l, const int *in_h,
		       const int *in_w, int *h, int *w);
void fundus__head_forward(struct fundus_nn_ctx *ctx, const struct fundus__layer *l);
void fundus__head_backward(struct fundus_nn_ctx *ctx, const struct fundus__layer *l);

/* Names of activations for key tables, and their values. */
extern const char *const fundus__act_names[];
extern const int fundus__act_values[];

/* Description parsing (parse.c). */
struct fundus__section {
	char *name;
	int line;
	struct fundus__option *opts;
	int nopts;
};
int fundus__parse_sections(const char *text, size_t len, struct fundus__section **out, int *n);
void fundus__free_sections(struct fundus__section *s, int n);
/* Fills spec from the section's options through the table; errors name the line. */
int fundus__parse_keys(const struct fundus__section *sec, const char *what,
		       const struct fundus__key *keys, void *spec);

/* Network building (net.c). */
/* Parses and builds a network whose weights are allocated but not yet set. */
int fundus__net_build(struct fundus_net **out, const char *desc, size_t len);
int fundus__layer_add_tensor(struct fundus_net *net, struct fundus__layer *l, const char *suffix,
			     int ndim, const int *dims, int trainable, int decay, int init,
			     int fan_in);
/* Resolves a darknet-style layer reference (negative: relative) for layer l. */
int fundus__layer_ref(const struct fundus__layer *l, int ref, int *out);
/* Spatial sizes of every layer at h x w (NULL arrays allowed). */
int fundus__net_shapes(const struct fundus_net *net, int h, int w, int *hs, int *ws);
/* Makes sure the folded inference weights match the current weights. */
int fundus__net_fold(struct fundus_net *net);
/* The channels of layer l's first input (the network's input or a layer's). */
static inline int fundus__in_channels(const struct fundus_net *net, const struct fundus__layer *l)
{
	return l->inputs[0] < 0 ? net->input.channels : net->layers[l->inputs[0]].channels;
}
static inline float *fundus__tensor_data(const struct fundus_net *net,
					 const struct fundus__layer *l, int k)
{
	return net->tensors[l->tensor0 + k].data;
}

/* Contexts (ctx.c). */
static inline const struct fundus__state *fundus__in(const struct fundus_nn_ctx *ctx,
						     const struct fundus__layer *l, int i)
{
	int j = l->inputs[i];

	return j < 0 ? &ctx->in : &ctx->st[j];
}
static inline struct fundus__state *fundus__in_mut(struct fundus_nn_ctx *ctx,
						   const struct fundus__layer *l, int i)
{
	int j = l->inputs[i];

	return j < 0 ? &ctx->in : &ctx->st[j];
}
static inline float *fundus__grad(const struct fundus_nn_ctx *ctx, const struct fundus__layer *l,
				  int k)
{
	return ctx->grads[l->tensor0 + k];
}
/* Runs fn over [0, n) on the context's pool. */
void fundus__parallel(struct fundus_nn_ctx *ctx, size_t n, fundus_pool_range_fn fn, void *arg);

/* Activations (activation.c): y = f(x) over n values, and the backward. */
void fundus__act_forward(enum fundus__act act, const float *x, float *y, size_t n);
/*
 * dx = dy * f'(x), where x is the input and y the output (either may be
 * NULL when the function does not need it: relu, leaky and sigmoid read y;
 * silu reads x). dx may be dy.
 */
void fundus__act_backward(enum fundus__act act, const float *x, const float *y, const float *dy,
			  float *dx, size_t n);
/* The derivative at input x with output y, in double, for the reference path. */
double fundus__act_ref(enum fundus__act act, double x);
double fundus__act_grad_ref(enum fundus__act act, double x);

/*
 * Batch-norm kernels (batchnorm.c), over one channel plane of n values.
 * Forward: y = act(gamma (x - mean) istd + beta); with batch set, mean and
 * istd are computed from x first (and var, the biased variance, returned).
 */
void fundus__bn_channel_forward(const float *x, float *y, size_t n, float gamma, float beta,
				int act, int batch, float *mean, float *istd, float *var);
/*
 * Backward of the above: dy (the gradient of y) is turned into the gradient
 * before the activation in place; then dx = (or +=, with add) the gradient
 * of x. dx may be dy when add is 0. Returns the gradients of gamma and beta.
 */
void fundus__bn_channel_backward(const float *x, const float *y, float *dy, float *dx, size_t n,
				 float gamma, float beta, int act, float mean, float istd,
				 int batch, int add, double *dgamma, double *dbeta);
/* Sums of n floats, and of their squared deviations from m, accurately and fast. */
double fundus__sum_floats(const float *x, size_t n);
double fundus__sum_sq_dev(const float *x, size_t n, float m);
/* In one pass: s1 = sum of (x - m), s2 = sum of (x - m)^2. */
void fundus__sum_shifted(const float *x, size_t n, float m, double *s1, double *s2);
void fundus__bn_update_running(float *rmean, float *rvar, float mean, float var, size_t n,
			       float momentum);
/* Reference batch norm (and activation) over channels planes, in double. */
void fundus__bn_ref_forward(const float *x, float *y, size_t plane, int channels,
			    const float *gamma, const float *beta, float *rmean, float *rvar,
			    int batch, float momentum, float *stats, int act);
/* Adds into dx (unless NULL), dgamma and dbeta. */
void fundus__bn_ref_backward(const float *x, const float *dy, float *dx, size_t plane, int channels,
			     const float *gamma, const float *beta, const float *stats, int batch,
			     int act, float *dgamma, float *dbeta);

/* Matrix products (gemm.c): row-major C = alpha op(A) op(B) + beta C. */
void fundus__sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
		   const float *b, int ldb, float beta, float *c, int ldc);
/* Sets OpenBLAS's thread count (process-wide); above 1, products go to OpenBLAS. */
void fundus__blas_threads(int n);

/* The kernels of matrix products: OpenBLAS's, or ours (sgemm_x86.c). */
enum fundus__gemm_kernel {
	FUNDUS__GEMM_BLAS,   /* cblas_sgemm */
	FUNDUS__GEMM_AVX2,   /* ours, AVX2 and FMA, 6 x 16 tiles */
	FUNDUS__GEMM_AVX512, /* ours, AVX-512F, 12 x 32 tiles */
	FUNDUS__GEMM_KERNELS
};
/* Non-zero when this processor (and build) can run the kernel. */
int fundus__gemm_supported(int kernel);
/*
 * The kernel fundus__sgemm() runs (chosen once: $FUNDUS_GEMM, the processor
 * and OpenBLAS's core), before any fundus__blas_threads() override.
 */
int fundus__gemm_kernel(void);
/*
 * fundus__sgemm() on the given kernel, for tests and benchmarks; m, n, k >
 * 0. Returns 0, or FUNDUS_EUNSUPPORTED (kernel not available here),
 * FUNDUS_EINVAL (an empty product) or FUNDUS_ENOMEM (no packing buffer for
 * this thread), with C untouched.
 */
int fundus__sgemm_with(int kernel, int ta, int tb, int m, int n, int k, float alpha, const float *a,
		       int lda, const float *b, int ldb, float beta, float *c, int ldc);
/* The same on one of our kernels (sgemm_x86.c), not FUNDUS__GEMM_BLAS. */
int fundus__sgemm_own(int kernel, int ta, int tb, int m, int n, int k, float alpha, const float *a,
		      int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* CRC-32 (IEEE 802.3) of len bytes, continuing from crc (0 to start). */
uint32_t fundus__crc32(uint32_t crc, const void *data, size_t len);

/* Built-in descriptions (generated from the files lib/nn/nets/NAME.cfg). */
struct fundus__builtin_net {
	const char *name;
	const char *text;
};
extern const struct fundus__builtin_net fundus__builtin_nets[];

#endif

/*
 * fundus/nn.h: the network engine: networks described in text, inference
 * and training contexts, optimisers, model files.
 *
 * A network (struct fundus_net) is built from a description: a small text
 * file with one section per layer, in the spirit of darknet's cfg files
 * (the format is written down in fundus-model(5)):
 *
 *     [net]
 *     width=256
 *     height=256
 *     channels=3
 *
 *     [convolutional]
 *     filters=16
 *     size=3
 *     pad=1
 *     batch_normalize=1
 *     activation=leaky
 *
 *     [maxpool]
 *     size=2
 *     stride=2
 *
 * The network holds the description, the labels, the input size and
 * normalisation, and the weights as named tensors ("conv0.weight"). It is
 * saved to and loaded from a model file (fundus-model(5)). Computation runs
 * in contexts (struct fundus_nn_ctx), made for one batch size and input
 * size: the activations, gradients and scratch space live there, and the
 * network is only read. Several inference contexts may share one network
 * and run on different threads at once (fundus-serve runs one per worker);
 * a training context also writes the network (batch-norm running
 * statistics), and an optimiser updates its weights.
 *
 *     struct fundus_net *net;
 *     struct fundus_nn_ctx *ctx;
 *     struct fundus_nn_ctx_params cp;
 *     if (fundus_net_load(&net, "od.fdm") < 0) ...
 *     fundus_nn_ctx_defaults(&cp);
 *     cp.threads = 2;
 *     if (fundus_nn_ctx_new(&ctx, net, &cp) < 0) ...
 *     fundus_nn_forward(ctx, pixels);      // 1 x 3 x 256 x 256 floats
 *     fundus_nn_get_output(ctx, 0, out);   // NCHW floats
 *     fundus_nn_ctx_free(ctx);
 *     fundus_net_free(net);
 *
 * Training:
 *
 *     cp.mode = FUNDUS_NN_TRAIN; cp.batch = 8;
 *     fundus_nn_ctx_new(&ctx, net, &cp);
 *     fundus_nn_optim_defaults(&op); op.total_steps = 10000;
 *     fundus_nn_optim_new(&opt, net, &op);
 *     for (each batch) {
 *         fundus_nn_forward(ctx, images);
 *         ... loss gradient of each output -> fundus_nn_set_output_grad(ctx, i, g)
 *         fundus_nn_zero_grad(ctx);
 *         fundus_nn_backward(ctx);
 *         fundus_nn_optim_step(opt, ctx, NULL);
 *     }
 *
 * Tensors passed in and out are float32 in NCHW order (image, channel,
 * row, column). Two compute paths give the same results within rounding:
 * the fast one (im2col or direct convolution on matrix products, batch
 * norm folded at inference) and a plain reference one, used by the tests.
 *
 * Matrix products: the engine's own single-threaded kernels (AVX-512 or
 * AVX2 with FMA, chosen at run time) or OpenBLAS's sgemm;
 * fundus_nn_gemm_name() says which. Ours run wherever the processor has
 * AVX-512, and with AVX2 when OpenBLAS's kernels for the processor leave
 * FMA unused (OpenBLAS 0.3.21 takes recent Xeons for a Prescott, 2.7
 * times slower than its SkylakeX kernels; ours are about as fast as
 * those). The environment variable FUNDUS_GEMM=blas or FUNDUS_GEMM=own,
 * read once, forces either; OPENBLAS_CORETYPE is left to the user. Our
 * kernels pack their operands into one buffer per thread (1.2 MiB, made
 * at the thread's first product, freed when the thread exits); should it
 * not be had, that product goes to OpenBLAS.
 *
 * Threads: a context splits its work over a fundus pool and computes each
 * product on one thread (openblas_set_num_threads(1), a process-wide
 * setting, is called when a context is made), so that the two never
 * compete for the cores; FUNDUS_NN_BLAS_THREADS gives OpenBLAS the threads
 * instead (products then go to OpenBLAS, whatever the kernel) and runs the
 * rest serially. The pool is the default because it is faster: on two
 * cores (bench/engine, yolov3-tiny) 27 against 19 images/s in training and
 * 14 against 17 ms per 256x256 image in inference. One seed and one thread
 * count give bit-identical results, run after run (for a given kernel).
 */
#ifndef FUNDUS_NN_H
#define FUNDUS_NN_H

#include <stddef.h>
#include <stdint.h>

#include "fundus/core.h"
#include "fundus/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits on what a description may ask for (FUNDUS_ELIMIT past them). */
#define FUNDUS_NET_MAX_LAYERS   1024
#define FUNDUS_NET_MAX_SIZE     16384             /* input width or height */
#define FUNDUS_NET_MAX_CHANNELS 65536             /* channels of any layer */
#define FUNDUS_NET_MAX_KERNEL   64                /* kernel size, stride, dilation */
#define FUNDUS_NET_MAX_PARAMS   ((size_t)1 << 28) /* floats in all tensors */
#define FUNDUS_NET_MAX_LABELS   4096
#define FUNDUS_NET_MAX_NAME     64 /* tensor names, with the NUL */

struct fundus_net;
struct fundus_nn_ctx;
struct fundus_nn_optim;

/*
 * The input a network expects: size, channels, and how pixels are
 * normalised before they are fed: x = (pixel / 255 - mean[c]) / std[c].
 * The engine itself takes floats already normalised; these values travel
 * with the model for the programs that prepare its input.
 */
struct fundus_net_input {
	int width, height, channels;
	float mean[4], std[4];
};

/* How fundus_net_new() makes a network. */
struct fundus_net_params {
	uint64_t seed; /* of the initial weights (He-uniform convolutions) */
};

/* Fills p with the defaults (seed 1). */
void fundus_net_defaults(struct fundus_net_params *p);

/*
 * Parses a description of len bytes (it need not end in NUL) and builds a
 * network with fresh weights. Errors name the line: "line 7: [maxpool]:
 * unknown key 'sise'" (FUNDUS_EFORMAT), or FUNDUS_ELIMIT past the limits
 * above. p may be NULL for the defaults.
 */
int fundus_net_new(struct fundus_net **out, const char *desc, size_t len,
		   const struct fundus_net_params *p);

/* Frees a network; NULL is fine. No context or optimiser may still use it. */
void fundus_net_free(struct fundus_net *net);

/* A deep copy (description, labels, input, weights). */
int fundus_net_dup(const struct fundus_net *net, struct fundus_net **out);

/*
 * The description text of a built-in network ("yolov3-tiny"), NUL-
 * terminated, static; NULL for an unknown name. fundus_net_builtin_name(i)
 * lists them for i = 0, 1, ... and returns NULL past the last.
 */
const char *fundus_net_builtin(const char *name);
const char *fundus_net_builtin_name(int i);

/* The description the network was built from (borrowed, NUL-terminated). */
const char *fundus_net_description(const struct fundus_net *net);

/* The input the network expects (from [net], or as set or loaded). */
void fundus_net_get_input(const struct fundus_net *net, struct fundus_net_input *in);

/*
 * Sets the input normalisation and default size. The channel count must be
 * the description's; width and height must be positive. FUNDUS_EINVAL
 * otherwise.
 */
int fundus_net_set_input(struct fundus_net *net, const struct fundus_net_input *in);

/* The class labels (borrowed strings); 0 and NULL when none are set. */
int fundus_net_label_count(const struct fundus_net *net);
const char *fundus_net_label(const struct fundus_net *net, int i);

/* Replaces the labels with copies of n non-empty strings (each < 256 bytes). */
int fundus_net_set_labels(struct fundus_net *net, const char *const *labels, int n);

/* Layers, in description order (the [net] section is not a layer). */
int fundus_net_layer_count(const struct fundus_net *net);

/* A layer's section name ("convolutional"), or NULL for a bad index. */
const char *fundus_net_layer_type(const struct fundus_net *net, int layer);

/* A layer's output channels, or -1 for a bad index. */
int fundus_net_layer_channels(const struct fundus_net *net, int layer);

/*
 * The value of a key as written in a layer's section ("mask" of a [yolo]
 * layer: "3,4,5"), with the spaces around it removed; NULL when the key is
 * absent. Borrowed. For heads whose meaning the engine leaves to callers.
 * Layer -1 is the [net] section (its "preprocess", "lcn_sigma").
 */
const char *fundus_net_layer_option(const struct fundus_net *net, int layer, const char *key);

/*
 * The network's outputs: the head layers ([yolo]) in order, or the last
 * layer when there is none. Returns the layer index of output i, or -1.
 */
int fundus_net_output_count(const struct fundus_net *net);
int fundus_net_output_layer(const struct fundus_net *net, int i);

/* Multiply-adds of one forward pass at width x height, times 2 (FLOPs). */
double fundus_net_flops(const struct fundus_net *net, int width, int height);

/* A named weight tensor of a network. */
struct fundus_net_tensor {
	const char *name; /* "conv3.weight", "conv3.bn.mean" */
	int ndim;         /* 1 to 4 */
	int dims[4];      /* outer first: a convolution's is filters x channels x size x size */
	size_t count;     /* product of dims */
	float *data;      /* borrowed; see fundus_net_touch() before writing */
	int trainable;    /* 0 for batch-norm running statistics */
	int decay;        /* 1 when weight decay applies (convolution weights) */
	int layer;        /* the layer it belongs to */
};

/* The tensors, in layer order. */
int fundus_net_tensor_count(const struct fundus_net *net);

/* Fills t with tensor i; FUNDUS_EINVAL for a bad index. */
int fundus_net_tensor(const struct fundus_net *net, int i, struct fundus_net_tensor *t);

/* The index of a tensor by name, or -1. */
int fundus_net_find_tensor(const struct fundus_net *net, const char *name);

/*
 * Tells the network that its weights were changed through the data
 * pointers above. Inference contexts made before then refuse to run
 * (FUNDUS_EINVAL); make new ones.
 */
void fundus_net_touch(struct fundus_net *net);

/*
 * Model files (fundus-model(5)): a versioned, little-endian, checksummed
 * file holding the description, labels, input and every tensor. Saving
 * replaces the file atomically. Loading checks everything and rejects a
 * damaged file: FUNDUS_EFORMAT with what is wrong ("tensor conv3.weight:
 * shape 16x3x3x3 does not match the network (32x3x3x3)", "chunk TENS at
 * byte 1234: checksum mismatch", "truncated at byte 90"), FUNDUS_EUNSUPPORTED
 * for a newer version, FUNDUS_ELIMIT past the limits.
 */
#define FUNDUS_MODEL_VERSION   1
#define FUNDUS_MODEL_MAX_BYTES ((size_t)1 << 31)
int fundus_net_save(const struct fundus_net *net, const char *path);
int fundus_net_load(struct fundus_net **out, const char *path);

/* The same in memory; *data is the caller's, freed with fundus_free(). */
int fundus_net_save_buffer(const struct fundus_net *net, uint8_t **data, size_t *len);
int fundus_net_load_buffer(struct fundus_net **out, const void *data, size_t len);

/*
 * Contexts.
 */
enum fundus_nn_mode {
	FUNDUS_NN_INFER = 0, /* forward only; batch norm from running statistics */
	FUNDUS_NN_TRAIN = 1, /* forward and backward; batch statistics, running ones updated */
	FUNDUS_NN_TRAIN_BN_FROZEN = 2, /* forward and backward; running statistics, not updated */
};

enum fundus_nn_path {
	FUNDUS_NN_FAST = 0,      /* im2col/direct convolution over sgemm, fused, folded */
	FUNDUS_NN_REFERENCE = 1, /* plain loops, one thread, for tests */
};

enum fundus_nn_threading {
	FUNDUS_NN_POOL_THREADS = 0, /* the context's pool splits the work; BLAS single-threaded */
	FUNDUS_NN_BLAS_THREADS = 1, /* OpenBLAS gets the threads; the rest runs serially */
};

struct fundus_nn_ctx_params {
	enum fundus_nn_mode mode;
	enum fundus_nn_path path;
	enum fundus_nn_threading threading;
	int batch;                /* images per forward pass (1) */
	int width, height;        /* input size; 0: the network's */
	int threads;              /* workers including the caller; 0: one per core (1) */
	struct fundus_pool *pool; /* a pool to use instead (borrowed; threads ignored) */
	int deterministic;        /* 1: refuse what could make runs differ (BLAS threads) */
	int input_grad;           /* 1: backward also gives the gradient of the input */
	float bn_momentum;        /* running = (1 - m) running + m batch (0.03) */
	int profile;              /* time every layer (fundus_nn_layer_seconds()): 1 on the wall
				     clock, 2 in processor time of the calling thread */
};

/*
 * The name of OpenBLAS's kernels for this processor ("SkylakeX",
 * "Haswell"), static, whether or not the engine uses them. OpenBLAS 0.3.21
 * (Debian 12) does not know recent Xeons and falls back to "Prescott", its
 * generic kernels, three to five times slower; the environment variable
 * OPENBLAS_CORETYPE (read when the process starts) chooses others.
 */
const char *fundus_nn_blas_core(void);

/*
 * The name of the matrix-product kernel the engine runs (static):
 * "fundus-avx512" or "fundus-avx2" for its own, "openblas-<core>"
 * ("openblas-SkylakeX", "openblas-Prescott") for OpenBLAS's; chosen once,
 * as the overview says (FUNDUS_GEMM). Programs may warn when it is
 * "openblas-Prescott" or another generic core.
 */
const char *fundus_nn_gemm_name(void);

/* Fills p with the defaults: inference, fast path, batch 1, one thread. */
void fundus_nn_ctx_defaults(struct fundus_nn_ctx_params *p);

/*
 * Makes a context for net. All memory is allocated here: forward and
 * backward allocate nothing, but for the packing buffer of the engine's
 * own matrix kernels (see the overview). The network must outlive the
 * context. Making an inference context after the weights changed folds
 * batch norm into the convolutions once, inside the network (under a
 * lock). Errors:
 * FUNDUS_EINVAL (bad parameter, or an input size at which the layers do not
 * fit: "layer 20 [route]: layer 19 is 16x16, layer 8 is 15x15"),
 * FUNDUS_ENOMEM.
 */
int fundus_nn_ctx_new(struct fundus_nn_ctx **out, struct fundus_net *net,
		      const struct fundus_nn_ctx_params *p);
void fundus_nn_ctx_free(struct fundus_nn_ctx *ctx);

/* The input shape of the context: batch x channels x height x width. */
void fundus_nn_input_shape(const struct fundus_nn_ctx *ctx, int shape[4]);

/*
 * Runs the network on batch x channels x height x width floats (NCHW).
 * Returns 0, or FUNDUS_EINVAL when the weights changed since an inference
 * context was made (fundus_net_touch()).
 */
int fundus_nn_forward(struct fundus_nn_ctx *ctx, const float *input);

/*
 * The output shape of any layer in this context (batch x channels x height
 * x width); FUNDUS_EINVAL for a bad layer.
 */
int fundus_nn_layer_shape(const struct fundus_nn_ctx *ctx, int layer, int shape[4]);

/* The shape of output i (batch x channels x height x width); FUNDUS_EINVAL for a bad index. */
int fundus_nn_output_shape(const struct fundus_nn_ctx *ctx, int i, int shape[4]);

/* Copies output i of the last forward pass into out (NCHW, its shape's product). */
int fundus_nn_get_output(const struct fundus_nn_ctx *ctx, int i, float *out);

/*
 * Training contexts. The gradient of the loss with respect to each output
 * (NCHW, the output's shape) is set before backward; outputs whose gradient
 * is not set since the last forward count as zero. fundus_nn_backward()
 * adds the gradients of the weights into the context's gradient buffers
 * (zeroed by fundus_nn_zero_grad(), so that batches can be accumulated).
 */
int fundus_nn_set_output_grad(struct fundus_nn_ctx *ctx, int i, const float *grad);
void fundus_nn_zero_grad(struct fundus_nn_ctx *ctx);
int fundus_nn_backward(struct fundus_nn_ctx *ctx);

/* The gradient buffer of tensor i (count floats), NULL for a tensor not trained. */
const float *fundus_nn_grad(const struct fundus_nn_ctx *ctx, int tensor);

/* Copies the gradient of the input (NCHW) after backward with input_grad set. */
int fundus_nn_get_input_grad(const struct fundus_nn_ctx *ctx, float *out);

/*
 * The seconds spent in one layer's forward and backward passes since the
 * context was made (or the last reset), when it was made with profile set;
 * zeros otherwise; FUNDUS_EINVAL for a bad layer.
 * fundus_nn_reset_profile() starts the counts again.
 */
int fundus_nn_layer_seconds(const struct fundus_nn_ctx *ctx, int layer, double *forward,
			    double *backward);
void fundus_nn_reset_profile(struct fundus_nn_ctx *ctx);

/*
 * Optimisers. One optimiser updates one network from the gradients of a
 * training context on that network. Weight decay applies to convolution
 * weights only, never to biases or batch-norm parameters. The learning rate
 * follows a schedule: a linear warm-up from lr * warmup_start to lr over
 * warmup_steps, then a cosine decay to lr * final_lr at total_steps (or
 * constant when total_steps is 0).
 */
enum fundus_nn_optim_kind {
	FUNDUS_NN_SGD = 0,   /* momentum, optionally Nesterov; decay added to the gradient */
	FUNDUS_NN_ADAMW = 1, /* Adam with decoupled weight decay */
};

struct fundus_nn_optim_params {
	enum fundus_nn_optim_kind kind;
	float lr;           /* peak learning rate (0.01) */
	float momentum;     /* SGD (0.9) */
	int nesterov;       /* SGD (0) */
	float beta1, beta2; /* AdamW (0.9, 0.999) */
	float eps;          /* AdamW (1e-8) */
	float weight_decay; /* (5e-4) */
	float clip_norm;    /* rescale the gradient to this global L2 norm when above; 0: off */
	float ema_decay;    /* exponential moving average of the weights; 0: off (0) */
	long warmup_steps;  /* (0) */
	float warmup_start; /* learning rate factor at step 0 of the warm-up (0.1) */
	long total_steps;   /* end of the cosine decay; 0: no decay (0) */
	float final_lr;     /* learning rate factor at total_steps (0.01) */
};

void fundus_nn_optim_defaults(struct fundus_nn_optim_params *p);

/* The learning rate of step (counted from 0) under p's schedule. */
double fundus_nn_schedule_lr(const struct fundus_nn_optim_params *p, long step);

/*
 * Makes an optimiser for net, with its state (momenta, moving average) at
 * zero and the average at the current weights. The network must outlive
 * it; fundus_nn_optim_free() releases it (NULL is fine).
 */
int fundus_nn_optim_new(struct fundus_nn_optim **out, struct fundus_net *net,
			const struct fundus_nn_optim_params *p);
void fundus_nn_optim_free(struct fundus_nn_optim *opt);

/*
 * Updates the network from ctx's gradients (ctx must be a training context
 * on the optimiser's network), then the moving average. Writes the
 * gradient's global L2 norm before clipping to *grad_norm when not NULL.
 * The network is touched (fundus_net_touch()).
 */
int fundus_nn_optim_step(struct fundus_nn_optim *opt, struct fundus_nn_ctx *ctx, double *grad_norm);

/* Steps taken so far. */
long fundus_nn_optim_steps(const struct fundus_nn_optim *opt);

/*
 * Moves the end of the cosine decay (a run that plans its length from its
 * speed, under a time budget). FUNDUS_EINVAL for a negative count.
 */
int fundus_nn_optim_set_total_steps(struct fundus_nn_optim *opt, long total_steps);

/*
 * The optimiser's state (step count, momenta, moving average) as bytes, for
 * a checkpoint that resumes training exactly; with the network's weights
 * saved beside it. *data is the caller's (fundus_free()). Loading checks
 * that the state's buffers fit this optimiser (the same tensors, and per
 * tensor the same momenta and average: the kind, momentum on or off, the
 * average on or off): FUNDUS_EFORMAT otherwise, the optimiser unchanged.
 * The hyper-parameters (learning rate, betas, decay) are not stored: they
 * are the optimiser's own, so the caller must make it as the run that
 * saved the state did (fundus-train compares the seed, batch, epoch size
 * and number of images with the checkpoint's). The bytes are in the host's order: a state resumes on the
 * kind of machine that wrote it.
 */
int fundus_nn_optim_save_state(const struct fundus_nn_optim *opt, uint8_t **data, size_t *len);
int fundus_nn_optim_load_state(struct fundus_nn_optim *opt, const void *data, size_t len);

/*
 * Copies the moving average of the weights (and the running statistics)
 * into dst, a network of the same description (fundus_net_dup()).
 * FUNDUS_EINVAL when the average is off or the networks differ.
 */
int fundus_nn_optim_ema_copy(const struct fundus_nn_optim *opt, struct fundus_net *dst);

#ifdef __cplusplus
}
#endif
#endif

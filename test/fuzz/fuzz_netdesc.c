/*
 * Fuzz target for network descriptions: the input is parsed and built;
 * a network that builds must save and load back, and, when small, run a
 * forward and a backward pass at a small size. abort() on any surprise.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fundus/nn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fundus_net *net, *back;
	struct fundus_nn_ctx *ctx;
	struct fundus_nn_ctx_params cp;
	uint8_t *buf;
	size_t len, weights = 0;

	if (size > 65536 || fundus_net_new(&net, (const char *)data, size, NULL) < 0)
		return 0;
	/* Big networks are legal but slow to copy: the round trip is for small ones. */
	for (int i = 0; i < fundus_net_tensor_count(net); i++) {
		struct fundus_net_tensor t;

		fundus_net_tensor(net, i, &t);
		weights += t.count;
	}
	if (weights > 1000000) {
		fundus_net_free(net);
		return 0;
	}
	if (fundus_net_save_buffer(net, &buf, &len) < 0 ||
	    fundus_net_load_buffer(&back, buf, len) < 0)
		abort();
	fundus_free(buf);
	fundus_net_free(back);
	fundus_nn_ctx_defaults(&cp);
	cp.mode = FUNDUS_NN_TRAIN;
	cp.batch = 2;
	cp.width = cp.height = 12;
	if (fundus_net_flops(net, 12, 12) < 1e6 && fundus_nn_ctx_new(&ctx, net, &cp) == 0) {
		int s[4];
		float *x;

		fundus_nn_input_shape(ctx, s);
		x = calloc((size_t)s[0] * s[1] * s[2] * s[3], sizeof *x);
		for (size_t i = 0; x && i < (size_t)s[0] * s[1] * s[2] * s[3]; i++)
			x[i] = (float)(i % 7) - 3;
		if (x == NULL || fundus_nn_forward(ctx, x) < 0 || fundus_nn_backward(ctx) < 0)
			abort();
		free(x);
		fundus_nn_ctx_free(ctx);
	}
	fundus_net_free(net);
	return 0;
}

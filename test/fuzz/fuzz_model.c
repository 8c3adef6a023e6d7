/*
 * Fuzz target for model files: the input is loaded as it is, and once more
 * with every chunk's checksum put right, so that the fuzzer also reaches
 * the chunk parsers behind the checksums. A model that loads must save to
 * bytes that load back and save again identically, and, when small, run a
 * forward pass: abort() otherwise, for the fuzzer to report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fundus/nn.h"
#include "nn/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Recomputes the header's and every whole chunk's CRC in place. */
static void fix_checksums(uint8_t *p, size_t len)
{
	size_t pos = 16;
	uint32_t c;

	if (len < 16)
		return;
	c = fundus__crc32(0, p, 12);
	memcpy(p + 12,
	       (uint8_t[4]){(uint8_t)c, (uint8_t)(c >> 8), (uint8_t)(c >> 16), (uint8_t)(c >> 24)},
	       4);
	while (len - pos >= 12) {
		uint32_t n = (uint32_t)p[pos + 4] | (uint32_t)p[pos + 5] << 8 |
			     (uint32_t)p[pos + 6] << 16 | (uint32_t)p[pos + 7] << 24;

		if (n > len - pos - 12)
			break;
		c = fundus__crc32(0, p + pos, (size_t)n + 8);
		memcpy(p + pos + 8 + n,
		       (uint8_t[4]){(uint8_t)c, (uint8_t)(c >> 8), (uint8_t)(c >> 16),
				    (uint8_t)(c >> 24)},
		       4);
		pos += (size_t)n + 12;
	}
}

/* Checks what can be asked of a network that loaded. */
static void exercise(const struct fundus_net *net)
{
	uint8_t *a, *b;
	size_t na, nb;
	struct fundus_net *back;
	struct fundus_nn_ctx *ctx;
	struct fundus_nn_ctx_params cp;

	if (fundus_net_save_buffer(net, &a, &na) < 0)
		abort();
	if (fundus_net_load_buffer(&back, a, na) < 0)
		abort();
	if (fundus_net_save_buffer(back, &b, &nb) < 0 || na != nb || memcmp(a, b, na) != 0)
		abort();
	fundus_free(a);
	fundus_free(b);
	/* Run small networks once, at a small size. */
	fundus_nn_ctx_defaults(&cp);
	cp.width = cp.height = 16;
	if (fundus_net_flops(back, 16, 16) < 2e6 && fundus_nn_ctx_new(&ctx, back, &cp) == 0) {
		int s[4];
		float *x;

		fundus_nn_input_shape(ctx, s);
		x = calloc((size_t)s[0] * s[1] * s[2] * s[3], sizeof *x);
		if (x == NULL || fundus_nn_forward(ctx, x) < 0)
			abort();
		free(x);
		fundus_nn_ctx_free(ctx);
	}
	fundus_net_free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fundus_net *net;
	uint8_t *copy;

	if (size > (1u << 20))
		return 0;
	if (fundus_net_load_buffer(&net, data, size) == 0) {
		exercise(net);
		fundus_net_free(net);
	}
	copy = malloc(size ? size : 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	fix_checksums(copy, size);
	if (fundus_net_load_buffer(&net, copy, size) == 0) {
		exercise(net);
		fundus_net_free(net);
	}
	free(copy);
	return 0;
}

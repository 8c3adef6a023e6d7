/*
 * Tests of model files: the round trip, and each kind of damage (cut at
 * every byte, any byte flipped, wrong magic, newer version, a tensor of
 * the wrong shape, missing, unknown or doubled, data after the end), and
 * an allocation-failure sweep over loading.
 */
#include <pthread.h>
#include <stdio.h>

#include "fundus/core.h"
#include "fundus/file.h"
#include "fundus/nn.h"
#include "harness.h"
#include "nn/internal.h"
#include "nnutil.h"
#include "testutil.h"

static const char small_desc[] = "[net]\nwidth=8\nheight=6\nchannels=3\n"
				 "[convolutional]\nfilters=4\nsize=3\npad=1\nbatch_normalize=1\n"
				 "activation=leaky\n"
				 "[maxpool]\n"
				 "[convolutional]\nfilters=2\nsize=1\n";

/* A small network with labels and a normalisation, saved to memory. */
static struct fundus_net *small_net(uint8_t **buf, size_t *len)
{
	static const char *const labels[] = {"optic_disc", "fovéa"};
	struct fundus_net *net = nu_net(small_desc, 11);
	struct fundus_net_input in;

	fundus_net_get_input(net, &in);
	in.mean[0] = 0.485f;
	in.mean[1] = 0.456f;
	in.mean[2] = 0.406f;
	in.std[0] = 0.229f;
	in.std[1] = 0.224f;
	in.std[2] = 0.225f;
	fundus_net_set_input(net, &in);
	fundus_net_set_labels(net, labels, 2);
	if (buf && fundus_net_save_buffer(net, buf, len) < 0)
		return NULL;
	return net;
}

/* Same description, input, labels and tensors (bit for bit). */
static int same_net(const struct fundus_net *a, const struct fundus_net *b)
{
	struct fundus_net_input ia, ib;

	fundus_net_get_input(a, &ia);
	fundus_net_get_input(b, &ib);
	if (strcmp(fundus_net_description(a), fundus_net_description(b)) != 0 ||
	    memcmp(&ia, &ib, sizeof ia) != 0 ||
	    fundus_net_label_count(a) != fundus_net_label_count(b) ||
	    fundus_net_tensor_count(a) != fundus_net_tensor_count(b))
		return 0;
	for (int i = 0; i < fundus_net_label_count(a); i++)
		if (strcmp(fundus_net_label(a, i), fundus_net_label(b, i)) != 0)
			return 0;
	for (int i = 0; i < fundus_net_tensor_count(a); i++) {
		struct fundus_net_tensor ta, tb;

		fundus_net_tensor(a, i, &ta);
		fundus_net_tensor(b, i, &tb);
		if (strcmp(ta.name, tb.name) != 0 || ta.count != tb.count ||
		    memcmp(ta.data, tb.data, ta.count * sizeof(float)) != 0)
			return 0;
	}
	return 1;
}

TEST(round_trip_in_memory_and_on_disk)
{
	uint8_t *buf, *buf2;
	size_t len, len2;
	struct fundus_net *net = small_net(&buf, &len), *back, *disk, *dup, *back2;
	const char *path = tu_path("small.fdm");

	CHECK(net != NULL);
	CHECK_OK(fundus_net_load_buffer(&back, buf, len));
	CHECK(same_net(net, back));
	CHECK_STR_EQ(fundus_net_label(back, 1), "fovéa");
	CHECK_OK(fundus_net_save_buffer(back, &buf2, &len2));
	CHECK_INT_EQ(len2, len);
	CHECK(memcmp(buf, buf2, len) == 0);
	CHECK_OK(fundus_net_save(net, path));
	CHECK_OK(fundus_net_load(&disk, path));
	CHECK(same_net(net, disk));
	CHECK_OK(fundus_net_dup(net, &dup));
	CHECK(same_net(net, dup));
	/* Fixed byte order: the header reads the same on every machine. */
	CHECK(buf[0] == 0x89 && buf[1] == 'F' && buf[2] == 'N' && buf[3] == 'N');
	CHECK(buf[8] == 1 && buf[9] == 0 && buf[10] == 0 && buf[11] == 0);
	CHECK(memcmp(buf + 16, "DESC", 4) == 0);
	CHECK_INT_EQ(buf[20] | buf[21] << 8, strlen(small_desc));
	CHECK_INT_EQ(fundus_net_load(&back2, tu_path("absent.fdm")), FUNDUS_ENOENT);
	CHECK(back2 == NULL);
	fundus_free(buf);
	fundus_free(buf2);
	fundus_net_free(net);
	fundus_net_free(back);
	fundus_net_free(disk);
	fundus_net_free(dup);
}

/* A loaded model computes what the saved one did. */
TEST(loaded_model_gives_the_same_outputs)
{
	uint8_t *buf;
	size_t len;
	struct fundus_net *net = small_net(&buf, &len), *back;
	struct fundus_nn_ctx *c1, *c2;
	struct fundus_nn_ctx_params cp;
	struct fundus_rng rng;
	float *x, y1[2 * 4 * 3], y2[2 * 4 * 3];

	CHECK_OK(fundus_net_load_buffer(&back, buf, len));
	fundus_nn_ctx_defaults(&cp);
	CHECK_OK(fundus_nn_ctx_new(&c1, net, &cp));
	CHECK_OK(fundus_nn_ctx_new(&c2, back, &cp));
	fundus_rng_seed(&rng, 1);
	x = nu_random(&rng, 3 * 6 * 8, 1);
	CHECK_OK(fundus_nn_forward(c1, x));
	CHECK_OK(fundus_nn_forward(c2, x));
	CHECK_OK(fundus_nn_get_output(c1, 0, y1));
	CHECK_OK(fundus_nn_get_output(c2, 0, y2));
	CHECK(memcmp(y1, y2, sizeof y1) == 0);
	/* Changing the weights makes older inference contexts refuse to run. */
	fundus_net_touch(net);
	CHECK_INT_EQ(fundus_nn_forward(c1, x), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "weights changed");
	free(x);
	fundus_free(buf);
	fundus_nn_ctx_free(c1);
	fundus_nn_ctx_free(c2);
	fundus_net_free(net);
	fundus_net_free(back);
}

TEST(truncated_at_every_byte)
{
	uint8_t *buf;
	size_t len;
	struct fundus_net *net = small_net(&buf, &len), *back;

	for (size_t cut = 0; cut < len; cut++) {
		int rc = fundus_net_load_buffer(&back, buf, cut);

		if (rc != FUNDUS_EFORMAT)
			fprintf(stderr, "cut at %zu: %d %s\n", cut, rc, fundus_errmsg());
		CHECK_INT_EQ(rc, FUNDUS_EFORMAT);
		CHECK(back == NULL);
		if (cut >= 16)
			CHECK(strstr(fundus_errmsg(), "truncated") != NULL);
	}
	fundus_free(buf);
	fundus_net_free(net);
}

TEST(flipped_bytes_fail_their_checksum)
{
	uint8_t *buf;
	size_t len;
	struct fundus_net *net = small_net(&buf, &len), *back;

	for (size_t at = 0; at < len; at++) {
		int rc;

		buf[at] ^= 0x10;
		rc = fundus_net_load_buffer(&back, buf, len);
		buf[at] ^= 0x10;
		CHECK_INT_EQ(rc, FUNDUS_EFORMAT);
		if (at < 8)
			CHECK_STR_CONTAINS(fundus_errmsg(), "bad magic");
		else if (at < 16)
			CHECK_STR_CONTAINS(fundus_errmsg(), "header checksum mismatch");
		else if (strstr(fundus_errmsg(), "checksum mismatch") == NULL &&
			 strstr(fundus_errmsg(), "truncated") == NULL) {
			/* A changed length is found as a cut or a checksum; nothing else. */
			fprintf(stderr, "byte %zu: %s\n", at, fundus_errmsg());
			CHECK(0);
		}
	}
	CHECK_OK(fundus_net_load_buffer(&back, buf, len));
	fundus_net_free(back);
	fundus_free(buf);
	fundus_net_free(net);
}

/* A model file as chunks, to damage with valid checksums. */
struct chunk {
	char type[5];
	uint8_t *data;
	uint32_t len;
};

static int split(const uint8_t *buf, size_t len, struct chunk *c, int max)
{
	size_t pos = 16;
	int n = 0;

	while (pos + 12 <= len && n < max) {
		memcpy(c[n].type, buf + pos, 4);
		c[n].type[4] = '\0';
		c[n].len = (uint32_t)buf[pos + 4] | (uint32_t)buf[pos + 5] << 8 |
			   (uint32_t)buf[pos + 6] << 16 | (uint32_t)buf[pos + 7] << 24;
		c[n].data = malloc(c[n].len + 1);
		memcpy(c[n].data, buf + pos + 8, c[n].len);
		pos += c[n].len + 12;
		n++;
	}
	return n;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Writes a file from a header of the given version and chunks, with good checksums. */
static size_t join(uint8_t *out, uint32_t version, const struct chunk *c, int n)
{
	static const uint8_t magic[8] = {0x89, 'F', 'N', 'N', '\r', '\n', 0x1a, '\n'};
	size_t pos = 16;

	memcpy(out, magic, 8);
	put32(out + 8, version);
	put32(out + 12, fundus__crc32(0, out, 12));
	for (int i = 0; i < n; i++) {
		memcpy(out + pos, c[i].type, 4);
		put32(out + pos + 4, c[i].len);
		memcpy(out + pos + 8, c[i].data, c[i].len);
		put32(out + pos + 8 + c[i].len, fundus__crc32(0, out + pos, c[i].len + 8));
		pos += c[i].len + 12;
	}
	return pos;
}

TEST(damage_with_good_checksums)
{
	uint8_t *buf, *out;
	size_t len, n;
	struct fundus_net *net = small_net(&buf, &len), *back;
	struct chunk c[32], keep, extra;
	uint8_t saved[4];
	int nc = split(buf, len, c, 32), conv0 = 3;
	const char wider[] = "[net]\nwidth=8\nheight=6\nchannels=3\n"
			     "[convolutional]\nfilters=8\nsize=3\npad=1\nbatch_normalize=1\n"
			     "activation=leaky\n[maxpool]\n[convolutional]\nfilters=2\nsize=1\n";

	out = malloc(len + 4096);
	CHECK_INT_EQ(nc, 3 + 7 + 1);
	CHECK_STR_EQ(c[conv0].type, "TENS");
	/* the file as it is */
	n = join(out, 1, c, nc);
	CHECK_OK(fundus_net_load_buffer(&back, out, n));
	fundus_net_free(back);
	/* a newer version */
	n = join(out, 2, c, nc);
	CHECK_INT_EQ(fundus_net_load_buffer(&back, out, n), FUNDUS_EUNSUPPORTED);
	CHECK_STR_CONTAINS(fundus_errmsg(), "model version 2 is newer than this library reads (1)");
	n = join(out, 0, c, nc);
	CHECK_INT_EQ(fundus_net_load_buffer(&back, out, n), FUNDUS_EFORMAT);
	/* a tensor whose shape is not the network's */
	keep = c[0];
	c[0].data = (uint8_t *)wider;
	c[0].len = (uint32_t)strlen(wider);
	n = join(out, 1, c, nc);
	CHECK_INT_EQ(fundus_net_load_buffer(&back, out, n), FUNDUS_EFORMAT);
	CHECK_STR_EQ(fundus_errmsg(),
		     "tensor conv0.weight: shape 4x3x3x3 does not match the network (8x3x3x3)");
	/* a description that does not parse */
	c[0].data = (uint8_t *)"[net]\nwidth=8\n";
	c[0].len = 14;
	n = join(out, 1, c, nc);
	CHECK_INT_EQ(fundus_net_load_buffer(&back, out, n), FUNDUS_EFORMAT);
	CHECK_STR_EQ(fundus_errmsg(), "description: line 1: [net] needs 'height'");
	c[0] = keep;
	/* a missing tensor */
	keep = c[4];
	memmove(&c[4], &c[5], (size_t)(nc - 5) * sizeof c[0]);
	n = join(out, 1, c, nc - 1);
	CHECK_INT_EQ(fundus_net_load_buffer(&back, out, n), FUNDUS_EFORMAT);
	CHECK_STR_EQ(fundus_errmsg(), "tensor conv0.bn.gamma is missing");
	/* a tensor given twice */
	c[nc - 1] = c[nc - 2];
	c[nc - 2] = c[3];
	n = join(out, 1, c, nc);
	CHECK_INT_EQ(fundus_net_load_buffer(&back, out, n), FUNDUS_EFORMAT);
	CHECK_STR_EQ(fundus_errmsg(), "tensor conv0.weight: given twice");
	c[nc - 2] = c[nc - 1];
	memmove(&c[5], &c[4], (size_t)(nc - 5) * sizeof c[0]);
	c[4] = keep;
	n = join(out, 1, c, nc);
	CHECK_OK(fundus_net_load_buffer(&back, out, n));
	fundus_net_free(back);
	/* a tensor the network does not have */
	memcpy(c[4].data + 4, "conv9", 5);
	n = join(out, 1, c, nc);
	CHECK_INT_EQ(fundus_net_load_buffer(&back, out, n), FUNDUS_EFORMAT);
	CHECK_STR_EQ(fundus_errmsg(), "tensor conv9.bn.gamma: not in the network");
	memcpy(c[4].data + 4, "conv0", 5);
	/* a value that is not a number */
	memcpy(saved, c[4].data + c[4].len - 4, 4);
	put32(c[4].data + c[4].len - 4, 0x7fc00000u);
	n = join(out, 1, c, nc);
	CHECK_INT_EQ(fundus_net_load_buffer(&back, out, n), FUNDUS_EFORMAT);
	CHECK_STR_EQ(fundus_errmsg(), "tensor conv0.bn.gamma: value 3 is not a finite number");
	memcpy(c[4].data + c[4].len - 4, saved, 4);
	/* an unknown chunk, and chunks out of order */
	extra = c[nc - 1];
	memcpy(c[nc - 1].type, "XTRA", 4);
	n = join(out, 1, c, nc);
	CHECK_INT_EQ(fundus_net_load_buffer(&back, out, n), FUNDUS_EFORMAT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "unknown chunk XTRA at byte");
	c[nc - 1] = extra;
	keep = c[1];
	c[1] = c[2];
	c[2] = keep;
	n = join(out, 1, c, nc);
	CHECK_INT_EQ(fundus_net_load_buffer(&back, out, n), FUNDUS_EFORMAT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "chunk LABL at byte");
	CHECK_STR_CONTAINS(fundus_errmsg(), "expected INPT");
	c[2] = c[1];
	c[1] = keep;
	/* a bad label */
	c[2].data[8] = '\n';
	n = join(out, 1, c, nc);
	CHECK_INT_EQ(fundus_net_load_buffer(&back, out, n), FUNDUS_EFORMAT);
	CHECK_STR_EQ(fundus_errmsg(), "chunk LABL: label 0 is not printable UTF-8");
	c[2].data[8] = 'o';
	/* an input of other channels */
	put32(c[1].data + 8, 1);
	n = join(out, 1, c, nc);
	CHECK_INT_EQ(fundus_net_load_buffer(&back, out, n), FUNDUS_EFORMAT);
	CHECK_STR_EQ(fundus_errmsg(), "chunk INPT: 1 channels, the network takes 3");
	put32(c[1].data + 8, 3);
	/* data after the end */
	n = join(out, 1, c, nc);
	out[n++] = 0;
	CHECK_INT_EQ(fundus_net_load_buffer(&back, out, n), FUNDUS_EFORMAT);
	CHECK_STR_EQ(fundus_errmsg(), "1 bytes after the end marker");
	n = join(out, 1, c, nc);
	CHECK_OK(fundus_net_load_buffer(&back, out, n));
	CHECK(same_net(net, back));
	fundus_net_free(back);
	for (int i = 0; i < nc; i++)
		free(c[i].data);
	free(out);
	fundus_free(buf);
	fundus_net_free(net);
}

TEST(alloc_failures_while_loading)
{
	uint8_t *buf;
	size_t len;
	struct fundus_net *net = small_net(&buf, &len), *back = NULL;
	long n;

	for (n = 0; n < 10000; n++) {
		int rc;

		fundus_alloc_fail_after(n);
		rc = fundus_net_load_buffer(&back, buf, len);
		fundus_alloc_fail_after(-1);
		if (rc == 0)
			break;
		CHECK_INT_EQ(rc, FUNDUS_ENOMEM);
		CHECK(back == NULL);
	}
	CHECK(back != NULL);
	CHECK(n > 10);
	CHECK(same_net(net, back));
	fundus_net_free(back);
	/* And saving. */
	for (n = 0; n < 10000; n++) {
		uint8_t *b2 = NULL;
		size_t l2;
		int rc;

		fundus_alloc_fail_after(n);
		rc = fundus_net_save_buffer(net, &b2, &l2);
		fundus_alloc_fail_after(-1);
		if (rc == 0) {
			fundus_free(b2);
			break;
		}
		CHECK_INT_EQ(rc, FUNDUS_ENOMEM);
	}
	fundus_free(buf);
	fundus_net_free(net);
}

TEST(labels_and_input_are_checked)
{
	struct fundus_net *net = small_net(NULL, NULL);
	const char *const empty[] = {""};
	struct fundus_net_input in;

	CHECK_INT_EQ(fundus_net_set_labels(net, empty, 1), FUNDUS_EINVAL);
	CHECK_INT_EQ(fundus_net_label_count(net), 2);
	fundus_net_get_input(net, &in);
	in.channels = 1;
	CHECK_INT_EQ(fundus_net_set_input(net, &in), FUNDUS_EINVAL);
	in.channels = 3;
	in.std[1] = 0;
	CHECK_INT_EQ(fundus_net_set_input(net, &in), FUNDUS_EINVAL);
	fundus_net_free(net);
}

struct worker {
	struct fundus_net *net;
	const float *x;
	const float *want;
	int ok;
};

/* Makes its own context on the shared network and runs it a few times. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct fundus_nn_ctx_params cp;
	struct fundus_nn_ctx *ctx;
	float y[2 * 4 * 3];

	fundus_nn_ctx_defaults(&cp);
	w->ok = fundus_nn_ctx_new(&ctx, w->net, &cp) == 0;
	for (int i = 0; i < 50 && w->ok; i++)
		w->ok = fundus_nn_forward(ctx, w->x) == 0 && fundus_nn_get_output(ctx, 0, y) == 0 &&
			memcmp(y, w->want, sizeof y) == 0;
	fundus_nn_ctx_free(ctx);
	return NULL;
}

/* One network, read by several inference contexts on several threads at once. */
TEST(contexts_share_one_network)
{
	struct fundus_net *net = small_net(NULL, NULL);
	struct fundus_nn_ctx_params cp;
	struct fundus_nn_ctx *ctx;
	struct worker w[4];
	pthread_t th[4];
	struct fundus_rng rng;
	float *x, want[2 * 4 * 3];

	fundus_rng_seed(&rng, 2);
	x = nu_random(&rng, 3 * 6 * 8, 1);
	fundus_nn_ctx_defaults(&cp);
	CHECK_OK(fundus_nn_ctx_new(&ctx, net, &cp));
	CHECK_OK(fundus_nn_forward(ctx, x));
	CHECK_OK(fundus_nn_get_output(ctx, 0, want));
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){net, x, want, 0};
		CHECK_INT_EQ(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK(w[i].ok);
	}
	fundus_nn_ctx_free(ctx);
	free(x);
	fundus_net_free(net);
}

int main(int argc, char **argv)
{
	RUN(round_trip_in_memory_and_on_disk);
	RUN(loaded_model_gives_the_same_outputs);
	RUN(truncated_at_every_byte);
	RUN(flipped_bytes_fail_their_checksum);
	RUN(damage_with_good_checksums);
	RUN(alloc_failures_while_loading);
	RUN(labels_and_input_are_checked);
	RUN(contexts_share_one_network);
	return harness_done();
}

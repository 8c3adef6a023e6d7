/*
 * Tests of network descriptions: the built-in yolov3-tiny, and every kind
 * of mistake a description can make, each reported with its line.
 */
#include <stdio.h>

#include "fundus/core.h"
#include "fundus/nn.h"
#include "harness.h"
#include "nnutil.h"

/* Builds desc; returns the code (the network is freed). */
static int build(const char *desc)
{
	struct fundus_net *net = NULL;
	int rc = fundus_net_new(&net, desc, strlen(desc), NULL);

	fundus_net_free(net);
	return rc;
}

TEST(centre_head_and_net_options)
{
	const char *desc = fundus_net_builtin("disc-centre");
	const char *bad = "[net]\nwidth=64\nheight=64\npreprocess=lcn\n"
			  "[convolutional]\nfilters=6\nsize=1\n[centre]\nclasses=1\n";
	const char *badpp = "[net]\nwidth=64\nheight=64\npreprocess=clahe\n"
			    "[convolutional]\nfilters=5\nsize=1\n[centre]\n";
	const char *badsig = "[net]\nwidth=64\nheight=64\nlcn_sigma=2\n"
			     "[convolutional]\nfilters=5\nsize=1\n[centre]\n";
	struct fundus_net *net;
	int last;

	CHECK(desc != NULL);
	CHECK_OK(fundus_net_new(&net, desc, strlen(desc), NULL));
	CHECK_INT_EQ(fundus_net_output_count(net), 1);
	last = fundus_net_output_layer(net, 0);
	CHECK_STR_EQ(fundus_net_layer_type(net, last), "centre");
	CHECK_INT_EQ(fundus_net_layer_channels(net, last), 5);
	CHECK_STR_EQ(fundus_net_layer_option(net, -1, "preprocess"), "lcn");
	CHECK_STR_EQ(fundus_net_layer_option(net, -1, "lcn_sigma"), "0.1");
	CHECK(fundus_net_layer_option(net, -1, "nothing") == NULL);
	CHECK(fundus_net_layer_option(net, -2, "width") == NULL);
	fundus_net_free(net);
	CHECK_INT_EQ(fundus_net_new(&net, bad, strlen(bad), NULL), FUNDUS_EFORMAT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "line 8: [centre]: the layer before has 6 channels, "
					    "not 1 classes + 4 = 5");
	CHECK_INT_EQ(fundus_net_new(&net, badpp, strlen(badpp), NULL), FUNDUS_EFORMAT);
	CHECK_STR_CONTAINS(fundus_errmsg(),
			   "line 4: [net]: preprocess: 'clahe' is not one of none, lcn");
	CHECK_INT_EQ(fundus_net_new(&net, badsig, strlen(badsig), NULL), FUNDUS_EFORMAT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "line 4: [net]: lcn_sigma: 2 is out of range");
}

TEST(builtin_yolov3_tiny)
{
	const char *desc = fundus_net_builtin("yolov3-tiny");
	struct fundus_net *net;
	struct fundus_net_input in;
	struct fundus_net_tensor t;
	double flops;
	int i;

	CHECK(desc != NULL);
	{
		int found = 0;

		for (i = 0; fundus_net_builtin_name(i); i++)
			found += strcmp(fundus_net_builtin_name(i), "yolov3-tiny") == 0;
		CHECK_INT_EQ(found, 1);
	}
	CHECK(fundus_net_builtin("no-such-net") == NULL);
	CHECK_OK(fundus_net_new(&net, desc, strlen(desc), NULL));
	CHECK_INT_EQ(fundus_net_layer_count(net), 24);
	CHECK_INT_EQ(fundus_net_output_count(net), 2);
	CHECK_INT_EQ(fundus_net_output_layer(net, 0), 16);
	CHECK_INT_EQ(fundus_net_output_layer(net, 1), 23);
	CHECK_STR_EQ(fundus_net_layer_type(net, 20), "route");
	CHECK_INT_EQ(fundus_net_layer_channels(net, 20), 384);
	CHECK_STR_EQ(fundus_net_layer_option(net, 16, "mask"), "3,4,5");
	CHECK_STR_EQ(fundus_net_layer_option(net, 23, "anchors"),
		     "10,14, 23,27, 37,58, 81,82, 135,169, 344,319");
	CHECK(fundus_net_layer_option(net, 16, "nothing") == NULL);
	fundus_net_get_input(net, &in);
	CHECK_INT_EQ(in.width, 256);
	CHECK_INT_EQ(in.channels, 3);
	/* darknet counts 2.06 GFLOP at 256 x 256 (5.45 at 416) for one class */
	flops = fundus_net_flops(net, 256, 256);
	CHECK_NEAR(flops / 1e9, 2.06, 0.01);
	CHECK_NEAR(fundus_net_flops(net, 416, 416) / 1e9, 5.45, 0.02);
	i = fundus_net_find_tensor(net, "conv12.weight");
	CHECK_OK(fundus_net_tensor(net, i, &t));
	CHECK_INT_EQ(t.ndim, 4);
	CHECK_INT_EQ(t.dims[0], 1024);
	CHECK_INT_EQ(t.dims[1], 512);
	CHECK_INT_EQ(t.dims[2], 3);
	CHECK(t.decay && t.trainable);
	CHECK_OK(fundus_net_tensor(net, fundus_net_find_tensor(net, "conv12.bn.var"), &t));
	CHECK(!t.decay && !t.trainable);
	CHECK_OK(fundus_net_tensor(net, fundus_net_find_tensor(net, "conv15.bias"), &t));
	CHECK(!t.decay && t.trainable);
	CHECK_INT_EQ(t.dims[0], 18);
	CHECK_INT_EQ(fundus_net_find_tensor(net, "conv1.weight"), -1);
	fundus_net_free(net);
}

TEST(output_shapes_at_two_sizes)
{
	const char *desc = fundus_net_builtin("yolov3-tiny");
	struct fundus_net *net;
	struct fundus_nn_ctx *ctx;
	struct fundus_nn_ctx_params cp;
	int s[4];

	CHECK_OK(fundus_net_new(&net, desc, strlen(desc), NULL));
	fundus_nn_ctx_defaults(&cp);
	cp.width = cp.height = 64;
	CHECK_OK(fundus_nn_ctx_new(&ctx, net, &cp));
	CHECK_OK(fundus_nn_output_shape(ctx, 0, s));
	CHECK_INT_EQ(s[1], 18);
	CHECK_INT_EQ(s[2], 2);
	CHECK_OK(fundus_nn_output_shape(ctx, 1, s));
	CHECK_INT_EQ(s[2], 4);
	CHECK_INT_EQ(fundus_nn_output_shape(ctx, 2, s), FUNDUS_EINVAL);
	fundus_nn_ctx_free(ctx);
	/* 72 is not a multiple of 32: the route's two inputs differ in size */
	cp.width = 72;
	CHECK_INT_EQ(fundus_nn_ctx_new(&ctx, net, &cp), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "layer 20 [route] (line 162): layer 19 is 6x4, layer 8 is 5x4");
	fundus_net_free(net);
}

#define HEAD "[net]\nwidth=8\nheight=8\nchannels=3\n"

static const struct {
	const char *desc;
	int code;
	const char *msg;
} bad[] = {
    /* syntax */
    {"", FUNDUS_EFORMAT, "line 1: the first section must be [net]"},
    {"# nothing\n[convolutional]\nfilters=1\n", FUNDUS_EFORMAT,
     "line 2: the first section must be [net]"},
    {"width=3\n[net]\n", FUNDUS_EFORMAT, "line 1: key before the first section"},
    {HEAD "[convolutional\n", FUNDUS_EFORMAT, "line 5: ']' expected"},
    {HEAD "[Conv]\n", FUNDUS_EFORMAT, "line 5: bad section name 'Conv'"},
    {HEAD "[convolutional]\nfilters 4\n", FUNDUS_EFORMAT,
     "line 6: expected [section] or key=value"},
    {HEAD "[convolutional]\nfilters=\n", FUNDUS_EFORMAT, "line 6: filters: no value"},
    {HEAD "[convolutional]\nfilters=2\nsize=3\nfilters=4\n", FUNDUS_EFORMAT,
     "line 8: [convolutional]: key 'filters' given twice (first on line 6)"},
    {HEAD "[net]\nwidth=3\n", FUNDUS_EFORMAT, "line 5: [net] given twice"},
    {HEAD, FUNDUS_EFORMAT, "the description has no layers"},
    /* unknown section, unknown key */
    {HEAD "\n[convolution]\nfilters=2\n", FUNDUS_EFORMAT, "line 6: unknown section [convolution]"},
    {HEAD "[convolutional]\nfliters=2\n", FUNDUS_EFORMAT,
     "line 6: [convolutional]: unknown key 'fliters'"},
    {"[net]\nwidth=8\nheight=8\nbatch=64\n", FUNDUS_EFORMAT, "line 4: [net]: unknown key 'batch'"},
    /* bad values */
    {HEAD "[convolutional]\nfilters=2\nsize=abc\n", FUNDUS_EFORMAT,
     "line 7: [convolutional]: size: 'abc' is not an integer"},
    {HEAD "[convolutional]\nfilters=2\nsize=3.5\n", FUNDUS_EFORMAT,
     "line 7: [convolutional]: size: '3.5' is not an integer"},
    {HEAD "[convolutional]\nfilters=2\nsize=0\n", FUNDUS_EFORMAT,
     "line 7: [convolutional]: size: 0 is out of range (1 to 64)"},
    {HEAD "[convolutional]\nfilters=2\nactivation=tanh\n", FUNDUS_EFORMAT,
     "line 7: [convolutional]: activation: 'tanh' is not one of linear, relu, leaky"},
    {HEAD "[convolutional]\nfilters=99999999999999999999\n", FUNDUS_EFORMAT,
     "filters: '99999999999999999999' is not an integer"},
    {HEAD "[convolutional]\nfilters=6\n[yolo]\nanchors=1,2,,3\nclasses=1\n", FUNDUS_EFORMAT,
     "line 8: [yolo]: anchors: '1,2,,3' is not a list of numbers"},
    {HEAD "[convolutional]\nfilters=6\n[yolo]\nanchors=1,2\nclasses=1\njitter=2\n", FUNDUS_EFORMAT,
     "line 10: [yolo]: jitter: 2 is out of range (0 to 1)"},
    {HEAD "[route]\nlayers=-1 2\n", FUNDUS_EFORMAT,
     "line 6: [route]: layers: '-1 2' is not a list of integers"},
    /* missing keys */
    {HEAD "[convolutional]\nsize=3\n", FUNDUS_EFORMAT,
     "line 5: [convolutional] (layer 0) needs 'filters'"},
    {"[net]\nheight=8\n[maxpool]\n", FUNDUS_EFORMAT, "line 1: [net] needs 'width'"},
    {HEAD "[maxpool]\n[route]\n", FUNDUS_EFORMAT, "line 6: [route] (layer 1) needs 'layers'"},
    /* shapes that do not fit */
    {HEAD "[convolutional]\nfilters=4\ngroups=2\n", FUNDUS_EFORMAT,
     "line 5: [convolutional]: groups=2 does not divide 3 input channels and 4 filters"},
    {HEAD "[convolutional]\nfilters=4\nsize=11\n", FUNDUS_EINVAL,
     "layer 0 [convolutional] (line 5): input 8x8 is smaller than the kernel (11)"},
    {HEAD "[convolutional]\nfilters=4\npad=1\npadding=1\n", FUNDUS_EFORMAT,
     "line 5: [convolutional]: give pad or padding, not both"},
    {HEAD "[convolutional]\nfilters=3\nsize=1\n[maxpool]\n[route]\nlayers=-1,0\n", FUNDUS_EINVAL,
     "layer 2 [route] (line 9): layer 1 is 4x4, layer 0 is 8x8"},
    {HEAD "[maxpool]\n[route]\nlayers=3\n", FUNDUS_EFORMAT,
     "line 6: [route]: layer 3 does not come before this one (layer 1)"},
    {HEAD "[maxpool]\n[route]\nlayers=-2\n", FUNDUS_EFORMAT,
     "line 6: [route]: layer -2 does not come before this one (layer 1)"},
    {HEAD "[convolutional]\nfilters=4\n[convolutional]\nfilters=2\n[shortcut]\nfrom=-2\n",
     FUNDUS_EFORMAT, "line 9: [shortcut]: layer 1 has 2 channels, layer 0 has 4"},
    {HEAD "[convolutional]\nfilters=4\n[maxpool]\n[shortcut]\nfrom=0\n", FUNDUS_EINVAL,
     "layer 2 [shortcut] (line 8): layer 1 is 4x4, layer 0 is 8x8"},
    {HEAD "[convolutional]\nfilters=17\n[yolo]\nmask=0,1,2\nanchors=1,2,3,4,5,6\nclasses=1\n",
     FUNDUS_EFORMAT,
     "line 7: [yolo]: the layer before has 17 channels, not 3 anchors x (1 classes + 5) = 18"},
    {HEAD "[convolutional]\nfilters=6\n[yolo]\nmask=3\nanchors=1,2,3,4\nclasses=1\n",
     FUNDUS_EFORMAT, "line 7: [yolo]: mask 3 names no anchor (num=2)"},
    {HEAD "[maxpool]\nsize=2\npadding=2\n", FUNDUS_EFORMAT,
     "line 5: [maxpool]: padding 2 must be less than size 2"},
    {HEAD "[route]\nlayers=0\ngroups=2\ngroup_id=2\n", FUNDUS_EFORMAT,
     "line 5: [route]: group_id 2 is not below groups 2"},
    /* limits */
    {"[net]\nwidth=64\nheight=64\nchannels=65536\n[convolutional]\nfilters=65536\nsize=64\n",
     FUNDUS_ELIMIT, "more than 268435456 weights"},
};

TEST(bad_descriptions_name_the_line)
{
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = build(bad[i].desc);

		if (rc != bad[i].code || strstr(fundus_errmsg(), bad[i].msg) == NULL)
			fprintf(stderr, "case %zu:\n%s\n-> %d '%s'\n", i, bad[i].desc, rc,
				fundus_errmsg());
		CHECK_INT_EQ(rc, bad[i].code);
		CHECK_STR_CONTAINS(fundus_errmsg(), bad[i].msg);
	}
}

TEST(nul_bytes_and_long_lines)
{
	char desc[] = HEAD "[maxpool]\n";
	struct fundus_net *net;
	char *big;

	desc[3] = '\0';
	CHECK_INT_EQ(fundus_net_new(&net, desc, sizeof desc - 1, NULL), FUNDUS_EFORMAT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "NUL");
	big = malloc(10000);
	snprintf(big, 10000, HEAD "# ");
	memset(big + strlen(big), 'x', 5000);
	big[strlen(HEAD) + 5002] = '\0';
	CHECK_INT_EQ(build(big), FUNDUS_ELIMIT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "line 5: longer than");
	free(big);
}

TEST(too_many_layers)
{
	size_t cap = 20 * (FUNDUS_NET_MAX_LAYERS + 10), n = 0;
	char *desc = malloc(cap);

	n += (size_t)snprintf(desc, cap, HEAD);
	for (int i = 0; i < FUNDUS_NET_MAX_LAYERS + 1; i++)
		n += (size_t)snprintf(desc + n, cap - n, "[maxpool]\nstride=1\n");
	CHECK_INT_EQ(build(desc), FUNDUS_ELIMIT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "more than 1024 layers");
	free(desc);
}

/* Comments, blank lines, spaces, CRLF, darknet's names and list spacing all read. */
TEST(lenient_layout)
{
	const char *desc = "# a comment\r\n[net]\r\n  width = 16 \r\nheight=16\r\n; another\r\n\r\n"
			   "[ convolutional ]\r\nfilters=6\r\nsize = 3\r\npad=1\r\n"
			   "activation = swish\r\n[avgpool]\nsize=2\n[globalavgpool]\n";
	struct fundus_net *net;

	CHECK_OK(fundus_net_new(&net, desc, strlen(desc), NULL));
	CHECK_INT_EQ(fundus_net_layer_count(net), 3);
	CHECK_STR_EQ(fundus_net_layer_option(net, 0, "activation"), "swish");
	CHECK_STR_EQ(fundus_net_description(net), desc);
	fundus_net_free(net);
}

/* The same seed gives the same weights; another seed, others. */
TEST(initial_weights_follow_the_seed)
{
	const char *desc = HEAD "[convolutional]\nfilters=4\nsize=3\n";
	struct fundus_net_params p;
	struct fundus_net *a, *b, *c;
	struct fundus_net_tensor ta, tb, tc;

	fundus_net_defaults(&p);
	CHECK_OK(fundus_net_new(&a, desc, strlen(desc), &p));
	CHECK_OK(fundus_net_new(&b, desc, strlen(desc), &p));
	p.seed = 2;
	CHECK_OK(fundus_net_new(&c, desc, strlen(desc), &p));
	fundus_net_tensor(a, 0, &ta);
	fundus_net_tensor(b, 0, &tb);
	fundus_net_tensor(c, 0, &tc);
	CHECK(memcmp(ta.data, tb.data, ta.count * sizeof(float)) == 0);
	CHECK(memcmp(ta.data, tc.data, ta.count * sizeof(float)) != 0);
	for (size_t i = 0; i < ta.count; i++)
		CHECK(fabsf(ta.data[i]) <= sqrtf(6.0f / 27));
	fundus_net_free(a);
	fundus_net_free(b);
	fundus_net_free(c);
}

/* Every layer type, small. */
static const char all_layers[] =
    "[net]\nwidth=12\nheight=12\nchannels=2\n"
    "[convolutional]\nfilters=4\nsize=3\nstride=2\npad=1\nbatch_normalize=1\nactivation=silu\n"
    "[convolutional]\nfilters=4\nsize=3\ngroups=4\npadding=2\ndilation=2\nactivation=relu\n"
    "[batchnorm]\n[activation]\nactivation=logistic\n[shortcut]\nfrom=-4\nactivation=leaky\n"
    "[maxpool]\nsize=2\nstride=1\n[avgpool]\nsize=3\nstride=2\npadding=1\n[upsample]\n"
    "[route]\nlayers=-1,0\ngroups=2\ngroup_id=1\n[convolutional]\nfilters=12\nsize=1\n"
    "[yolo]\nmask=0,1\nanchors=1,2, 3,4, 5,6\nclasses=1\nnum=3\n[route]\nlayers=-2\n"
    "[globalavgpool]\n";

TEST(alloc_failures_while_building)
{
	const char *desc = all_layers;
	int done = 0;

	for (long n = 0; n < 100000 && !done; n++) {
		struct fundus_net *net = NULL;
		struct fundus_nn_ctx *ctx = NULL;
		struct fundus_nn_ctx_params cp;
		int rc;

		fundus_nn_ctx_defaults(&cp);
		cp.mode = FUNDUS_NN_TRAIN;
		cp.threads = 2;
		fundus_alloc_fail_after(n);
		rc = fundus_net_new(&net, desc, strlen(desc), NULL);
		if (rc == 0)
			rc = fundus_nn_ctx_new(&ctx, net, &cp);
		fundus_alloc_fail_after(-1);
		if (rc == 0)
			done = 1;
		else
			CHECK_INT_EQ(rc, FUNDUS_ENOMEM);
		fundus_nn_ctx_free(ctx);
		fundus_net_free(net);
	}
	CHECK(done);
}

int main(int argc, char **argv)
{
	RUN(centre_head_and_net_options);
	RUN(builtin_yolov3_tiny);
	RUN(output_shapes_at_two_sizes);
	RUN(bad_descriptions_name_the_line);
	RUN(nul_bytes_and_long_lines);
	RUN(too_many_layers);
	RUN(lenient_layout);
	RUN(initial_weights_follow_the_seed);
	RUN(alloc_failures_while_building);
	return harness_done();
}

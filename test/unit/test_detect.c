/*
 * Detectors (fundus/detect.h): letterboxing, normalisation, decoding of
 * [centre] and [yolo] heads back to image coordinates, suppression,
 * records, load errors.
 */
#include <math.h>
#include <string.h>

#include "fundus/detect.h"
#include "fundus/file.h"
#include "harness.h"
#include "testutil.h"

/*
 * A 32x32 network of one 1x1 convolution and a [centre] head, at stride
 * 1: heatmap logit = 20 R - 10 (R the red input in 0..1), offset 0.5, 0.5,
 * size exp(1.386) = 4 cells. A single red pixel is then one detection of a
 * 4x4 box centred on that pixel's centre.
 */
static const char centre_desc[] = "[net]\nwidth=32\nheight=32\n"
				  "[convolutional]\nfilters=5\nsize=1\nactivation=linear\n"
				  "[centre]\nclasses=1\n";

static struct fundus_net *centre_net(void)
{
	struct fundus_net *net;
	struct fundus_net_tensor w, b;
	const char *label = "dot";

	if (fundus_net_new(&net, centre_desc, strlen(centre_desc), NULL) < 0)
		return NULL;
	fundus_net_tensor(net, fundus_net_find_tensor(net, "conv0.weight"), &w);
	fundus_net_tensor(net, fundus_net_find_tensor(net, "conv0.bias"), &b);
	memset(w.data, 0, w.count * sizeof(float));
	w.data[0] = 20; /* filter 0, channel 0 (red) */
	b.data[0] = -10;
	b.data[1] = 0.5f;
	b.data[2] = 0.5f;
	b.data[3] = logf(4);
	b.data[4] = logf(4);
	fundus_net_set_labels(net, &label, 1);
	fundus_net_touch(net);
	return net;
}

/* A black RGB8 image with red pixels at the given points. */
static struct fundus_image *dots(int w, int h, const int *xy, int n)
{
	struct fundus_image *img;

	if (fundus_image_new(&img, w, h, FUNDUS_PIX_RGB8) < 0)
		return NULL;
	for (int i = 0; i < n; i++)
		fundus_image_pixel(img, xy[2 * i], xy[2 * i + 1])[0] = 255;
	return img;
}

TEST(letterbox_geometry)
{
	struct fundus_image *img = dots(64, 32, (const int[]){0, 0, 63, 31}, 2), *out;
	struct fundus_letterbox lb;

	CHECK_OK(fundus_detect_letterbox(img, 32, 32, &out, &lb));
	CHECK_INT_EQ(out->width, 32);
	CHECK_INT_EQ(out->height, 32);
	CHECK_NEAR(lb.scale, 0.5, 1e-12);
	CHECK_NEAR(lb.dx, 0, 1e-12);
	CHECK_NEAR(lb.dy, 8, 1e-12);
	/* black bands above and below, the picture in rows 8..23 */
	CHECK_INT_EQ(fundus_image_pixel(out, 5, 3)[0], 0);
	CHECK_INT_EQ(fundus_image_pixel(out, 5, 28)[0], 0);
	CHECK_INT_GT(fundus_image_pixel(out, 0, 8)[0], 0);
	CHECK_INT_GT(fundus_image_pixel(out, 31, 23)[0], 0);
	fundus_image_free(out);
	CHECK_INT_EQ(fundus_detect_letterbox(img, 0, 32, &out, &lb), FUNDUS_EINVAL);
	fundus_image_free(img);
}

TEST(normalise_plain_and_local)
{
	const char *plain = "[net]\nwidth=16\nheight=16\n[convolutional]\nfilters=5\nsize=1\n"
			    "[centre]\n";
	const char *lcn = "[net]\nwidth=64\nheight=64\npreprocess=lcn\nlcn_sigma=0.1\n"
			  "[convolutional]\nfilters=5\nsize=1\n[centre]\n";
	struct fundus_net *net;
	struct fundus_net_input in;
	struct fundus_image *img;
	float out[3 * 64 * 64];
	double sum = 0;
	int inside = 0;

	CHECK_OK(fundus_net_new(&net, plain, strlen(plain), NULL));
	fundus_net_get_input(net, &in);
	in.mean[1] = 0.5f;
	in.std[1] = 0.25f;
	CHECK_OK(fundus_net_set_input(net, &in));
	CHECK_OK(fundus_image_new(&img, 16, 16, FUNDUS_PIX_RGB8));
	memset(img->data, 255, img->stride * 16);
	CHECK_OK(fundus_detect_normalise(net, img, out, NULL));
	CHECK_NEAR(out[0], 1.0, 1e-6);           /* (1 - 0) / 1 */
	CHECK_NEAR(out[256 + 7], 2.0, 1e-6);     /* (1 - 0.5) / 0.25 */
	fundus_image_free(img);
	fundus_net_free(net);

	/* A bright disc of field on black: 0 outside, about zero mean inside. */
	CHECK_OK(fundus_net_new(&net, lcn, strlen(lcn), NULL));
	CHECK_OK(fundus_image_new(&img, 64, 64, FUNDUS_PIX_RGB8));
	for (int y = 0; y < 64; y++)
		for (int x = 0; x < 64; x++) {
			uint8_t *p = fundus_image_pixel(img, x, y);

			if ((x - 32) * (x - 32) + (y - 32) * (y - 32) < 28 * 28) {
				p[0] = (uint8_t)(120 + 60 * ((x / 4 + y / 4) % 2));
				p[1] = 60;
				p[2] = 20;
			}
		}
	CHECK_OK(fundus_detect_normalise(net, img, out, NULL));
	CHECK_NEAR(out[0], 0, 0);
	CHECK_NEAR(out[64 * 64 - 1], 0, 0);
	for (int y = 0; y < 64; y++)
		for (int x = 0; x < 64; x++)
			if ((x - 32) * (x - 32) + (y - 32) * (y - 32) < 20 * 20) {
				sum += out[y * 64 + x];
				inside++;
			}
	CHECK(fabs(sum / inside) < 0.3);
	/* the chequer pattern of red survives: bright squares positive, dark negative */
	CHECK(out[32 * 64 + 33] * out[32 * 64 + 29] < 0);
	/* a darker copy of the same photograph gives nearly the same input */
	{
		float dark[3 * 64 * 64];
		double diff = 0;

		for (int y = 0; y < 64; y++)
			for (int x = 0; x < 64; x++) {
				uint8_t *p = fundus_image_pixel(img, x, y);

				for (int c = 0; c < 3; c++)
					p[c] = (uint8_t)(p[c] / 2);
			}
		CHECK_OK(fundus_detect_normalise(net, img, dark, NULL));
		for (int i = 0; i < 64 * 64; i++)
			diff = fmax(diff, fabs(dark[i] - out[i]));
		CHECK(diff < 0.35);
	}
	fundus_image_free(img);
	/* small inputs take the fine grid; scratch of the size the library says */
	{
		const char *tiny = "[net]\nwidth=20\nheight=12\npreprocess=lcn\n"
				   "[convolutional]\nfilters=5\nsize=1\n[centre]\n";
		struct fundus_net *tn;
		struct fundus_image *ti;
		float *scratch, small[3 * 20 * 12];

		CHECK_OK(fundus_net_new(&tn, tiny, strlen(tiny), NULL));
		CHECK_OK(fundus_image_new(&ti, 20, 12, FUNDUS_PIX_RGB8));
		memset(ti->data, 200, ti->stride * 12);
		scratch = fundus_malloc(fundus_detect_normalise_scratch(20, 12) * sizeof(float));
		CHECK_OK(fundus_detect_normalise(tn, ti, small, scratch));
		CHECK_NEAR(small[5 * 20 + 10], 0, 1e-3); /* flat: no contrast anywhere */
		fundus_free(scratch);
		fundus_image_free(ti);
		fundus_net_free(tn);
	}
	/* the wrong size is refused */
	CHECK_OK(fundus_image_new(&img, 32, 64, FUNDUS_PIX_RGB8));
	CHECK_INT_EQ(fundus_detect_normalise(net, img, out, NULL), FUNDUS_EINVAL);
	fundus_image_free(img);
	fundus_net_free(net);
}

TEST(centre_head_to_image_coordinates)
{
	struct fundus_net *net = centre_net();
	struct fundus_detector *det;
	struct fundus_detect_ctx *c;
	struct fundus_detect_params p;
	struct fundus_image *img;
	const struct fundus_detection *d;
	int n;

	CHECK(net != NULL);
	CHECK_OK(fundus_detector_new(&det, net));
	CHECK_STR_EQ(fundus_detector_name(det), "model");
	CHECK_STR_CONTAINS(fundus_detector_id(det), "sha256:");
	CHECK_INT_EQ((int)strlen(fundus_detector_id(det)), 7 + 64);
	CHECK_OK(fundus_detect_ctx_new(&c, det, 1));
	fundus_detect_defaults(&p);
	/* 32x32 image, dots at (5, 7) and (20, 25): boxes of 4x4 around their centres */
	img = dots(32, 32, (const int[]){5, 7, 20, 25}, 2);
	CHECK_OK(fundus_detect_run(c, img, 0, 0, &p, &d, &n, NULL));
	CHECK_INT_EQ(n, 2);
	for (int i = 0; i < n; i++) {
		double cx = (d[i].box.x0 + d[i].box.x1) / 2, cy = (d[i].box.y0 + d[i].box.y1) / 2;
		int first = fabs(cx - 5.5) < 1e-4;

		CHECK_NEAR(cx, first ? 5.5 : 20.5, 1e-4);
		CHECK_NEAR(cy, first ? 7.5 : 25.5, 1e-4);
		CHECK_NEAR(d[i].box.x1 - d[i].box.x0, 4, 1e-4);
		CHECK_NEAR(d[i].score, 1 / (1 + exp(-10.0)), 1e-4);
		CHECK_INT_EQ(d[i].label, 0);
	}
	/* the same image said to be a 1/4 decode of a 128x128 one: everything x4 */
	CHECK_OK(fundus_detect_run(c, img, 128, 128, &p, &d, &n, NULL));
	CHECK_INT_EQ(n, 2);
	CHECK_NEAR(d[0].box.x1 - d[0].box.x0, 16, 1e-3);
	fundus_image_free(img);
	/* 64x32 image: letterboxed at scale 0.5 with 8 rows above; back to image pixels */
	img = dots(64, 32, (const int[]){10, 10, 11, 10, 10, 11, 11, 11}, 4);
	CHECK_OK(fundus_detect_run(c, img, 0, 0, &p, &d, &n, NULL));
	CHECK_INT_EQ(n, 1);
	CHECK_NEAR((d[0].box.x0 + d[0].box.x1) / 2, 11, 1e-3);
	CHECK_NEAR((d[0].box.y0 + d[0].box.y1) / 2, 11, 1e-3);
	CHECK_NEAR(d[0].box.x1 - d[0].box.x0, 8, 1e-3);
	fundus_image_free(img);
	/* threshold above the score: nothing */
	img = dots(32, 32, (const int[]){5, 7}, 1);
	p.threshold = 0.99999f;
	CHECK_OK(fundus_detect_run(c, img, 0, 0, &p, &d, &n, NULL));
	CHECK_INT_EQ(n, 0);
	fundus_image_free(img);
	fundus_detect_ctx_free(c);
	fundus_detector_free(det);
	fundus_net_free(net);
}

TEST(suppression_and_top)
{
	struct fundus_net *net = centre_net();
	struct fundus_detector *det;
	struct fundus_detect_ctx *c;
	struct fundus_detect_params p;
	struct fundus_image *img;
	const struct fundus_detection *d;
	struct fundus_record *r;
	char *line;
	int n;

	CHECK_OK(fundus_detector_new(&det, net));
	CHECK_OK(fundus_detect_ctx_new(&c, det, 2));
	fundus_detect_defaults(&p);
	/* two dots two pixels apart: 4x4 boxes overlapping at IoU 1/3; a third far away */
	img = dots(32, 32, (const int[]){10, 10, 12, 10, 25, 25}, 3);
	CHECK_OK(fundus_detect_run(c, img, 0, 0, &p, &d, &n, NULL));
	CHECK_INT_EQ(n, 3);
	p.nms = 0.3f;
	CHECK_OK(fundus_detect_run(c, img, 0, 0, &p, &d, &n, NULL));
	CHECK_INT_EQ(n, 2);
	p.top = 1;
	CHECK_OK(fundus_detect_run(c, img, 0, 0, &p, &d, &n, NULL));
	CHECK_INT_EQ(n, 1);
	CHECK_OK(fundus_record_new(&r));
	CHECK_OK(fundus_detect_to_record(det, d, n, r));
	CHECK_INT_EQ((int)r->n_objects, 1);
	CHECK_STR_EQ(r->objects[0].label, "dot");
	CHECK_STR_EQ(r->objects[0].by, "model:model");
	CHECK_OK(fundus_record_format(r, &line, NULL));
	CHECK_STR_CONTAINS(line, "\"score\":1");
	fundus_free(line);
	fundus_record_free(r);
	fundus_image_free(img);
	fundus_detect_ctx_free(c);
	fundus_detector_free(det);
	fundus_net_free(net);
}

TEST(load_errors_and_names)
{
	const char *nohead = "[net]\nwidth=16\nheight=16\n[convolutional]\nfilters=2\nsize=1\n";
	struct fundus_net *net;
	struct fundus_detector *det;
	const char *path = tu_path("dots.fdm");
	uint8_t *data;
	size_t len;

	CHECK_OK(fundus_net_new(&net, nohead, strlen(nohead), NULL));
	CHECK_INT_EQ(fundus_detector_new(&det, net), FUNDUS_EFORMAT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "no detection head");
	fundus_net_free(net);
	net = centre_net();
	CHECK_OK(fundus_net_save(net, path));
	CHECK_OK(fundus_detector_load(&det, path));
	CHECK_STR_EQ(fundus_detector_name(det), "dots");
	CHECK_INT_EQ(fundus_detector_scale(det, 4288, 2848), 8);
	CHECK_INT_EQ(fundus_detector_scale(det, 64, 64), 2);
	CHECK_INT_EQ(fundus_detector_scale(det, 40, 40), 1);
	fundus_detector_free(det);
	CHECK_INT_EQ(fundus_detector_load(&det, tu_path("none.fdm")), FUNDUS_ENOENT);
	CHECK_OK(fundus_file_read(path, 1 << 20, &data, &len));
	CHECK_OK(tu_write_file(path, data, len / 2));
	CHECK_INT_EQ(fundus_detector_load(&det, path), FUNDUS_EFORMAT);
	fundus_free(data);
	fundus_net_free(net);
}

TEST(yolo_head_decodes)
{
	/* One anchor of 8x8 pixels on a 4x4 grid of a 32x32 input (stride 8). */
	const char *desc = "[net]\nwidth=32\nheight=32\n"
			   "[maxpool]\nsize=8\nstride=8\n"
			   "[convolutional]\nfilters=6\nsize=1\nactivation=linear\n"
			   "[yolo]\nmask=0\nanchors=8,8\nclasses=1\nnum=1\n";
	struct fundus_net *net;
	struct fundus_net_tensor w, b;
	struct fundus_detector *det;
	struct fundus_detect_ctx *c;
	struct fundus_detect_params p;
	struct fundus_image *img;
	const struct fundus_detection *d;
	int n;

	CHECK_OK(fundus_net_new(&net, desc, strlen(desc), NULL));
	fundus_net_tensor(net, fundus_net_find_tensor(net, "conv1.weight"), &w);
	fundus_net_tensor(net, fundus_net_find_tensor(net, "conv1.bias"), &b);
	memset(w.data, 0, w.count * sizeof(float));
	memset(b.data, 0, b.count * sizeof(float));
	w.data[4 * 3 + 0] = 20; /* objectness from red */
	b.data[4] = -10;
	b.data[5] = 10;         /* class: certain */
	fundus_net_touch(net);
	CHECK_OK(fundus_detector_new(&det, net));
	CHECK_OK(fundus_detect_ctx_new(&c, det, 1));
	fundus_detect_defaults(&p);
	img = dots(32, 32, (const int[]){19, 12}, 1); /* cell (2, 1) */
	CHECK_OK(fundus_detect_run(c, img, 0, 0, &p, &d, &n, NULL));
	CHECK_INT_EQ(n, 1);
	/* centre at (2 + sigmoid(0)) * 8 = 20, (1 + 0.5) * 8 = 12; size 8 */
	CHECK_NEAR((d[0].box.x0 + d[0].box.x1) / 2, 20, 1e-4);
	CHECK_NEAR((d[0].box.y0 + d[0].box.y1) / 2, 12, 1e-4);
	CHECK_NEAR(d[0].box.x1 - d[0].box.x0, 8, 1e-4);
	fundus_image_free(img);
	fundus_detect_ctx_free(c);
	fundus_detector_free(det);
	fundus_net_free(net);
}

TEST(allocation_failures)
{
	struct fundus_net *net = centre_net();
	struct fundus_image *img = dots(40, 30, (const int[]){5, 7}, 1);
	long k;

	for (k = 0; k < 10000; k++) {
		struct fundus_detector *det = NULL;
		struct fundus_detect_ctx *c = NULL;
		struct fundus_detect_params p;
		const struct fundus_detection *d;
		int n, rc;

		fundus_detect_defaults(&p);
		fundus_alloc_fail_after(k);
		rc = fundus_detector_new(&det, net);
		if (rc >= 0)
			rc = fundus_detect_ctx_new(&c, det, 1);
		if (rc >= 0)
			rc = fundus_detect_run(c, img, 0, 0, &p, &d, &n, NULL);
		fundus_alloc_fail_after(-1);
		fundus_detect_ctx_free(c);
		fundus_detector_free(det);
		if (rc >= 0)
			break;
		CHECK_INT_EQ(rc, FUNDUS_ENOMEM);
	}
	CHECK_INT_LT(k, 10000);
	fundus_image_free(img);
	fundus_net_free(net);
}

int main(int argc, char **argv)
{
	RUN(letterbox_geometry);
	RUN(normalise_plain_and_local);
	RUN(centre_head_to_image_coordinates);
	RUN(suppression_and_top);
	RUN(load_errors_and_names);
	RUN(yolo_head_decodes);
	RUN(allocation_failures);
	return harness_done();
}

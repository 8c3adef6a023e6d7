/*
 * Unit tests of the JPEG codec: round trips through the encoder and the
 * libjpeg compressor, EXIF orientation, DCT-domain scaling and pixel
 * exactness against djpeg, regions, errors, limits and allocation failures.
 *
 * The comparison with djpeg covers every photograph under
 * $FUNDUS_SHARED/data/{idrid,diaretdb1}/images (239 files, about 25 s with
 * the sanitizers on two cores): small enough to run by default.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jpeglib.h>

#include "fundus/image.h"
#include "harness.h"
#include "testutil.h"

/* A deterministic picture: smooth gradients, or texture with no symmetry. */
static struct fundus_image *pattern(int w, int h, enum fundus_pixfmt fmt, int smooth)
{
	struct fundus_image *img;
	int c = fundus_pixfmt_channels(fmt), b = fundus_pixfmt_bytes(fmt);

	if (fundus_image_new(&img, w, h, fmt) < 0)
		return NULL;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int k = 0; k < c; k++) {
				unsigned v;

				if (smooth)
					v = k == 0   ? (unsigned)(x * 255 / (w > 1 ? w - 1 : 1))
					    : k == 1 ? (unsigned)(y * 255 / (h > 1 ? h - 1 : 1))
					    : k == 2 ? (unsigned)((x + y) * 255 /
								  (w + h > 2 ? w + h - 2 : 1))
						     : 200u;
				else
					v = (unsigned)(x * 13 + y * 7 + k * 85 +
						       ((x / 4 + y / 3) % 3) * 50 +
						       (x * y) % 17 * 5) &
					    255u;
				if (b == 2)
					((uint16_t *)fundus_image_pixel(img, x, y))[k] =
					    (uint16_t)(v * 257);
				else
					fundus_image_pixel(img, x, y)[k] = (uint8_t)v;
			}
	return img;
}

/* Encodes with the codec under test. */
static int enc(const struct fundus_image *img, int quality, int subsample, uint8_t **d, size_t *n)
{
	struct fundus_save_options so;

	fundus_save_options_default(&so);
	so.type = FUNDUS_IMAGE_JPEG;
	so.quality = quality;
	so.subsample = subsample;
	return fundus_image_encode(img, &so, d, n);
}

/* Opens a buffer, copies its info when asked, and reads it. */
static int dec(const uint8_t *d, size_t n, const struct fundus_read_options *ro,
	       struct fundus_image **out, struct fundus_image_info *info)
{
	struct fundus_image_source *src;
	int rc;

	*out = NULL;
	rc = fundus_image_open_memory(&src, d, n, NULL);
	if (rc < 0)
		return rc;
	if (info)
		*info = *fundus_image_source_info(src);
	rc = fundus_image_read(src, ro, out);
	fundus_image_close(src);
	return rc;
}

/* Reads with the defaults but format NONE (the codec's native format) and a scale. */
static int dec_native(const uint8_t *d, size_t n, int scale, struct fundus_image **out)
{
	struct fundus_read_options ro;

	fundus_read_options_default(&ro);
	ro.format = FUNDUS_PIX_NONE;
	ro.scale = scale;
	return dec(d, n, &ro, out, NULL);
}

/* 1 when both images are identical; otherwise prints where they differ. */
static int same(const struct fundus_image *a, const struct fundus_image *b, const char *what)
{
	size_t row;

	if (a->width != b->width || a->height != b->height || a->format != b->format) {
		fprintf(stderr, "%s: %dx%d %s vs %dx%d %s\n", what, a->width, a->height,
			fundus_pixfmt_name(a->format), b->width, b->height,
			fundus_pixfmt_name(b->format));
		return 0;
	}
	row = (size_t)a->width * fundus_pixfmt_channels(a->format) * fundus_pixfmt_bytes(a->format);
	for (int y = 0; y < a->height; y++) {
		const uint8_t *pa = a->data + y * a->stride, *pb = b->data + y * b->stride;
		size_t i = 0;

		if (memcmp(pa, pb, row) == 0)
			continue;
		while (pa[i] == pb[i])
			i++;
		fprintf(stderr, "%s: differ at row %d byte %zu (%d vs %d)\n", what, y, i, pa[i],
			pb[i]);
		return 0;
	}
	return 1;
}

/* Largest and mean absolute sample difference of two 8-bit images of one size. */
static int max_abs(const struct fundus_image *a, const struct fundus_image *b, double *mean)
{
	size_t row = (size_t)a->width * fundus_pixfmt_channels(a->format);
	double sum = 0;
	int m = 0;

	for (int y = 0; y < a->height; y++)
		for (size_t i = 0; i < row; i++) {
			int d = abs(a->data[y * a->stride + i] - b->data[y * b->stride + i]);

			m = d > m ? d : m;
			sum += d;
		}
	if (mean)
		*mean = sum / ((double)row * a->height);
	return m;
}

/* What the test's libjpeg compressor writes. */
struct ljopt {
	int comps;
	J_COLOR_SPACE in_cs, jpeg_cs;
	int quality;
	int progressive;
	int full_chroma;  /* every component 1x1 */
	int no_adobe;     /* suppress the Adobe APP14 marker */
	int restart_rows; /* restart interval in MCU rows, 0 for none */
	int arith;        /* arithmetic coding instead of Huffman */
};

/* Compresses interleaved 8-bit samples with libjpeg; free() the result. */
static uint8_t *lj_compress(const uint8_t *px, int w, int h, const struct ljopt *o, size_t *len)
{
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr e;
	unsigned char *buf = NULL;
	unsigned long n = 0;

	c.err = jpeg_std_error(&e);
	jpeg_create_compress(&c);
	jpeg_mem_dest(&c, &buf, &n);
	c.image_width = (JDIMENSION)w;
	c.image_height = (JDIMENSION)h;
	c.input_components = o->comps;
	c.in_color_space = o->in_cs;
	jpeg_set_defaults(&c);
	jpeg_set_colorspace(&c, o->jpeg_cs);
	jpeg_set_quality(&c, o->quality, TRUE);
	if (o->full_chroma)
		for (int k = 0; k < c.num_components; k++)
			c.comp_info[k].h_samp_factor = c.comp_info[k].v_samp_factor = 1;
	if (o->no_adobe)
		c.write_Adobe_marker = FALSE;
	c.restart_in_rows = o->restart_rows;
	c.arith_code = o->arith ? TRUE : FALSE;
	if (o->progressive)
		jpeg_simple_progression(&c);
	jpeg_start_compress(&c, TRUE);
	while (c.next_scanline < c.image_height) {
		JSAMPROW r = (JSAMPROW)(px + (size_t)c.next_scanline * w * o->comps);

		jpeg_write_scanlines(&c, &r, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	*len = n;
	return buf;
}

/* Compresses a fundus image (gray8 or rgb8) with the test's compressor. */
static uint8_t *lj_image(const struct fundus_image *img, int progressive, size_t *len)
{
	struct ljopt o = {0};
	int gray = img->format == FUNDUS_PIX_GRAY8;

	o.comps = gray ? 1 : 3;
	o.in_cs = gray ? JCS_GRAYSCALE : JCS_RGB;
	o.jpeg_cs = gray ? JCS_GRAYSCALE : JCS_YCbCr;
	o.quality = 90;
	o.progressive = progressive;
	return lj_compress(img->data, img->width, img->height, &o, len);
}

/* The sampling factors of component k in a JPEG, read with libjpeg. */
static void lj_sampling(const uint8_t *d, size_t n, int k, int *h, int *v)
{
	struct jpeg_decompress_struct c;
	struct jpeg_error_mgr e;

	c.err = jpeg_std_error(&e);
	jpeg_create_decompress(&c);
	jpeg_mem_src(&c, d, (unsigned long)n);
	jpeg_read_header(&c, TRUE);
	*h = c.comp_info[k].h_samp_factor;
	*v = c.comp_info[k].v_samp_factor;
	jpeg_destroy_decompress(&c);
}

static int djpeg_checked, djpeg_present;

/* Whether djpeg can be run; says so once when it cannot. */
static int have_djpeg(void)
{
	if (!djpeg_checked) {
		djpeg_checked = 1;
		djpeg_present = system("djpeg -version </dev/null >/dev/null 2>&1") == 0;
		if (!djpeg_present)
			printf("skip: djpeg is missing (apt-get install libjpeg-turbo-progs); "
			       "comparisons with it are skipped\n");
	}
	return djpeg_present;
}

/* Decodes a file with `djpeg [-scale 1/N] -ppm` into an image; 0 or -1. */
static int djpeg_read(const char *path, int scale, struct fundus_image **out)
{
	char cmd[4600], magic[3] = {0};
	struct fundus_image *img = NULL;
	int w, h, maxv, ok = 0;
	FILE *p;

	*out = NULL;
	if (strchr(path, '\'') != NULL)
		return -1;
	snprintf(cmd, sizeof cmd, "djpeg -scale 1/%d -ppm '%s'", scale, path);
	p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	if (fscanf(p, "%2s %d %d %d", magic, &w, &h, &maxv) == 4 && maxv == 255 &&
	    (strcmp(magic, "P5") == 0 || strcmp(magic, "P6") == 0) && fgetc(p) != EOF &&
	    fundus_image_new(&img, w, h, magic[1] == '5' ? FUNDUS_PIX_GRAY8 : FUNDUS_PIX_RGB8) == 0)
		ok = fread(img->data, 1, img->stride * (size_t)h, p) == img->stride * (size_t)h;
	if (pclose(p) != 0 || !ok) {
		fundus_image_free(img);
		return -1;
	}
	*out = img;
	return 0;
}

/* Writes a buffer to a scratch file and decodes it with djpeg. */
static int djpeg_mem(const uint8_t *d, size_t n, int scale, struct fundus_image **out)
{
	const char *path = tu_path("djpeg-input.jpg");

	if (tu_write_file(path, d, n) < 0)
		return -1;
	return djpeg_read(path, scale, out);
}

/* An Exif APP1 payload with a Make tag, then the orientation (when o > 0). */
static size_t exif_payload(uint8_t *p, int o, int le)
{
	size_t n = 0;
	/* Writes a 16- or 32-bit value in the chosen byte order. */
#define PUT16(v)                                                                                   \
	do {                                                                                       \
		unsigned v_ = (unsigned)(v);                                                       \
		p[n++] = (uint8_t)(le ? v_ : v_ >> 8);                                             \
		p[n++] = (uint8_t)(le ? v_ >> 8 : v_);                                             \
	} while (0)
#define PUT32(v)                                                                                   \
	do {                                                                                       \
		uint32_t w_ = (uint32_t)(v);                                                       \
		if (le) {                                                                          \
			PUT16(w_ & 0xFFFF);                                                        \
			PUT16(w_ >> 16);                                                           \
		} else {                                                                           \
			PUT16(w_ >> 16);                                                           \
			PUT16(w_ & 0xFFFF);                                                        \
		}                                                                                  \
	} while (0)
	memcpy(p, "Exif\0\0", 6);
	n = 6;
	p[n++] = le ? 'I' : 'M';
	p[n++] = le ? 'I' : 'M';
	PUT16(42);
	PUT32(8);
	PUT16(o > 0 ? 2 : 1);
	PUT16(0x010F); /* Make, ASCII, 4 bytes inline */
	PUT16(2);
	PUT32(4);
	memcpy(p + n, "Abc", 4);
	n += 4;
	if (o > 0) {
		PUT16(0x0112);
		PUT16(3);
		PUT32(1);
		PUT16(o);
		PUT16(0);
	}
	PUT32(0); /* no next IFD */
	return n;
#undef PUT16
#undef PUT32
}

/* A copy of a JPEG with an APP1 segment (payload of pn bytes) after the SOI; free(). */
static uint8_t *with_app1(const uint8_t *jpg, size_t n, const uint8_t *payload, size_t pn,
			  size_t *out_n)
{
	uint8_t *o = malloc(n + pn + 4);

	memcpy(o, jpg, 2);
	o[2] = 0xFF;
	o[3] = 0xE1;
	o[4] = (uint8_t)((pn + 2) >> 8);
	o[5] = (uint8_t)(pn + 2);
	memcpy(o + 6, payload, pn);
	memcpy(o + 6 + pn, jpg + 2, n - 2);
	*out_n = n + pn + 4;
	return o;
}

/*
 * Offset of the first marker 0xFF code in the header (walking the
 * segments from the SOI up to and including the first SOS), or 0.
 */
static size_t find_marker(const uint8_t *d, size_t n, int code)
{
	size_t i = 2;

	while (i + 4 <= n && d[i] == 0xFF) {
		if (d[i + 1] == code)
			return i;
		if (d[i + 1] == 0xDA)
			break;
		i += 2 + ((size_t)d[i + 2] << 8 | d[i + 3]);
	}
	return 0;
}

TEST(probe_and_info)
{
	struct fundus_image *img = pattern(64, 48, FUNDUS_PIX_RGB8, 0), *out;
	struct fundus_image_info info;
	uint8_t *d;
	size_t n;

	CHECK(img != NULL);
	CHECK_OK(enc(img, 90, 1, &d, &n));
	CHECK_STR_EQ(fundus_image_probe(d, n), "jpeg");
	CHECK(fundus_image_probe(d, 2) == NULL);
	CHECK_OK(dec(d, n, NULL, &out, &info));
	CHECK_STR_EQ(info.format, "jpeg");
	CHECK_INT_EQ(info.width, 64);
	CHECK_INT_EQ(info.height, 48);
	CHECK_INT_EQ(info.channels, 3);
	CHECK_INT_EQ(info.bits, 8);
	CHECK_STR_EQ(info.colour, "ycbcr");
	CHECK_INT_EQ(info.orientation, 1);
	CHECK_INT_EQ(info.progressive, 0);
	CHECK_INT_EQ(info.has_alpha, 0);
	CHECK_INT_EQ(info.pages, 1);
	CHECK_INT_EQ(info.levels, 1);
	CHECK_INT_EQ(info.level[0].width, 64);
	CHECK_INT_EQ(info.level[0].height, 48);
	CHECK_NEAR(info.level[0].downsample, 1, 0);
	CHECK_INT_EQ(out->format, FUNDUS_PIX_RGB8);
	fundus_image_free(out);
	fundus_image_free(img);
	fundus_free(d);
}

TEST(round_trip_sizes_and_subsampling)
{
	static const int sizes[][2] = {{1, 1}, {37, 23}, {64, 48}, {1, 17}, {17, 1}, {129, 65}};

	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
		for (int sub = 0; sub <= 1; sub++) {
			int w = sizes[i][0], h = sizes[i][1], hs, vs;
			struct fundus_image *img = pattern(w, h, FUNDUS_PIX_RGB8, 1), *out, *ref;
			double mean;
			uint8_t *d;
			size_t n;

			CHECK_OK(enc(img, 95, sub, &d, &n));
			lj_sampling(d, n, 0, &hs, &vs);
			CHECK_INT_EQ(hs, sub ? 2 : 1);
			CHECK_INT_EQ(vs, sub ? 2 : 1);
			lj_sampling(d, n, 1, &hs, &vs);
			CHECK_INT_EQ(hs, 1);
			CHECK_OK(dec_native(d, n, 1, &out));
			CHECK_INT_EQ(out->width, w);
			CHECK_INT_EQ(out->height, h);
			CHECK_INT_EQ(out->format, FUNDUS_PIX_RGB8);
			CHECK_INT_LE(max_abs(img, out, &mean), sub ? 40 : 12);
			CHECK(mean < (sub ? 4.0 : 2.0));
			if (have_djpeg()) {
				CHECK_INT_EQ(djpeg_mem(d, n, 1, &ref), 0);
				CHECK(same(out, ref, "encoder round trip vs djpeg"));
				fundus_image_free(ref);
			}
			fundus_image_free(out);
			fundus_image_free(img);
			fundus_free(d);
		}
}

TEST(quality_changes_size)
{
	struct fundus_image *img = pattern(96, 64, FUNDUS_PIX_RGB8, 0);
	uint8_t *lo, *hi;
	size_t nlo, nhi;

	CHECK_OK(enc(img, 20, 1, &lo, &nlo));
	CHECK_OK(enc(img, 98, 0, &hi, &nhi));
	CHECK_INT_LT(nlo * 2, nhi);
	fundus_free(lo);
	fundus_free(hi);
	fundus_image_free(img);
}

TEST(grayscale_and_other_formats)
{
	struct fundus_image *g = pattern(40, 30, FUNDUS_PIX_GRAY8, 1), *out, *rgb;
	struct fundus_image_info info;
	struct fundus_read_options ro;
	static const enum fundus_pixfmt fmts[] = {FUNDUS_PIX_GRAYA8, FUNDUS_PIX_RGBA8,
						  FUNDUS_PIX_GRAY16, FUNDUS_PIX_GRAYA16,
						  FUNDUS_PIX_RGB16,  FUNDUS_PIX_RGBA16};
	uint8_t *d;
	size_t n;

	CHECK_OK(enc(g, 95, 1, &d, &n));
	fundus_read_options_default(&ro);
	ro.format = FUNDUS_PIX_NONE;
	CHECK_OK(dec(d, n, &ro, &out, &info));
	CHECK_STR_EQ(info.colour, "gray");
	CHECK_INT_EQ(info.channels, 1);
	CHECK_INT_EQ(out->format, FUNDUS_PIX_GRAY8);
	CHECK_INT_LE(max_abs(g, out, NULL), 4);
	fundus_image_free(out);
	CHECK_OK(dec(d, n, NULL, &rgb, NULL));
	CHECK_INT_EQ(rgb->format, FUNDUS_PIX_RGB8);
	CHECK_INT_EQ(fundus_image_pixel(rgb, 7, 9)[0], fundus_image_pixel(rgb, 7, 9)[2]);
	fundus_image_free(rgb);
	fundus_free(d);
	fundus_image_free(g);

	/* Alpha and 16 bits are converted first; the result is gray or RGB. */
	for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
		struct fundus_image *img = pattern(20, 10, fmts[i], 1);
		int colour = fundus_pixfmt_channels(fmts[i]) >= 3;

		CHECK_OK(enc(img, 95, 0, &d, &n));
		CHECK_OK(dec(d, n, NULL, &out, &info));
		CHECK_STR_EQ(info.colour, colour ? "ycbcr" : "gray");
		CHECK_INT_EQ(out->width, 20);
		fundus_image_free(out);
		fundus_image_free(img);
		fundus_free(d);
	}
}

TEST(progressive_matches_djpeg)
{
	struct fundus_image *img = pattern(77, 51, FUNDUS_PIX_RGB8, 0), *out, *ref, *reg, *cut;
	struct fundus_image_info info;
	struct fundus_read_options ro;
	uint8_t *d;
	size_t n;

	d = lj_image(img, 1, &n);
	fundus_read_options_default(&ro);
	ro.format = FUNDUS_PIX_NONE;
	CHECK_OK(dec(d, n, &ro, &out, &info));
	CHECK_INT_EQ(info.progressive, 1);
	CHECK_INT_LE(max_abs(img, out, NULL), 255);
	if (have_djpeg()) {
		for (int s = 1; s <= 8; s *= 2) {
			struct fundus_image *sc;

			CHECK_OK(dec_native(d, n, s, &sc));
			CHECK_INT_EQ(djpeg_mem(d, n, s, &ref), 0);
			CHECK(same(sc, ref, "progressive vs djpeg"));
			fundus_image_free(ref);
			fundus_image_free(sc);
		}
	}
	ro.region.x = 17;
	ro.region.y = 9;
	ro.region.w = 33;
	ro.region.h = 30;
	CHECK_OK(dec(d, n, &ro, &reg, NULL));
	CHECK_OK(fundus_image_crop(out, 17, 9, 33, 30, &cut));
	CHECK(same(reg, cut, "progressive region"));
	fundus_image_free(reg);
	fundus_image_free(cut);
	fundus_image_free(out);
	fundus_image_free(img);
	free(d);
}

/* CMYK samples for the CMYK tests: smooth, covering the range. */
static uint8_t *cmyk_pattern(int w, int h)
{
	uint8_t *p = malloc((size_t)w * h * 4);

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			uint8_t *q = p + ((size_t)y * w + x) * 4;

			q[0] = (uint8_t)(x * 255 / (w - 1));
			q[1] = (uint8_t)(y * 255 / (h - 1));
			q[2] = (uint8_t)(255 - x * 255 / (w - 1));
			q[3] = (uint8_t)(64 + (x + y) * 191 / (w + h - 2));
		}
	return p;
}

/* The RGB that CMYK samples stand for; inverted when stored Adobe-style. */
static void expect_rgb(const uint8_t *q, int inverted, int *rgb)
{
	int k = inverted ? q[3] : 255 - q[3];

	for (int j = 0; j < 3; j++) {
		int c = inverted ? q[j] : 255 - q[j];

		rgb[j] = (c * k + 127) / 255;
	}
}

TEST(cmyk_and_ycck)
{
	/* Photoshop writes inverted CMYK with an Adobe marker; plain CMYK has none. */
	static const struct {
		J_COLOR_SPACE cs;
		int no_adobe;
		const char *colour;
		int tol;
	} cases[] = {
	    {JCS_CMYK, 0, "cmyk", 3},
	    {JCS_YCCK, 0, "ycck", 10},
	    {JCS_CMYK, 1, "cmyk", 3},
	};
	int w = 48, h = 40;
	uint8_t *px = cmyk_pattern(w, h);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct ljopt o = {.comps = 4,
				  .in_cs = JCS_CMYK,
				  .jpeg_cs = cases[i].cs,
				  .quality = 100,
				  .no_adobe = cases[i].no_adobe};
		struct fundus_image_info info;
		struct fundus_image *out, *reg, *cut;
		struct fundus_read_options ro;
		int worst = 0;
		uint8_t *d;
		size_t n;

		o.full_chroma = cases[i].cs == JCS_CMYK;
		d = lj_compress(px, w, h, &o, &n);
		fundus_read_options_default(&ro);
		ro.format = FUNDUS_PIX_NONE;
		CHECK_OK(dec(d, n, &ro, &out, &info));
		CHECK_STR_EQ(info.colour, cases[i].colour);
		CHECK_INT_EQ(info.channels, 4);
		CHECK_INT_EQ(out->format, FUNDUS_PIX_RGB8);
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++) {
				int e[3];

				expect_rgb(px + ((size_t)y * w + x) * 4, !cases[i].no_adobe, e);
				for (int j = 0; j < 3; j++) {
					int dd = abs(e[j] - fundus_image_pixel(out, x, y)[j]);

					worst = dd > worst ? dd : worst;
				}
			}
		if (worst > cases[i].tol)
			fprintf(stderr, "case %zu: worst difference %d\n", i, worst);
		CHECK_INT_LE(worst, cases[i].tol);
		/* djpeg's PPM writer takes CMYK as Adobe-inverted too, with the same rounding. */
		if (!cases[i].no_adobe && have_djpeg()) {
			struct fundus_image *ref;

			CHECK_INT_EQ(djpeg_mem(d, n, 1, &ref), 0);
			CHECK(same(out, ref, "Adobe CMYK vs djpeg"));
			fundus_image_free(ref);
		}
		/* A region of a CMYK file goes through the band buffer. */
		ro.region.x = 13;
		ro.region.y = 5;
		ro.region.w = 20;
		ro.region.h = 30;
		CHECK_OK(dec(d, n, &ro, &reg, NULL));
		CHECK_OK(fundus_image_crop(out, 13, 5, 20, 30, &cut));
		CHECK(same(reg, cut, "cmyk region"));
		fundus_image_free(reg);
		fundus_image_free(cut);
		fundus_image_free(out);
		free(d);
	}
	free(px);
}

TEST(exif_orientation_all_eight)
{
	struct fundus_image *img = pattern(37, 23, FUNDUS_PIX_RGB8, 0), *plain;
	uint8_t *d, payload[128];
	size_t n;

	CHECK_OK(enc(img, 95, 1, &d, &n));
	CHECK_OK(dec(d, n, NULL, &plain, NULL));
	for (int le = 0; le <= 1; le++)
		for (int o = 1; o <= 8; o++) {
			struct fundus_image *kept, *shown, *want, *reg, *cut, *half, *hreg, *hcut;
			struct fundus_image_info info;
			struct fundus_read_options ro;
			size_t pn = exif_payload(payload, o, le), xn;
			uint8_t *x = with_app1(d, n, payload, pn, &xn);
			int swap = o >= 5;

			fundus_read_options_default(&ro);
			CHECK_OK(dec(x, xn, &ro, &shown, &info));
			CHECK_INT_EQ(info.orientation, o);
			CHECK_INT_EQ(info.width, swap ? 23 : 37);
			CHECK_INT_EQ(info.height, swap ? 37 : 23);
			CHECK_INT_EQ(info.level[0].width, info.width);
			ro.keep_orientation = 1;
			CHECK_OK(dec(x, xn, &ro, &kept, NULL));
			CHECK(same(kept, plain, "keep_orientation read vs no Exif"));
			CHECK_OK(fundus_image_orient(kept, o, &want));
			CHECK(same(shown, want, "oriented read"));

			/* A region of the displayed image is the crop of the displayed read. */
			ro.keep_orientation = 0;
			ro.region.x = 3;
			ro.region.y = 5;
			ro.region.w = 11;
			ro.region.h = 13;
			CHECK_OK(dec(x, xn, &ro, &reg, NULL));
			CHECK_OK(fundus_image_crop(shown, 3, 5, 11, 13, &cut));
			CHECK(same(reg, cut, "region of an oriented image"));

			/* The same at 1/2, by the rule of region_plan() in jpeg.c. */
			ro.scale = 2;
			CHECK_OK(dec(x, xn, &ro, &hreg, NULL));
			ro.region.w = ro.region.h = 0;
			ro.region.x = ro.region.y = 0;
			CHECK_OK(dec(x, xn, &ro, &half, NULL));
			CHECK_INT_EQ(half->width, (info.width + 1) / 2);
			CHECK_OK(fundus_image_crop(half, 1, 2, 6, 7, &hcut));
			CHECK(same(hreg, hcut, "scaled region of an oriented image"));

			fundus_image_free(kept);
			fundus_image_free(shown);
			fundus_image_free(want);
			fundus_image_free(reg);
			fundus_image_free(cut);
			fundus_image_free(half);
			fundus_image_free(hreg);
			fundus_image_free(hcut);
			free(x);
		}
	fundus_image_free(plain);
	fundus_image_free(img);
	fundus_free(d);
}

TEST(exif_hostile)
{
	struct fundus_image *img = pattern(16, 8, FUNDUS_PIX_RGB8, 0), *out;
	uint8_t *d, good[128];
	size_t n, gn;

	CHECK_OK(enc(img, 90, 1, &d, &n));
	gn = exif_payload(good, 6, 1);
	/* Each damage keeps the segment well-formed JPEG but breaks its TIFF. */
	for (int k = 0; k < 12; k++) {
		struct fundus_image_info info;
		uint8_t p[128];
		size_t pn = gn, xn;
		uint8_t *x;

		memcpy(p, good, gn);
		/*
		 * Little-endian layout: TIFF header at 6, IFD offset at 10, entry
		 * count at 14, Make entry at 16, orientation entry at 28 (type at
		 * 30, count at 32, value at 36), next-IFD offset at 40.
		 */
		switch (k) {
		case 0: memcpy(p + 10, "\xFF\xFF\xFF\x7F", 4); break; /* IFD far out */
		case 1: p[10] = (uint8_t)(gn - 6 - 1); break;         /* IFD at the last byte */
		case 2: memcpy(p + 14, "\xFF\xFF", 2); break;         /* 65535 entries */
		case 3: pn = 6 + 4; break;                            /* header cut */
		case 4: pn = 34; break;                               /* orientation entry cut */
		case 5: p[6] = 'X'; break;                            /* bad byte order */
		case 6: p[8] = 43; break;                             /* not 42 */
		case 7: p[10] = 2; break;                             /* IFD inside the header */
		case 8: p[36] = 9; break;                             /* orientation 9 */
		case 9: p[30] = 7; break;                             /* type UNDEFINED */
		case 10: p[32] = 0; break;                            /* count 0 */
		case 11: pn = 5; break;                               /* "Exif" only */
		}
		if (k == 2)
			p[28] = 0x13; /* and none of them the orientation */
		x = with_app1(d, n, p, pn, &xn);
		CHECK_OK(dec(x, xn, NULL, &out, &info));
		CHECK_INT_EQ(info.orientation, 1);
		CHECK_INT_EQ(info.width, 16);
		fundus_image_free(out);
		free(x);
	}
	/*
	 * The segment ends in the middle of the orientation entry, and the
	 * bytes after it (the next segment's header) would read as value 6:
	 * a reader that strays outside the segment would report 6.
	 */
	{
		uint8_t *x = malloc(n + 40 + 0x600), *q = x;
		struct fundus_image_info info;
		size_t pn = exif_payload(good, 3, 1);

		CHECK_INT_GT(pn, 34);
		memcpy(q, d, 2);
		q += 2;
		memcpy(q, "\xFF\xE1\x00\x24", 4); /* APP1 of 34 payload bytes */
		memcpy(q + 4, good, 34);
		q += 4 + 34;
		memcpy(q, "\xFF\xFE\x06\x00", 4); /* COM of 0x600 bytes */
		memset(q + 4, 'c', 0x600 - 2);
		q += 2 + 0x600;
		memcpy(q, d + 2, n - 2);
		q += n - 2;
		CHECK_OK(dec(x, (size_t)(q - x), NULL, &out, &info));
		CHECK_INT_EQ(info.orientation, 1);
		fundus_image_free(out);
		free(x);
		gn = exif_payload(good, 6, 1);
	}
	/* A LONG orientation from a sloppy writer still counts. */
	{
		uint8_t p[128], *x;
		struct fundus_image_info info;
		size_t xn;

		memcpy(p, good, gn);
		p[30] = 4; /* the value at 36..39 reads 6 as a LONG too */
		x = with_app1(d, n, p, gn, &xn);
		CHECK_OK(dec(x, xn, NULL, &out, &info));
		CHECK_INT_EQ(info.orientation, 6);
		fundus_image_free(out);
		free(x);
	}
	fundus_image_free(img);
	fundus_free(d);
}

/* Checks DCT-scaled reads of one JPEG against djpeg at 1/2, 1/4, 1/8. */
static int scaled_vs_djpeg(const uint8_t *d, size_t n, const char *what)
{
	for (int s = 2; s <= 8; s *= 2) {
		struct fundus_image *a, *b;
		int ok;

		if (dec_native(d, n, s, &a) < 0 || djpeg_mem(d, n, s, &b) < 0) {
			fprintf(stderr, "%s at 1/%d: %s\n", what, s, fundus_errmsg());
			return 0;
		}
		ok = same(a, b, what);
		fundus_image_free(a);
		fundus_image_free(b);
		if (!ok)
			return 0;
	}
	return 1;
}

TEST(dct_scaling_matches_djpeg)
{
	struct fundus_image *rgb = pattern(101, 77, FUNDUS_PIX_RGB8, 0);
	struct fundus_image *gray = pattern(45, 29, FUNDUS_PIX_GRAY8, 0);
	uint8_t *d;
	size_t n;

	if (!have_djpeg())
		goto out;
	for (int sub = 0; sub <= 1; sub++) {
		CHECK_OK(enc(rgb, 85, sub, &d, &n));
		CHECK(scaled_vs_djpeg(d, n, sub ? "4:2:0" : "4:4:4"));
		fundus_free(d);
	}
	CHECK_OK(enc(gray, 85, 1, &d, &n));
	CHECK(scaled_vs_djpeg(d, n, "gray"));
	fundus_free(d);
	d = lj_image(rgb, 1, &n);
	CHECK(scaled_vs_djpeg(d, n, "progressive"));
	free(d);
	{
		struct ljopt o = {.comps = 3,
				  .in_cs = JCS_RGB,
				  .jpeg_cs = JCS_YCbCr,
				  .quality = 85,
				  .progressive = 1,
				  .arith = 1};
		struct fundus_image *a, *b;

		d = lj_compress(rgb->data, rgb->width, rgb->height, &o, &n);
		CHECK(scaled_vs_djpeg(d, n, "arithmetic progressive"));
		CHECK_OK(dec_native(d, n, 1, &a));
		CHECK_INT_EQ(djpeg_mem(d, n, 1, &b), 0);
		CHECK(same(a, b, "arithmetic progressive"));
		fundus_image_free(a);
		fundus_image_free(b);
		free(d);
	}
out:
	fundus_image_free(rgb);
	fundus_image_free(gray);
}

TEST(other_scales)
{
	struct fundus_image *img = pattern(101, 77, FUNDUS_PIX_RGB8, 0), *s8, *s16, *want, *s3,
			    *full, *w3;
	uint8_t *d;
	size_t n;

	CHECK_OK(enc(img, 85, 1, &d, &n));
	/* 16 = 8 in the DCT, then blocks of 2; 3 = blocks of 3 of the full decode. */
	CHECK_OK(dec_native(d, n, 8, &s8));
	CHECK_OK(dec_native(d, n, 16, &s16));
	CHECK_INT_EQ(s16->width, 7);
	CHECK_INT_EQ(s16->height, 5);
	CHECK_OK(fundus_image_shrink(s8, 2, &want));
	CHECK(same(s16, want, "scale 16"));
	CHECK_OK(dec_native(d, n, 1, &full));
	CHECK_OK(dec_native(d, n, 3, &s3));
	CHECK_INT_EQ(s3->width, 34);
	CHECK_INT_EQ(s3->height, 26);
	CHECK_OK(fundus_image_shrink(full, 3, &w3));
	CHECK(same(s3, w3, "scale 3"));
	fundus_image_free(s8);
	fundus_image_free(s16);
	fundus_image_free(want);
	fundus_image_free(full);
	fundus_image_free(s3);
	fundus_image_free(w3);
	fundus_image_free(img);
	fundus_free(d);
}

/*
 * Region reads against crops of the full read at one scale, by the rule of
 * region_plan(): for a DCT factor s (no remainder) the crop of the
 * s-scaled read at (x / s, y / s) of ceil(w / s) x ceil(h / s).
 */
static int regions_match(const uint8_t *d, size_t n, int W, int H, int s, const char *what)
{
	struct fundus_read_options ro;
	struct fundus_image *full;
	unsigned seed = 12345;
	int ok = 1;

	fundus_read_options_default(&ro);
	ro.format = FUNDUS_PIX_NONE;
	ro.scale = s;
	if (dec(d, n, &ro, &full, NULL) < 0)
		return 0;
	for (int i = 0; i < 60 && ok; i++) {
		struct fundus_image *reg, *cut;
		int x, y, w, h;

		seed = seed * 1103515245u + 12345u;
		/* Many starts on and next to iMCU boundaries, where crops go wrong. */
		x = i < 20 ? (i % 5) * 16 + (i / 5) - 1 : (int)(seed >> 8) % W;
		x = x < 0 ? 0 : x >= W ? W - 1 : x;
		seed = seed * 1103515245u + 12345u;
		y = i < 20 ? (i % 4) * 16 + (i / 4) % 3 - 1 : (int)(seed >> 8) % H;
		y = y < 0 ? 0 : y >= H ? H - 1 : y;
		seed = seed * 1103515245u + 12345u;
		w = 1 + (int)(seed >> 8) % (W - x);
		seed = seed * 1103515245u + 12345u;
		h = 1 + (int)(seed >> 8) % (H - y);
		if (i % 3 == 0) {
			w = 1 + (w - 1) % 33;
			h = 1 + (h - 1) % 33;
		}
		ro.region.x = x;
		ro.region.y = y;
		ro.region.w = w;
		ro.region.h = h;
		if (dec(d, n, &ro, &reg, NULL) < 0 ||
		    fundus_image_crop(full, x / s, y / s, (w + s - 1) / s, (h + s - 1) / s, &cut) <
			0) {
			fprintf(stderr, "%s: %s\n", what, fundus_errmsg());
			ok = 0;
			break;
		}
		if (!same(reg, cut, what)) {
			fprintf(stderr, "%s: region %d,%d %dx%d at 1/%d\n", what, x, y, w, h, s);
			ok = 0;
		}
		fundus_image_free(reg);
		fundus_image_free(cut);
	}
	fundus_image_free(full);
	return ok;
}

TEST(regions_equal_crops)
{
	struct fundus_image *img = pattern(203, 141, FUNDUS_PIX_RGB8, 0);
	struct fundus_image *gray = pattern(90, 70, FUNDUS_PIX_GRAY8, 0);
	uint8_t *d;
	size_t n;

	for (int sub = 0; sub <= 1; sub++) {
		CHECK_OK(enc(img, 80, sub, &d, &n));
		for (int s = 1; s <= 8; s *= 2)
			CHECK(regions_match(d, n, 203, 141, s, sub ? "4:2:0" : "4:4:4"));
		fundus_free(d);
	}
	d = lj_image(img, 1, &n);
	CHECK(regions_match(d, n, 203, 141, 1, "progressive"));
	CHECK(regions_match(d, n, 203, 141, 4, "progressive"));
	free(d);
	CHECK_OK(enc(gray, 80, 1, &d, &n));
	CHECK(regions_match(d, n, 90, 70, 1, "gray"));
	CHECK(regions_match(d, n, 90, 70, 8, "gray"));
	fundus_free(d);
	{
		/* Restart markers: skipping rows must resynchronise on them. */
		struct ljopt o = {.comps = 3,
				  .in_cs = JCS_RGB,
				  .jpeg_cs = JCS_YCbCr,
				  .quality = 85,
				  .restart_rows = 1};

		d = lj_compress(img->data, 203, 141, &o, &n);
		CHECK(regions_match(d, n, 203, 141, 1, "restart intervals"));
		free(d);
	}
	fundus_image_free(img);
	fundus_image_free(gray);
}

TEST(region_with_remaining_scale)
{
	struct fundus_image *img = pattern(101, 77, FUNDUS_PIX_RGB8, 0), *full, *reg, *cut, *want;
	struct fundus_read_options ro;
	uint8_t *d;
	size_t n;

	CHECK_OK(enc(img, 85, 1, &d, &n));
	fundus_read_options_default(&ro);
	ro.format = FUNDUS_PIX_NONE;
	/* Scale 6 = 2 in the DCT, then blocks of 3 over the 1/2 crop. */
	ro.scale = 2;
	CHECK_OK(dec(d, n, &ro, &full, NULL));
	ro.scale = 6;
	ro.region.x = 13;
	ro.region.y = 7;
	ro.region.w = 50;
	ro.region.h = 41;
	CHECK_OK(dec(d, n, &ro, &reg, NULL));
	CHECK_INT_EQ(reg->width, 9);
	CHECK_INT_EQ(reg->height, 7);
	CHECK_OK(fundus_image_crop(full, 6, 3, 25, 21, &cut));
	CHECK_OK(fundus_image_shrink(cut, 3, &want));
	CHECK(same(reg, want, "scale 6 region"));
	fundus_image_free(full);
	fundus_image_free(reg);
	fundus_image_free(cut);
	fundus_image_free(want);
	fundus_image_free(img);
	fundus_free(d);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Fills names with the sorted .jpg files of a folder; returns how many. */
static int list_jpegs(const char *dir, char names[][64], int max)
{
	DIR *dd = opendir(dir);
	struct dirent *e;
	int k = 0;

	if (dd == NULL)
		return 0;
	while ((e = readdir(dd)) != NULL && k < max) {
		size_t l = strlen(e->d_name);

		if (l > 4 && l < 64 && strcmp(e->d_name + l - 4, ".jpg") == 0)
			snprintf(names[k++], 64, "%s", e->d_name);
	}
	closedir(dd);
	qsort(names, (size_t)k, 64, cmp_names);
	return k;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

TEST(real_photographs_match_djpeg)
{
	static const char *const sets[] = {"idrid", "diaretdb1"};
	static char names[400][64];
	const char *shared = tu_shared();
	int done = 0, scaled = 0;
	double t0 = now();

	if (shared == NULL || !have_djpeg())
		return;
	for (size_t si = 0; si < 2; si++) {
		char dir[4300];
		int k;

		snprintf(dir, sizeof dir, "%s/data/%s/images", shared, sets[si]);
		k = list_jpegs(dir, names, 400);
		if (k == 0)
			printf("skip: no JPEG under %s\n", dir);
		for (int i = 0; i < k; i++) {
			struct fundus_image *a, *b;
			struct fundus_read_options ro;
			char path[4400];

			snprintf(path, sizeof path, "%s/%s", dir, names[i]);
			fundus_read_options_default(&ro);
			ro.format = FUNDUS_PIX_NONE;
			if (fundus_image_load(path, &ro, &a) < 0)
				HARNESS_FAIL("%s: %s", path, fundus_errmsg());
			CHECK_INT_EQ(djpeg_read(path, 1, &b), 0);
			if (!same(a, b, path))
				HARNESS_FAIL("%s differs from djpeg -ppm", path);
			fundus_image_free(a);
			fundus_image_free(b);
			done++;
			/* 1/8 for a subset: the thumbnail path of the tools. */
			if (i % 30 == 0) {
				ro.scale = 8;
				CHECK_OK(fundus_image_load(path, &ro, &a));
				CHECK_INT_EQ(djpeg_read(path, 8, &b), 0);
				if (!same(a, b, path))
					HARNESS_FAIL("%s at 1/8 differs from djpeg", path);
				fundus_image_free(a);
				fundus_image_free(b);
				scaled++;
			}
		}
	}
	printf("compared %d photographs at full scale and %d at 1/8 with djpeg in %.1f s\n", done,
	       scaled, now() - t0);
}

TEST(real_photograph_regions)
{
	const char *shared = tu_shared();
	struct fundus_image_source *src;
	struct fundus_image *full, *reg, *cut;
	struct fundus_read_options ro;
	char path[4200];
	static const int r[][4] = {{0, 0, 16, 16},     {1024, 1024, 512, 256}, {15, 17, 1, 1},
				   {4287, 2847, 1, 1}, {2000, 31, 300, 2817},  {4271, 0, 17, 2848}};

	if (shared == NULL)
		return;
	snprintf(path, sizeof path, "%s/data/idrid/images/0001.jpg", shared);
	if (fundus_image_open(&src, path, NULL) < 0) {
		printf("skip: %s: %s\n", path, fundus_errmsg());
		return;
	}
	fundus_read_options_default(&ro);
	CHECK_OK(fundus_image_read(src, &ro, &full));
	for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
		ro.region.x = r[i][0];
		ro.region.y = r[i][1];
		ro.region.w = r[i][2];
		ro.region.h = r[i][3];
		CHECK_OK(fundus_image_read(src, &ro, &reg));
		CHECK_OK(fundus_image_crop(full, r[i][0], r[i][1], r[i][2], r[i][3], &cut));
		CHECK(same(reg, cut, "photograph region"));
		fundus_image_free(reg);
		fundus_image_free(cut);
	}
	fundus_image_free(full);
	fundus_image_close(src);
}

/* Opens and fully reads a buffer; returns the code of whichever step failed. */
static int open_read(const uint8_t *d, size_t n)
{
	struct fundus_image *out;
	int rc = dec(d, n, NULL, &out, NULL);

	fundus_image_free(out);
	return rc;
}

TEST(truncated_files_fail)
{
	struct fundus_image *img = pattern(120, 90, FUNDUS_PIX_RGB8, 0);
	uint8_t *base, *prog;
	size_t nb, np;

	CHECK_OK(enc(img, 90, 1, &base, &nb));
	prog = lj_image(img, 1, &np);
	for (int which = 0; which < 2; which++) {
		const uint8_t *d = which ? prog : base;
		size_t n = which ? np : nb;

		CHECK_INT_GT(n, 1500);
		/* Every 300 bytes, then every one of the last 300 (the EOI too). */
		for (size_t cut = 3; cut < n; cut += cut + 300 < n ? 300 : 1) {
			int rc = open_read(d, cut);

			if (rc != FUNDUS_EFORMAT)
				HARNESS_FAIL("%s cut to %zu of %zu bytes: %d (%s)",
					     which ? "progressive" : "baseline", cut, n, rc,
					     fundus_errmsg());
			if (strstr(fundus_errmsg(), "truncated JPEG data") == NULL)
				HARNESS_FAIL("cut to %zu: message \"%s\"", cut, fundus_errmsg());
		}
	}
	CHECK_INT_EQ(open_read(base, 0), FUNDUS_EFORMAT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "empty");
	fundus_free(base);
	free(prog);
	fundus_image_free(img);
}

TEST(corrupt_data)
{
	struct fundus_image *img = pattern(120, 90, FUNDUS_PIX_RGB8, 0);
	uint8_t *d, *x;
	size_t n, sos;
	unsigned seed = 7;

	CHECK_OK(enc(img, 90, 1, &d, &n));
	sos = find_marker(d, n, 0xDA);
	CHECK_INT_GT(sos, 0);
	CHECK_INT_LT(sos + 200, n);
	x = malloc(n);

	/* Random damage in the entropy data: decoded garbage or EFORMAT, nothing else. */
	for (int i = 0; i < 200; i++) {
		int rc;

		memcpy(x, d, n);
		for (int k = 0; k < 1 + i % 4; k++) {
			size_t at;

			seed = seed * 1103515245u + 12345u;
			at = sos + 20 + (seed >> 8) % (n - sos - 22);
			seed = seed * 1103515245u + 12345u;
			x[at] = (uint8_t)(seed >> 16);
		}
		rc = open_read(x, n);
		if (rc != 0 && rc != FUNDUS_EFORMAT)
			HARNESS_FAIL("damage %d: %d (%s)", i, rc, fundus_errmsg());
	}
	/* A marker in the middle of the entropy data: premature end of a segment. */
	memcpy(x, d, n);
	x[sos + 100] = 0xFF;
	x[sos + 101] = 0xD9;
	CHECK_INT_EQ(open_read(x, n), FUNDUS_EFORMAT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "corrupt JPEG data");
	memcpy(x, d, n);
	x[sos + 100] = 0xFF;
	x[sos + 101] = 0xD3; /* RST3 where there are no restarts */
	CHECK_INT_EQ(open_read(x, n), FUNDUS_EFORMAT);

	/* Header damage. */
	{
		size_t sof = find_marker(d, n, 0xC0), dqt = find_marker(d, n, 0xDB),
		       dht = find_marker(d, n, 0xC4);

		CHECK_INT_GT(sof, 0);
		CHECK_INT_GT(dqt, 0);
		CHECK_INT_GT(dht, 0);
		memcpy(x, d, n);
		x[sof + 4] = 12; /* 12-bit precision */
		CHECK_INT_EQ(open_read(x, n), FUNDUS_EUNSUPPORTED);
		CHECK_STR_CONTAINS(fundus_errmsg(), "precision");
		memcpy(x, d, n);
		x[sof + 1] = 0xC3; /* lossless */
		CHECK_INT_EQ(open_read(x, n), FUNDUS_EUNSUPPORTED);
		memcpy(x, d, n);
		x[sof + 9] = 0; /* no components */
		CHECK_INT_EQ(open_read(x, n), FUNDUS_EFORMAT);
		memcpy(x, d, n);
		x[sof + 5] = x[sof + 6] = 0; /* height 0 */
		CHECK_INT_EQ(open_read(x, n), FUNDUS_EFORMAT);
		memcpy(x, d, n);
		x[dqt + 1] = 0x02; /* a reserved marker */
		CHECK_INT_EQ(open_read(x, n), FUNDUS_EFORMAT);
		memcpy(x, d, n);
		x[dht + 2] = 0xFF; /* segment longer than the file */
		x[dht + 3] = 0xFF;
		CHECK_INT_EQ(open_read(x, n), FUNDUS_EFORMAT);
		memcpy(x, d, n);
		memset(x + dht + 5, 0xFF, 16); /* Huffman code counts that overflow */
		CHECK_INT_EQ(open_read(x, n), FUNDUS_EFORMAT);
		CHECK_STR_CONTAINS(fundus_errmsg(), "Huffman");
	}
	free(x);
	fundus_free(d);
	fundus_image_free(img);
}

static int log_count;
static char log_last[256];

static void count_log(void *ud, enum fundus_log_level level, const char *msg)
{
	(void)ud;
	(void)level;
	log_count++;
	snprintf(log_last, sizeof log_last, "%s", msg);
}

TEST(harmless_warning_is_logged)
{
	struct fundus_image *img = pattern(40, 24, FUNDUS_PIX_RGB8, 0), *a, *b;
	uint8_t *d, *x;
	size_t n;

	CHECK_OK(enc(img, 90, 1, &d, &n));
	/* Three stray bytes before the EOI: extraneous data, pixels intact. */
	x = malloc(n + 3);
	memcpy(x, d, n - 2);
	memcpy(x + n - 2, "\x01\x02\x03\xFF\xD9", 5);
	fundus_log_set(count_log, NULL, FUNDUS_LOG_WARN);
	log_count = 0;
	CHECK_OK(dec_native(d, n, 1, &a));
	CHECK_OK(dec_native(x, n + 3, 1, &b));
	fundus_log_set(NULL, NULL, FUNDUS_LOG_WARN);
	CHECK(same(a, b, "extraneous bytes"));
	CHECK_INT_EQ(log_count, 1);
	CHECK_STR_CONTAINS(log_last, "extraneous bytes");
	fundus_image_free(a);
	fundus_image_free(b);
	free(x);
	fundus_free(d);
	fundus_image_free(img);
}

/* A JPEG with its SOF size patched to w x h (the data is for a tiny image). */
static uint8_t *claims(int w, int h, size_t *n)
{
	struct fundus_image *img = pattern(8, 8, FUNDUS_PIX_GRAY8, 0);
	uint8_t *d;
	size_t sof;

	if (enc(img, 50, 1, &d, n) < 0)
		return NULL;
	fundus_image_free(img);
	sof = find_marker(d, *n, 0xC0);
	d[sof + 5] = (uint8_t)(h >> 8);
	d[sof + 6] = (uint8_t)h;
	d[sof + 7] = (uint8_t)(w >> 8);
	d[sof + 8] = (uint8_t)w;
	return d;
}

TEST(hostile_sizes_hit_limits)
{
	struct fundus_image_source *src;
	struct fundus_image_limits lim;
	struct fundus_read_options ro;
	struct fundus_image *out;
	size_t n;
	uint8_t *d = claims(65535, 65535, &n);

	CHECK(d != NULL);
	CHECK_INT_LT(n, 400);
	CHECK_INT_EQ(fundus_image_open_memory(&src, d, n, NULL), FUNDUS_ELIMIT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "65500");
	fundus_free(d);

	/* Within libjpeg's 65500 but over max_pixels: refused before allocating. */
	d = claims(60000, 60000, &n);
	CHECK_OK(fundus_image_open_memory(&src, d, n, NULL));
	CHECK_INT_EQ(fundus_image_source_info(src)->width, 60000);
	CHECK_INT_EQ(fundus_image_read(src, NULL, &out), FUNDUS_ELIMIT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "limit");
	/* A small region of it is allowed, and fails on the missing data. */
	fundus_read_options_default(&ro);
	ro.region.x = 100;
	ro.region.y = 30000;
	ro.region.w = ro.region.h = 16;
	CHECK_INT_EQ(fundus_image_read(src, &ro, &out), FUNDUS_EFORMAT);
	fundus_image_close(src);

	fundus_image_limits_default(&lim);
	lim.max_width = 10000;
	CHECK_INT_EQ(fundus_image_open_memory(&src, d, n, &lim), FUNDUS_ELIMIT);
	fundus_free(d);
}

TEST(limits_on_real_decodes)
{
	struct fundus_image *img = pattern(200, 100, FUNDUS_PIX_RGB8, 0), *out;
	struct fundus_image_source *src;
	struct fundus_image_limits lim;
	struct fundus_read_options ro;
	uint8_t *d, *p;
	size_t n, np;

	CHECK_OK(enc(img, 80, 1, &d, &n));
	p = lj_image(img, 1, &np);
	fundus_image_limits_default(&lim);
	lim.max_pixels = 5000;
	fundus_read_options_default(&ro);
	/* Baseline: the full read is over, a region or a 1/4 read is not. */
	CHECK_OK(fundus_image_open_memory(&src, d, n, &lim));
	CHECK_INT_EQ(fundus_image_read(src, &ro, &out), FUNDUS_ELIMIT);
	ro.scale = 4;
	CHECK_OK(fundus_image_read(src, &ro, &out));
	fundus_image_free(out);
	ro.scale = 1;
	ro.region.x = 50;
	ro.region.y = 20;
	ro.region.w = 60;
	ro.region.h = 60;
	CHECK_OK(fundus_image_read(src, &ro, &out));
	fundus_image_free(out);
	fundus_image_close(src);
	/* Progressive holds the whole image: even a small region is over. */
	CHECK_OK(fundus_image_open_memory(&src, p, np, &lim));
	CHECK_INT_EQ(fundus_image_read(src, &ro, &out), FUNDUS_ELIMIT);
	fundus_image_close(src);
	fundus_free(d);
	free(p);
	fundus_image_free(img);
}

/*
 * A legal progressive JPEG with 1 + 63 * 10 scans: every AC coefficient
 * sent on its own in 10 successive-approximation passes. free() it.
 */
static uint8_t *scan_bomb(size_t *len)
{
	static jpeg_scan_info scans[1 + 63 * 10];
	struct fundus_image *img = pattern(16, 16, FUNDUS_PIX_GRAY8, 0);
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr e;
	unsigned char *buf = NULL;
	unsigned long n = 0;
	int k = 0;

	memset(scans, 0, sizeof scans);
	scans[k++].comps_in_scan = 1;
	for (int coef = 1; coef <= 63; coef++)
		for (int al = 9; al >= 0; al--, k++) {
			scans[k].comps_in_scan = 1;
			scans[k].Ss = scans[k].Se = coef;
			scans[k].Ah = al == 9 ? 0 : al + 1;
			scans[k].Al = al;
		}
	c.err = jpeg_std_error(&e);
	jpeg_create_compress(&c);
	jpeg_mem_dest(&c, &buf, &n);
	c.image_width = c.image_height = 16;
	c.input_components = 1;
	c.in_color_space = JCS_GRAYSCALE;
	jpeg_set_defaults(&c);
	c.scan_info = scans;
	c.num_scans = k;
	jpeg_start_compress(&c, TRUE);
	while (c.next_scanline < c.image_height) {
		JSAMPROW r = fundus_image_pixel(img, 0, (int)c.next_scanline);

		jpeg_write_scanlines(&c, &r, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	fundus_image_free(img);
	*len = n;
	return buf;
}

TEST(scan_bomb_is_refused)
{
	size_t n;
	uint8_t *d = scan_bomb(&n);
	struct fundus_image_info info;
	struct fundus_image *out;

	CHECK_INT_EQ(dec(d, n, NULL, &out, &info), FUNDUS_ELIMIT);
	CHECK_INT_EQ(info.progressive, 1);
	CHECK_STR_CONTAINS(fundus_errmsg(), "more than 500 scans");
	if (have_djpeg()) {
		/* djpeg takes it: the file is legal, only too costly. */
		struct fundus_image *ref;

		CHECK_INT_EQ(djpeg_mem(d, n, 1, &ref), 0);
		fundus_image_free(ref);
	}
	free(d);
}

struct cancel_state {
	int calls;
	int stop_at;
	int64_t last_done, total;
};

static int on_progress(void *ud, const char *what, int64_t done, int64_t total)
{
	struct cancel_state *c = ud;

	c->calls++;
	c->last_done = done;
	c->total = total;
	(void)what;
	return c->stop_at > 0 && c->calls >= c->stop_at;
}

TEST(progress_and_cancel)
{
	struct fundus_image *img = pattern(64, 100, FUNDUS_PIX_RGB8, 0), *out;
	struct cancel_state cs = {0, 0, 0, 0};
	struct fundus_progress pr = {on_progress, &cs};
	struct fundus_read_options ro;
	uint8_t *d, *p;
	size_t n, np;

	CHECK_OK(enc(img, 80, 1, &d, &n));
	p = lj_image(img, 1, &np);
	fundus_read_options_default(&ro);
	ro.progress = &pr;
	CHECK_OK(dec(d, n, &ro, &out, NULL));
	fundus_image_free(out);
	CHECK_INT_GE(cs.calls, 100 / 16);
	CHECK_INT_EQ(cs.last_done, 100);
	CHECK_INT_EQ(cs.total, 100);
	cs.calls = 0;
	cs.stop_at = 2;
	CHECK_INT_EQ(dec(d, n, &ro, &out, NULL), FUNDUS_ECANCELED);
	CHECK(out == NULL);
	/* Progressive: cancelled while its scans are absorbed. */
	cs.calls = 0;
	cs.stop_at = 1;
	CHECK_INT_EQ(dec(p, np, &ro, &out, NULL), FUNDUS_ECANCELED);
	CHECK_INT_EQ(cs.last_done, 0);
	fundus_free(d);
	free(p);
	fundus_image_free(img);
}

TEST(allocation_failures)
{
	struct fundus_image *img = pattern(37, 23, FUNDUS_PIX_RGB8, 0), *big;
	struct fundus_read_options ro;
	uint8_t *d, *e;
	size_t n, en;
	long nmax = -1;

	CHECK_OK(enc(img, 90, 1, &d, &n));
	fundus_read_options_default(&ro);
	ro.region.x = 3;
	ro.region.y = 2;
	ro.region.w = 20;
	ro.region.h = 11;
	ro.scale = 3;
	/* Open and read (a cropped, rescaled region: the most allocations). */
	for (long k = 0; k < 1000; k++) {
		struct fundus_image_source *src = NULL;
		struct fundus_image *out = NULL;
		int rc;

		fundus_alloc_fail_after(k);
		rc = fundus_image_open_memory(&src, d, n, NULL);
		if (rc == 0)
			rc = fundus_image_read(src, &ro, &out);
		fundus_alloc_fail_after(-1);
		fundus_image_close(src);
		if (rc == 0) {
			CHECK(out != NULL);
			fundus_image_free(out);
			nmax = k;
			break;
		}
		CHECK_INT_EQ(rc, FUNDUS_ENOMEM);
		CHECK(out == NULL);
	}
	CHECK_INT_GT(nmax, 2);
	/* Encoding, with an output that outgrows the first buffer. */
	big = pattern(300, 300, FUNDUS_PIX_RGBA8, 0);
	nmax = -1;
	for (long k = 0; k < 1000; k++) {
		int rc;

		e = NULL;
		fundus_alloc_fail_after(k);
		rc = enc(big, 100, 0, &e, &en);
		fundus_alloc_fail_after(-1);
		if (rc == 0) {
			CHECK_INT_GT(en, 65536);
			fundus_free(e);
			nmax = k;
			break;
		}
		CHECK_INT_EQ(rc, FUNDUS_ENOMEM);
		CHECK(e == NULL);
	}
	CHECK_INT_GT(nmax, 2);
	fundus_image_free(big);
	fundus_image_free(img);
	fundus_free(d);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	RUN(probe_and_info);
	RUN(round_trip_sizes_and_subsampling);
	RUN(quality_changes_size);
	RUN(grayscale_and_other_formats);
	RUN(progressive_matches_djpeg);
	RUN(cmyk_and_ycck);
	RUN(exif_orientation_all_eight);
	RUN(exif_hostile);
	RUN(dct_scaling_matches_djpeg);
	RUN(other_scales);
	RUN(regions_equal_crops);
	RUN(region_with_remaining_scale);
	RUN(real_photographs_match_djpeg);
	RUN(real_photograph_regions);
	RUN(truncated_files_fail);
	RUN(corrupt_data);
	RUN(harmless_warning_is_logged);
	RUN(hostile_sizes_hit_limits);
	RUN(limits_on_real_decodes);
	RUN(scan_bomb_is_refused);
	RUN(progress_and_cancel);
	RUN(allocation_failures);
	return harness_done();
}

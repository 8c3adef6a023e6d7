/*
 * Unit tests of the PNG codec: every colour type and bit depth, palettes
 * with tRNS, interlacing, 16-bit exactness, region and scaled reads, eXIf
 * orientation, corrupt and hostile files, and allocation failures. The
 * fixtures are made here: the plain kinds with our encoder, the others
 * (low bit depths, palettes, interlaced, eXIf) with libpng directly.
 */
#include <png.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fundus/image.h"
#include "fundus/rng.h"
#include "harness.h"
#include "image/codec.h"
#include "testutil.h"

/* An image of random-ish but repeatable samples. */
static struct fundus_image *noise(int w, int h, enum fundus_pixfmt fmt, uint64_t seed)
{
	struct fundus_image *img;
	struct fundus_rng rng;
	size_t n;

	if (fundus_image_new(&img, w, h, fmt) < 0)
		return NULL;
	fundus_rng_seed(&rng, seed);
	n = img->stride * (size_t)h;
	for (size_t i = 0; i < n; i++)
		img->data[i] = (uint8_t)fundus_rng_u64(&rng);
	return img;
}

/* Encodes with our PNG encoder (default options). */
static int encode_png(const struct fundus_image *img, uint8_t **data, size_t *len)
{
	struct fundus_save_options so;

	fundus_save_options_default(&so);
	so.type = FUNDUS_IMAGE_PNG;
	return fundus_image_encode(img, &so, data, len);
}

/* Opens a buffer and reads it with ro (NULL: whole image, native format). */
static int decode(const uint8_t *data, size_t len, const struct fundus_read_options *ro,
		  struct fundus_image **out)
{
	struct fundus_image_source *src;
	struct fundus_read_options o;
	int rc;

	*out = NULL;
	if (ro == NULL) {
		fundus_read_options_default(&o);
		o.format = FUNDUS_PIX_NONE;
		ro = &o;
	}
	rc = fundus_image_open_memory(&src, data, len, NULL);
	if (rc < 0)
		return rc;
	rc = fundus_image_read(src, ro, out);
	fundus_image_close(src);
	return rc;
}

/* A growable buffer for libpng's writer in the fixtures. */
struct membuf {
	uint8_t *data;
	size_t len, cap;
};

static void mb_write(png_structp png, png_bytep p, size_t n)
{
	struct membuf *m = png_get_io_ptr(png);

	if (m->len + n > m->cap) {
		size_t cap = (m->len + n) * 2;
		uint8_t *q = realloc(m->data, cap);

		if (q == NULL)
			png_error(png, "out of memory");
		m->data = q;
		m->cap = cap;
	}
	memcpy(m->data + m->len, p, n);
	m->len += n;
}

static void mb_flush(png_structp png)
{
	(void)png;
}

/* What a fixture written with libpng directly looks like. */
struct rawpng {
	int w, h, depth, ctype, interlace;
	const png_color *pal;
	int npal;
	const png_byte *trns; /* palette alpha */
	int ntrns;
	const png_color_16 *trans; /* gray or RGB transparent colour */
	const uint8_t *exif;
	int nexif;
	const uint16_t *samples; /* w * h * channels logical sample values */
};

static int ctype_channels(int ctype)
{
	switch (ctype) {
	case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
	case PNG_COLOR_TYPE_RGB: return 3;
	case PNG_COLOR_TYPE_RGB_ALPHA: return 4;
	default: return 1;
	}
}

/* Writes a PNG with libpng from logical samples; returns a malloc'd buffer or NULL. */
static uint8_t *raw_png(const struct rawpng *r, size_t *len)
{
	struct membuf m = {0};
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png_create_info_struct(png);
	int ch = ctype_channels(r->ctype), passes;
	size_t rowbytes = ((size_t)r->w * ch * r->depth + 7) / 8;
	uint8_t *row = calloc(1, rowbytes);

	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		free(m.data);
		free(row);
		return NULL;
	}
	png_set_write_fn(png, &m, mb_write, mb_flush);
	png_set_IHDR(png, info, (png_uint_32)r->w, (png_uint_32)r->h, r->depth, r->ctype,
		     r->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	if (r->pal)
		png_set_PLTE(png, info, r->pal, r->npal);
	if (r->trns || r->trans)
		png_set_tRNS(png, info, r->trns, r->ntrns, r->trans);
	if (r->exif)
		png_set_eXIf_1(png, info, (png_uint_32)r->nexif, (png_bytep)r->exif);
	png_write_info(png, info);
	passes = png_set_interlace_handling(png);
	for (int p = 0; p < passes; p++)
		for (int y = 0; y < r->h; y++) {
			const uint16_t *s = r->samples + (size_t)y * r->w * ch;

			memset(row, 0, rowbytes);
			for (size_t i = 0; i < (size_t)r->w * ch; i++) {
				if (r->depth == 16) {
					row[2 * i] = (uint8_t)(s[i] >> 8);
					row[2 * i + 1] = (uint8_t)s[i];
				} else if (r->depth == 8) {
					row[i] = (uint8_t)s[i];
				} else {
					size_t bit = i * r->depth;

					row[bit / 8] |= (uint8_t)(s[i] << (8 - r->depth - bit % 8));
				}
			}
			png_write_row(png, row);
		}
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	free(row);
	*len = m.len;
	return m.data;
}

/* Random logical samples of `depth` bits (palette indices below npal). */
static uint16_t *raw_samples(int w, int h, int ch, int depth, int npal, uint64_t seed)
{
	struct fundus_rng rng;
	size_t n = (size_t)w * h * ch;
	uint16_t *s = malloc(n * sizeof *s);
	uint32_t range = npal ? (uint32_t)npal : 1u << depth;

	fundus_rng_seed(&rng, seed);
	for (size_t i = 0; s && i < n; i++)
		s[i] = (uint16_t)fundus_rng_below(&rng, range);
	return s;
}

/* The image a decoder should give for a raw fixture, in its native format. */
static struct fundus_image *raw_expected(const struct rawpng *r)
{
	int ch = ctype_channels(r->ctype), alpha = 0, och, ob = r->depth == 16 ? 2 : 1;
	struct fundus_image *img;

	if (r->ctype == PNG_COLOR_TYPE_PALETTE)
		och = r->trns ? 4 : 3;
	else
		och = ch + (r->trans ? 1 : 0);
	alpha = och == 2 || och == 4;
	if (fundus_image_new(&img, r->w, r->h, fundus__pixfmt_of(och, ob)) < 0)
		return NULL;
	for (int y = 0; y < r->h; y++)
		for (int x = 0; x < r->w; x++) {
			const uint16_t *s = r->samples + ((size_t)y * r->w + x) * ch;
			uint8_t *d = fundus_image_pixel(img, x, y);
			unsigned v[4], max = (1u << r->depth) - 1;

			if (r->ctype == PNG_COLOR_TYPE_PALETTE) {
				v[0] = r->pal[s[0]].red;
				v[1] = r->pal[s[0]].green;
				v[2] = r->pal[s[0]].blue;
				v[3] = s[0] < r->ntrns ? r->trns[s[0]] : 255;
			} else {
				int opaque = 1;

				for (int k = 0; k < ch; k++)
					v[k] = r->depth < 8 ? s[k] * 255u / max : s[k];
				if (r->trans) {
					if (ch == 1)
						opaque = s[0] != r->trans->gray;
					else
						opaque = s[0] != r->trans->red ||
							 s[1] != r->trans->green ||
							 s[2] != r->trans->blue;
					v[ch] = opaque ? (ob == 2 ? 65535u : 255u) : 0;
				}
			}
			(void)alpha;
			for (int k = 0; k < och; k++) {
				if (ob == 2)
					((uint16_t *)d)[k] = (uint16_t)v[k];
				else
					d[k] = (uint8_t)v[k];
			}
		}
	return img;
}

static const enum fundus_pixfmt all_fmts[] = {
    FUNDUS_PIX_GRAY8,  FUNDUS_PIX_GRAYA8,  FUNDUS_PIX_RGB8,  FUNDUS_PIX_RGBA8,
    FUNDUS_PIX_GRAY16, FUNDUS_PIX_GRAYA16, FUNDUS_PIX_RGB16, FUNDUS_PIX_RGBA16,
};
#define NFMTS (int)(sizeof all_fmts / sizeof all_fmts[0])

TEST(round_trip_every_format_exactly)
{
	static const int sizes[][2] = {{37, 23}, {1, 1}, {1, 17}, {17, 1}, {64, 3}};

	for (int f = 0; f < NFMTS; f++)
		for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
			struct fundus_image *img =
			    noise(sizes[s][0], sizes[s][1], all_fmts[f], 100 + f * 10 + s);
			struct fundus_image *back = NULL, *rgb = NULL, *want = NULL;
			struct fundus_image_source *src;
			struct fundus_read_options ro;
			const struct fundus_image_info *info;
			uint8_t *data;
			size_t len;
			int ch = fundus_pixfmt_channels(all_fmts[f]);

			CHECK(img != NULL);
			CHECK_OK(encode_png(img, &data, &len));
			CHECK_STR_EQ(fundus_image_probe(data, len), "png");
			CHECK_OK(fundus_image_open_memory(&src, data, len, NULL));
			info = fundus_image_source_info(src);
			CHECK_STR_EQ(info->format, "png");
			CHECK_INT_EQ(info->width, img->width);
			CHECK_INT_EQ(info->height, img->height);
			CHECK_INT_EQ(info->channels, ch);
			CHECK_INT_EQ(info->bits, 8 * fundus_pixfmt_bytes(all_fmts[f]));
			CHECK_INT_EQ(info->has_alpha, ch == 2 || ch == 4);
			CHECK_STR_EQ(info->colour, ch >= 3 ? "rgb" : "gray");
			CHECK_INT_EQ(info->progressive, 0);
			CHECK_INT_EQ(info->pages, 1);
			CHECK_INT_EQ(info->levels, 1);
			CHECK_INT_EQ(info->orientation, 1);
			fundus_read_options_default(&ro);
			ro.format = FUNDUS_PIX_NONE;
			CHECK_OK(fundus_image_read(src, &ro, &back));
			CHECK(tu_same_pixels(img, back));
			/* The default read converts to rgb8 like fundus_image_convert. */
			CHECK_OK(fundus_image_read(src, NULL, &rgb));
			CHECK_OK(fundus_image_convert(img, FUNDUS_PIX_RGB8, &want));
			CHECK(tu_same_pixels(want, rgb));
			fundus_image_close(src);
			fundus_image_free(img);
			fundus_image_free(back);
			fundus_image_free(rgb);
			fundus_image_free(want);
			fundus_free(data);
		}
}

TEST(sixteen_bit_values_survive)
{
	struct fundus_image *img, *back;
	uint8_t *data;
	size_t len;

	CHECK_OK(fundus_image_new(&img, 256, 256, FUNDUS_PIX_GRAY16));
	/* Every 16-bit value once, so no byte-order slip or rounding can hide. */
	for (int i = 0; i < 65536; i++)
		((uint16_t *)img->data)[i] = (uint16_t)i;
	CHECK_OK(encode_png(img, &data, &len));
	CHECK_OK(decode(data, len, NULL, &back));
	CHECK(tu_same_pixels(img, back));
	fundus_image_free(img);
	fundus_image_free(back);
	fundus_free(data);
}

TEST(every_colour_type_and_bit_depth)
{
	static const struct {
		int ctype, depth;
	} kinds[] = {
	    {PNG_COLOR_TYPE_GRAY, 1},        {PNG_COLOR_TYPE_GRAY, 2},
	    {PNG_COLOR_TYPE_GRAY, 4},        {PNG_COLOR_TYPE_GRAY, 8},
	    {PNG_COLOR_TYPE_GRAY, 16},       {PNG_COLOR_TYPE_GRAY_ALPHA, 8},
	    {PNG_COLOR_TYPE_GRAY_ALPHA, 16}, {PNG_COLOR_TYPE_RGB, 8},
	    {PNG_COLOR_TYPE_RGB, 16},        {PNG_COLOR_TYPE_RGB_ALPHA, 8},
	    {PNG_COLOR_TYPE_RGB_ALPHA, 16},
	};

	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
		for (int il = 0; il < 2; il++) {
			struct rawpng r = {.w = 29,
					   .h = 13,
					   .depth = kinds[k].depth,
					   .ctype = kinds[k].ctype,
					   .interlace = il};
			uint16_t *s =
			    raw_samples(r.w, r.h, ctype_channels(r.ctype), r.depth, 0, k * 2 + il);
			struct fundus_image *want, *got = NULL;
			struct fundus_image_source *src;
			const struct fundus_image_info *info;
			struct fundus_read_options ro;
			uint8_t *data;
			size_t len;

			r.samples = s;
			data = raw_png(&r, &len);
			want = raw_expected(&r);
			CHECK(data != NULL && want != NULL);
			CHECK_OK(fundus_image_open_memory(&src, data, len, NULL));
			info = fundus_image_source_info(src);
			CHECK_INT_EQ(info->bits, r.depth);
			CHECK_INT_EQ(info->progressive, il);
			CHECK_INT_EQ(info->channels, ctype_channels(r.ctype));
			CHECK_STR_EQ(info->colour,
				     (r.ctype & PNG_COLOR_MASK_COLOR) ? "rgb" : "gray");
			fundus_read_options_default(&ro);
			ro.format = FUNDUS_PIX_NONE;
			CHECK_OK(fundus_image_read(src, &ro, &got));
			if (!tu_same_pixels(want, got))
				HARNESS_FAIL("colour type %d depth %d interlace %d: pixels differ",
					     r.ctype, r.depth, il);
			fundus_image_close(src);
			fundus_image_free(want);
			fundus_image_free(got);
			free(data);
			free(s);
		}
}

TEST(palette_with_and_without_trns)
{
	png_color pal[256];
	png_byte trns[256];

	for (int i = 0; i < 256; i++) {
		pal[i].red = (png_byte)(i * 7);
		pal[i].green = (png_byte)(255 - i);
		pal[i].blue = (png_byte)(i * 13 + 5);
		trns[i] = (png_byte)(i * 31);
	}
	for (int depth = 1; depth <= 8; depth *= 2)
		for (int t = 0; t < 2; t++) {
			int npal = depth == 8 ? 200 : 1 << depth;
			/* A short tRNS: indices past it are opaque. */
			struct rawpng r = {.w = 31,
					   .h = 9,
					   .depth = depth,
					   .ctype = PNG_COLOR_TYPE_PALETTE,
					   .pal = pal,
					   .npal = npal,
					   .trns = t ? trns : NULL,
					   .ntrns = t ? (npal + 1) / 2 : 0};
			uint16_t *s = raw_samples(r.w, r.h, 1, depth, npal, 50 + depth + t);
			struct fundus_image *want, *got = NULL;
			struct fundus_image_source *src;
			const struct fundus_image_info *info;
			struct fundus_read_options ro;
			uint8_t *data;
			size_t len;

			r.samples = s;
			data = raw_png(&r, &len);
			want = raw_expected(&r);
			CHECK(data && want);
			CHECK_OK(fundus_image_open_memory(&src, data, len, NULL));
			info = fundus_image_source_info(src);
			CHECK_STR_EQ(info->colour, "palette");
			CHECK_INT_EQ(info->bits, depth);
			CHECK_INT_EQ(info->channels, t ? 4 : 3);
			CHECK_INT_EQ(info->has_alpha, t);
			fundus_read_options_default(&ro);
			ro.format = FUNDUS_PIX_NONE;
			CHECK_OK(fundus_image_read(src, &ro, &got));
			CHECK_INT_EQ(got->format, t ? FUNDUS_PIX_RGBA8 : FUNDUS_PIX_RGB8);
			CHECK(tu_same_pixels(want, got));
			fundus_image_close(src);
			fundus_image_free(want);
			fundus_image_free(got);
			free(data);
			free(s);
		}
}

TEST(trns_colour_becomes_alpha)
{
	png_color_16 gray = {.gray = 3}, rgb16 = {.red = 1, .green = 2, .blue = 3};

	for (int k = 0; k < 3; k++) {
		struct rawpng r = {.w = 16, .h = 16};
		uint16_t *s;
		struct fundus_image *want, *got;
		uint8_t *data;
		size_t len;

		if (k == 0) {
			r.ctype = PNG_COLOR_TYPE_GRAY, r.depth = 2, r.trans = &gray;
		} else if (k == 1) {
			r.ctype = PNG_COLOR_TYPE_GRAY, r.depth = 16, r.trans = &gray;
		} else {
			r.ctype = PNG_COLOR_TYPE_RGB, r.depth = 16, r.trans = &rgb16;
		}
		/* Small values, so that the transparent colour does occur. */
		s = raw_samples(r.w, r.h, ctype_channels(r.ctype), 2, 0, 70 + k);
		r.samples = s;
		data = raw_png(&r, &len);
		want = raw_expected(&r);
		CHECK(data && want);
		CHECK_OK(decode(data, len, NULL, &got));
		CHECK(tu_same_pixels(want, got));
		fundus_image_free(want);
		fundus_image_free(got);
		free(data);
		free(s);
	}
}

/* A raw fixture of random 8/16-bit samples of a given kind. */
static uint8_t *raw_kind(int w, int h, int ctype, int depth, int interlace, uint64_t seed,
			 size_t *len)
{
	struct rawpng r = {.w = w, .h = h, .depth = depth, .ctype = ctype, .interlace = interlace};
	uint16_t *s = raw_samples(w, h, ctype_channels(ctype), depth, 0, seed);
	uint8_t *data;

	r.samples = s;
	data = raw_png(&r, len);
	free(s);
	return data;
}

TEST(interlaced_equals_non_interlaced)
{
	static const int sizes[][2] = {{1, 1}, {2, 3}, {3, 2}, {9, 9}, {33, 17}, {8, 1}, {1, 8}};

	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
		for (int k = 0; k < 2; k++) {
			int ctype = k ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_GRAY;
			int depth = k ? 16 : 4;
			size_t la, lb;
			uint8_t *a = raw_kind(sizes[i][0], sizes[i][1], ctype, depth, 0, i, &la);
			uint8_t *b = raw_kind(sizes[i][0], sizes[i][1], ctype, depth, 1, i, &lb);
			struct fundus_image *ia, *ib;

			CHECK(a && b);
			CHECK(la != lb || memcmp(a, b, la) != 0);
			CHECK_OK(decode(a, la, NULL, &ia));
			CHECK_OK(decode(b, lb, NULL, &ib));
			if (!tu_same_pixels(ia, ib))
				HARNESS_FAIL("%dx%d kind %d: interlaced pixels differ", sizes[i][0],
					     sizes[i][1], k);
			fundus_image_free(ia);
			fundus_image_free(ib);
			free(a);
			free(b);
		}
}

/* Checks reads of regions and scales of one file against crops and shrinks of a full read. */
static int check_regions(const uint8_t *data, size_t len, uint64_t seed)
{
	struct fundus_image_source *src;
	struct fundus_image *full = NULL;
	struct fundus_read_options ro;
	struct fundus_rng rng;
	int bad = 0;

	if (fundus_image_open_memory(&src, data, len, NULL) < 0)
		return -1;
	fundus_read_options_default(&ro);
	ro.format = FUNDUS_PIX_NONE;
	if (fundus_image_read(src, &ro, &full) < 0) {
		fundus_image_close(src);
		return -1;
	}
	fundus_rng_seed(&rng, seed);
	for (int t = 0; t < 40 && !bad; t++) {
		struct fundus_image *got = NULL, *crop = NULL, *want = NULL;
		int x = (int)fundus_rng_below(&rng, (uint32_t)full->width);
		int y = (int)fundus_rng_below(&rng, (uint32_t)full->height);
		int w = 1 + (int)fundus_rng_below(&rng, (uint32_t)(full->width - x));
		int h = 1 + (int)fundus_rng_below(&rng, (uint32_t)(full->height - y));
		int scale = t < 10 ? 1 : 2 + (int)fundus_rng_below(&rng, 7);

		if (t == 10) /* a scaled read of the whole image */
			x = y = 0, w = full->width, h = full->height;
		ro.region.x = x, ro.region.y = y, ro.region.w = w, ro.region.h = h;
		ro.scale = scale;
		if (fundus_image_read(src, &ro, &got) < 0 ||
		    fundus_image_crop(full, x, y, w, h, &crop) < 0 ||
		    fundus_image_shrink(crop, scale, &want) < 0 || !tu_same_pixels(want, got)) {
			fprintf(stderr, "region %d,%d %dx%d scale %d differs: %s\n", x, y, w, h,
				scale, fundus_errmsg());
			bad = 1;
		}
		fundus_image_free(got);
		fundus_image_free(crop);
		fundus_image_free(want);
	}
	fundus_image_free(full);
	fundus_image_close(src);
	return bad ? -1 : 0;
}

TEST(region_and_scaled_reads_equal_crops_and_shrinks)
{
	for (int il = 0; il < 2; il++)
		for (int k = 0; k < 3; k++) {
			static const int ctypes[] = {PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_GRAY_ALPHA,
						     PNG_COLOR_TYPE_RGB_ALPHA};
			size_t len;
			uint8_t *data =
			    raw_kind(71, 45, ctypes[k], k == 1 ? 16 : 8, il, 9 + k, &len);

			CHECK(data != NULL);
			if (check_regions(data, len, (uint64_t)(il * 3 + k)) < 0)
				HARNESS_FAIL("interlace %d kind %d: region reads differ", il, k);
			free(data);
		}
}

/* The EXIF rules are JPEG's (exif.c): a LONG orientation from a sloppy writer counts. */
TEST(exif_long_orientation_counts)
{
	static const uint8_t exif[] = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 4, 0,
				       1,   0,   0,  0, 8, 0, 0, 0, 0, 0, 0,    0,    0, 0};
	struct rawpng r = {.w = 5,
			   .h = 3,
			   .depth = 8,
			   .ctype = PNG_COLOR_TYPE_GRAY,
			   .exif = exif,
			   .nexif = (int)sizeof exif};
	uint16_t *s = raw_samples(r.w, r.h, 1, 8, 0, 5);
	struct fundus_image_source *src;
	uint8_t *data;
	size_t len;

	r.samples = s;
	data = raw_png(&r, &len);
	CHECK(data != NULL);
	CHECK_OK(fundus_image_open_memory(&src, data, len, NULL));
	CHECK_INT_EQ(fundus_image_source_info(src)->orientation, 8);
	CHECK_INT_EQ(fundus_image_source_info(src)->width, 3);
	fundus_image_close(src);
	free(data);
	free(s);
}

TEST(exif_orientation_is_applied)
{
	/* A big-endian EXIF block: IFD0 with one entry, Orientation = 6. */
	static const uint8_t exif[] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3,
				       0,   0,   0, 1,  0, 6, 0, 0, 0, 0, 0,    0,    0, 0};
	struct rawpng r = {.w = 23,
			   .h = 11,
			   .depth = 8,
			   .ctype = PNG_COLOR_TYPE_RGB,
			   .exif = exif,
			   .nexif = (int)sizeof exif};
	uint16_t *s = raw_samples(r.w, r.h, 3, 8, 0, 77);
	struct fundus_image *stored, *want = NULL, *got = NULL, *region = NULL, *crop = NULL;
	struct fundus_image_source *src;
	const struct fundus_image_info *info;
	struct fundus_read_options ro;
	uint8_t *data;
	size_t len;

	r.samples = s;
	data = raw_png(&r, &len);
	stored = raw_expected(&r);
	CHECK(data && stored);
	CHECK_OK(fundus_image_open_memory(&src, data, len, NULL));
	info = fundus_image_source_info(src);
	CHECK_INT_EQ(info->orientation, 6);
	CHECK_INT_EQ(info->width, 11);
	CHECK_INT_EQ(info->height, 23);
	fundus_read_options_default(&ro);
	ro.format = FUNDUS_PIX_NONE;
	CHECK_OK(fundus_image_read(src, &ro, &got));
	CHECK_OK(fundus_image_orient(stored, 6, &want));
	CHECK(tu_same_pixels(want, got));
	/* A region is a rectangle of the displayed picture. */
	ro.region.x = 2, ro.region.y = 5, ro.region.w = 7, ro.region.h = 12;
	CHECK_OK(fundus_image_read(src, &ro, &region));
	CHECK_OK(fundus_image_crop(want, 2, 5, 7, 12, &crop));
	CHECK(tu_same_pixels(crop, region));
	fundus_image_free(got);
	got = NULL;
	/* keep_orientation gives the stored pixels. */
	memset(&ro.region, 0, sizeof ro.region);
	ro.keep_orientation = 1;
	CHECK_OK(fundus_image_read(src, &ro, &got));
	CHECK(tu_same_pixels(stored, got));
	fundus_image_close(src);
	fundus_image_free(stored);
	fundus_image_free(want);
	fundus_image_free(got);
	fundus_image_free(region);
	fundus_image_free(crop);
	free(data);
	free(s);
}

/* Bitwise CRC-32 of PNG chunks, so the tests can forge valid chunks. */
static uint32_t crc32_png(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return c ^ 0xffffffffu;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

TEST(truncated_and_corrupt_files_fail_cleanly)
{
	struct fundus_image *img = noise(40, 30, FUNDUS_PIX_RGB8, 5), *out;
	uint8_t *data, *bad;
	size_t len, ilen;
	uint8_t *inter = raw_kind(40, 30, PNG_COLOR_TYPE_RGB, 8, 1, 6, &ilen);
	int rc;

	CHECK(img && inter);
	CHECK_OK(encode_png(img, &data, &len));
	/* Every cut before IEND fails, at open or at read, and says why. */
	for (size_t cut = 0; cut + 12 < len; cut += 1 + cut / 16) {
		rc = decode(data, cut, NULL, &out);
		if (rc >= 0 || out != NULL)
			HARNESS_FAIL("cut at %zu of %zu: rc %d", cut, len, rc);
		CHECK(fundus_errmsg()[0] != '\0');
	}
	rc = decode(data, len - 40, NULL, &out);
	CHECK_INT_EQ(rc, FUNDUS_EFORMAT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "not enough data");
	for (size_t cut = 0; cut + 12 < ilen; cut += 1 + cut / 8) {
		rc = decode(inter, cut, NULL, &out);
		if (rc >= 0 || out != NULL)
			HARNESS_FAIL("interlaced cut at %zu of %zu: rc %d", cut, ilen, rc);
	}
	/* A flipped byte in the first IDAT's CRC, then in its data. */
	bad = malloc(len);
	memcpy(bad, data, len);
	CHECK(memcmp(data + 37, "IDAT", 4) == 0);
	bad[33 + 8 + ((size_t)data[35] << 8 | data[36])] ^= 0x40;
	CHECK_INT_EQ(decode(bad, len, NULL, &out), FUNDUS_EFORMAT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "IDAT: CRC error");
	memcpy(bad, data, len);
	bad[33 + 8 + 10] ^= 0x40;
	CHECK_INT_EQ(decode(bad, len, NULL, &out), FUNDUS_EFORMAT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "corrupt PNG data");
	/* A flipped byte in IHDR fails at open. */
	memcpy(bad, data, len);
	bad[16 + 8] ^= 0x01;
	CHECK_INT_EQ(decode(bad, len, NULL, &out), FUNDUS_EFORMAT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "CRC error");
	/* Bytes flipped everywhere never crash, whatever they give. */
	for (size_t i = 8; i < len; i += 3) {
		memcpy(bad, data, len);
		bad[i] ^= 0xa5;
		if (decode(bad, len, NULL, &out) == 0)
			fundus_image_free(out);
	}
	CHECK_INT_EQ(decode(data, 0, NULL, &out), FUNDUS_EFORMAT);
	CHECK_INT_EQ(decode(data, 7, NULL, &out), FUNDUS_EFORMAT);
	free(bad);
	fundus_image_free(img);
	fundus_free(data);
	free(inter);
}

TEST(huge_header_hits_the_limits)
{
	/* A valid signature and IHDR (with its CRC) claiming 100000 x 100000 rgb8. */
	uint8_t f[8 + 25 + 12 + 12], *ihdr = f + 8;
	struct fundus_image_source *src;
	struct fundus_image_limits lim;
	struct fundus_read_options ro;
	struct fundus_image *out;
	uint8_t *idat = f + 33;

	memcpy(f, "\x89PNG\r\n\x1a\n", 8);
	put32(ihdr, 13);
	memcpy(ihdr + 4, "IHDR", 4);
	put32(ihdr + 8, 100000);
	put32(ihdr + 12, 100000);
	ihdr[16] = 8, ihdr[17] = 2, ihdr[18] = 0, ihdr[19] = 0, ihdr[20] = 0;
	put32(ihdr + 21, crc32_png(ihdr + 4, 17));
	put32(idat, 0);
	memcpy(idat + 4, "IDAT", 4);
	put32(idat + 8, crc32_png(idat + 4, 4));
	put32(idat + 12, 0);
	memcpy(idat + 16, "IEND", 4);
	put32(idat + 20, crc32_png(idat + 16, 4));
	CHECK_OK(fundus_image_open_memory(&src, f, sizeof f, NULL));
	CHECK_INT_EQ(fundus_image_source_info(src)->width, 100000);
	CHECK_INT_EQ(fundus_image_read(src, NULL, &out), FUNDUS_ELIMIT);
	CHECK(out == NULL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "100000 x 100000");
	/* A small region is within the limits, but the data is not there. */
	fundus_read_options_default(&ro);
	ro.region.w = ro.region.h = 10;
	CHECK_INT_EQ(fundus_image_read(src, &ro, &out), FUNDUS_EFORMAT);
	fundus_image_close(src);
	/* With smaller size limits, the open itself refuses. */
	fundus_image_limits_default(&lim);
	lim.max_width = lim.max_height = 50000;
	CHECK_INT_EQ(fundus_image_open_memory(&src, f, sizeof f, &lim), FUNDUS_ELIMIT);
	CHECK(src == NULL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "limit");
}

TEST(encoder_options)
{
	struct fundus_image *img = noise(50, 20, FUNDUS_PIX_RGBA16, 8), *back;
	struct fundus_save_options so;
	uint8_t *a, *b;
	size_t la, lb;

	CHECK(img != NULL);
	fundus_save_options_default(&so);
	so.type = FUNDUS_IMAGE_PNG;
	so.compression = 0;
	CHECK_OK(fundus_image_encode(img, &so, &a, &la));
	so.compression = 9;
	CHECK_OK(fundus_image_encode(img, &so, &b, &lb));
	CHECK_INT_GT(la, 50 * 20 * 8);
	CHECK_OK(decode(a, la, NULL, &back));
	CHECK(tu_same_pixels(img, back));
	fundus_image_free(back);
	CHECK_OK(decode(b, lb, NULL, &back));
	CHECK(tu_same_pixels(img, back));
	fundus_image_free(back);
	fundus_free(a);
	fundus_free(b);
	so.compression = 10;
	CHECK_INT_EQ(fundus_image_encode(img, &so, &a, &la), FUNDUS_EINVAL);
	CHECK(a == NULL);
	fundus_image_free(img);
}

/* Counts calls, and asks to stop after `stop` of them. */
static int stop_after(void *ud, const char *what, int64_t done, int64_t total)
{
	int *n = ud;

	(void)what, (void)done, (void)total;
	return --*n <= 0;
}

TEST(progress_can_stop_a_decode)
{
	struct fundus_image *img = noise(20, 1000, FUNDUS_PIX_GRAY8, 3), *out;
	struct fundus_progress p = {stop_after, NULL};
	struct fundus_read_options ro;
	uint8_t *data;
	size_t len;
	int n = 2;

	CHECK(img != NULL);
	CHECK_OK(encode_png(img, &data, &len));
	p.ud = &n;
	fundus_read_options_default(&ro);
	ro.progress = &p;
	CHECK_INT_EQ(decode(data, len, &ro, &out), FUNDUS_ECANCELED);
	CHECK(out == NULL);
	fundus_image_free(img);
	fundus_free(data);
}

TEST(allocation_failures_are_clean)
{
	struct fundus_image *img = noise(30, 20, FUNDUS_PIX_RGBA8, 4);
	struct fundus_read_options ro;
	uint8_t *data, *inter;
	size_t len, ilen;
	int n;

	CHECK(img != NULL);
	CHECK_OK(encode_png(img, &data, &len));
	/* The encoder too. */
	for (long k = 0;; k++) {
		uint8_t *d;
		size_t l;
		int rc;

		fundus_alloc_fail_after(k);
		rc = encode_png(img, &d, &l);
		fundus_alloc_fail_after(-1);
		if (rc == 0) {
			fundus_free(d);
			break;
		}
		CHECK_INT_EQ(rc, FUNDUS_ENOMEM);
	}
	inter = raw_kind(30, 20, PNG_COLOR_TYPE_GRAY_ALPHA, 16, 1, 4, &ilen);
	CHECK(inter != NULL);
	fundus_read_options_default(&ro);
	n = tu_alloc_sweep_read(data, len, &ro);
	CHECK_INT_GT(n, 3);
	CHECK_INT_GT(tu_alloc_sweep_read(inter, ilen, &ro), 3);
	ro.scale = 3;
	ro.region.x = 3, ro.region.y = 2, ro.region.w = 20, ro.region.h = 15;
	CHECK_INT_GT(tu_alloc_sweep_read(data, len, &ro), 3);
	fundus_image_free(img);
	fundus_free(data);
	free(inter);
}

int main(int argc, char **argv)
{
	RUN(round_trip_every_format_exactly);
	RUN(sixteen_bit_values_survive);
	RUN(every_colour_type_and_bit_depth);
	RUN(palette_with_and_without_trns);
	RUN(trns_colour_becomes_alpha);
	RUN(interlaced_equals_non_interlaced);
	RUN(region_and_scaled_reads_equal_crops_and_shrinks);
	RUN(exif_orientation_is_applied);
	RUN(exif_long_orientation_counts);
	RUN(truncated_and_corrupt_files_fail_cleanly);
	RUN(huge_header_hits_the_limits);
	RUN(encoder_options);
	RUN(progress_can_stop_a_decode);
	RUN(allocation_failures_are_clean);
	return harness_done();
}

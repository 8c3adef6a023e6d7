/*
 * PNG codec, over libpng 1.6.
 *
 * Decoder contract.
 *
 * - What is read: every PNG colour type and bit depth. Gray of 1, 2 or 4
 *   bits is scaled to 8 bits (1 -> 255); palette images are expanded to
 *   RGB; a tRNS chunk becomes an alpha channel. The result's native format
 *   is gray8, graya8, rgb8 or rgba8 for files of up to 8 bits, and gray16 to
 *   rgba16 (native byte order) for 16-bit files, whose values come back
 *   unchanged. No gamma or colour-space conversion is done. Adam7-interlaced
 *   files give the same pixels as non-interlaced ones.
 * - Header: info.bits is the file's bit depth, info.colour "gray", "rgb" or
 *   "palette", info.progressive is set for interlaced files, and an eXIf
 *   chunk before the image data sets info.orientation (1 when absent or
 *   unreadable), which reads apply like JPEG's EXIF orientation.
 * - Reads decode only the rows down to the bottom of the wanted region and
 *   keep only the region's columns; a reduced read averages row bands as they
 *   arrive (non-interlaced files), so memory is bounded by the result.
 *   Chunks after the image data (and IEND) are not read, so a file cut just
 *   after its last image row still decodes.
 * - Failures: corrupt data (bad signature, bad CRC in a critical chunk, bad
 *   zlib data, short image data) gives FUNDUS_EFORMAT with libpng's reason;
 *   a file cut short gives FUNDUS_EFORMAT "truncated PNG data (not enough
 *   data)". Nothing is returned and nothing is kept on failure; warnings
 *   (bad ancillary chunks) go to the log at debug level.
 * - Limits: the stored size is checked against max_width / max_height (also
 *   given to libpng as its user limits, FUNDUS_ELIMIT) when the header is
 *   read; the decoded region against max_pixels before any pixel memory is
 *   allocated (FUNDUS_ELIMIT); ancillary chunks are capped at 8 MB each.
 *   All of libpng's memory comes from fundus_malloc().
 */
#include <png.h>
#include <setjmp.h>
#include <string.h>

#include "codec.h"
#include "exif.h"
#include "rowsink.h"

/* The largest ancillary chunk (text, ICC profile, ...) libpng may allocate. */
#define PNG_CHUNK_MAX ((png_alloc_size_t)8 << 20)

/* Rows decoded between two progress reports. */
#define PNG_PROGRESS_ROWS 256

/* Everything one libpng session needs; lives outside the setjmp frame. */
struct png_ctx {
	png_structp png;
	png_infop info;
	const struct fundus_image_source *src; /* decoding; NULL when encoding */
	size_t pos;                            /* read position in src->data */

	/* The error, filled by the error function before it jumps. */
	int code;
	int nomem;
	char msg[200];
	char warning[200]; /* the last warning, which may explain an error */

	/* The image as libpng delivers it after our transforms. */
	png_uint_32 width, height;
	int file_depth, file_ctype; /* as in IHDR */
	enum fundus_pixfmt fmt;
	int passes;

	/* Decoding a region. */
	const struct fundus_read_options *ro;
	int sx, sy, sw, sh;
	uint8_t *row; /* one full stored row */
	struct fundus__rowsink sink;
	struct fundus_image *img;

	/* Encoding. */
	const struct fundus_image *in;
	int level;
	uint8_t *out;
	size_t out_len, out_cap;
};

/* Non-zero on a little-endian machine, where 16-bit PNG samples need swapping. */
static int little_endian(void)
{
	const uint16_t one = 1;

	return *(const uint8_t *)&one == 1;
}

/* libpng's allocator: ours, remembering a failure so it is reported as such. */
static png_voidp png_mem_alloc(png_structp png, png_alloc_size_t size)
{
	void *p = fundus_malloc(size);

	if (p == NULL) {
		struct png_ctx *c = png_get_mem_ptr(png);

		if (c)
			c->nomem = 1;
	}
	return p;
}

/* libpng's free: ours. */
static void png_mem_free(png_structp png, png_voidp p)
{
	(void)png;
	fundus_free(p);
}

/* Keeps libpng's message and the kind of failure, then leaves through longjmp. */
static void png_on_error(png_structp png, png_const_charp msg)
{
	struct png_ctx *c = png_get_error_ptr(png);

	if (c->code == 0) {
		if (c->nomem) {
			c->code = FUNDUS_ENOMEM;
			snprintf(c->msg, sizeof c->msg, "out of memory");
		} else if (strstr(c->warning, "user limit") || strstr(msg, "user limit") ||
			   strstr(msg, "too large")) {
			c->code = FUNDUS_ELIMIT;
			snprintf(c->msg, sizeof c->msg, "PNG image is over the limits: %s",
				 strstr(c->warning, "user limit") ? c->warning : msg);
		} else if (strcmp(msg, "not enough data") == 0) {
			c->code = FUNDUS_EFORMAT;
			snprintf(c->msg, sizeof c->msg, "truncated PNG data (not enough data)");
		} else {
			c->code = FUNDUS_EFORMAT;
			snprintf(c->msg, sizeof c->msg, "corrupt PNG data: %s", msg);
		}
	}
	png_longjmp(png, 1);
}

/* Logs a warning and keeps it, since a following error may need it to say why. */
static void png_on_warning(png_structp png, png_const_charp msg)
{
	struct png_ctx *c = png_get_error_ptr(png);

	snprintf(c->warning, sizeof c->warning, "%s", msg);
	fundus_log(FUNDUS_LOG_DEBUG, "png: %s", msg);
}

/* Hands libpng the next n bytes of the source, or fails if the file ends first. */
static void png_on_read(png_structp png, png_bytep out, size_t n)
{
	struct png_ctx *c = png_get_io_ptr(png);

	if (n > c->src->len - c->pos)
		png_error(png, "not enough data");
	memcpy(out, c->src->data + c->pos, n);
	c->pos += n;
}

/*
 * Runs fn under libpng's error handling: a libpng error jumps back here and
 * becomes the return code. fn keeps all its state in c, never in locals
 * that would be lost by the jump.
 */
static int png_guard(struct png_ctx *c, int (*fn)(struct png_ctx *))
{
	if (setjmp(png_jmpbuf(c->png))) {
		if (c->code == 0) {
			c->code = FUNDUS_EFORMAT;
			snprintf(c->msg, sizeof c->msg, "corrupt PNG data");
		}
		return fundus_error_set(c->code, "%s", c->msg);
	}
	return fn(c);
}

/* The orientation (1..8) in an eXIf chunk, or 1. */
static int exif_orientation(const uint8_t *p, size_t n)
{
	int o;

	/* Some writers keep the JPEG APP1 prefix in eXIf. */
	if (n >= 6 && memcmp(p, "Exif\0\0", 6) == 0) {
		p += 6;
		n -= 6;
	}
	o = fundus__exif_orientation(p, n);
	return o > 0 ? o : 1;
}

/* Reads the header and sets up the transforms to our native formats. */
static int png_setup(struct png_ctx *c)
{
	png_structp png = c->png;
	png_infop info = c->info;
	int depth, ctype, ch;

	png_read_info(png, info);
	c->width = png_get_image_width(png, info);
	c->height = png_get_image_height(png, info);
	depth = c->file_depth = png_get_bit_depth(png, info);
	ctype = c->file_ctype = png_get_color_type(png, info);
	if (ctype == PNG_COLOR_TYPE_PALETTE)
		png_set_palette_to_rgb(png);
	if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8)
		png_set_expand_gray_1_2_4_to_8(png);
	if (png_get_valid(png, info, PNG_INFO_tRNS))
		png_set_tRNS_to_alpha(png);
	if (depth == 16 && little_endian())
		png_set_swap(png);
	c->passes = png_set_interlace_handling(png);
	png_read_update_info(png, info);
	depth = png_get_bit_depth(png, info);
	ch = png_get_channels(png, info);
	if ((depth != 8 && depth != 16) || ch < 1 || ch > 4)
		return fundus_error_set(FUNDUS_EUNSUPPORTED,
					"PNG gives %d channels of %d bits after expansion", ch,
					depth);
	c->fmt = fundus__pixfmt_of(ch, depth / 8);
	if (png_get_rowbytes(png, info) != (size_t)c->width * ch * (depth / 8))
		return fundus_error_set(FUNDUS_EFORMAT, "unexpected PNG row size");
	return 0;
}

/* A limit as libpng takes it: 1 to 2^31 - 1. */
static png_uint_32 user_limit(int64_t v)
{
	return (png_uint_32)(v < 1 ? 1 : v > 0x7fffffff ? 0x7fffffff : v);
}

/* Starts a read session over the source and parses the header. */
static int png_begin(struct png_ctx *c, const struct fundus_image_source *src)
{
	c->src = src;
	c->png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, c, png_on_error, png_on_warning, c,
					  png_mem_alloc, png_mem_free);
	if (c->png == NULL)
		return fundus_error_set(FUNDUS_ENOMEM, "out of memory");
	c->info = png_create_info_struct(c->png);
	if (c->info == NULL)
		return fundus_error_set(FUNDUS_ENOMEM, "out of memory");
	png_set_read_fn(c->png, c, png_on_read);
	png_set_user_limits(c->png, user_limit(src->limits.max_width),
			    user_limit(src->limits.max_height));
	png_set_chunk_malloc_max(c->png, PNG_CHUNK_MAX);
	return png_guard(c, png_setup);
}

/* Ends a read session and frees what it holds. */
static void png_end(struct png_ctx *c)
{
	if (c->png)
		png_destroy_read_struct(&c->png, c->info ? &c->info : NULL, NULL);
	fundus_free(c->row);
	fundus__rowsink_free(&c->sink);
	fundus_image_free(c->img);
	c->row = NULL;
	c->img = NULL;
}

/* The PNG signature (its first four bytes suffice for a short buffer). */
static int png_is_a(const uint8_t *data, size_t len)
{
	static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

	return len >= 8 ? memcmp(data, sig, 8) == 0 : len >= 4 && memcmp(data, sig, 4) == 0;
}

/* Reads the header into src->info; nothing is kept open between calls. */
static int png_header(struct fundus_image_source *src)
{
	struct png_ctx c;
	struct fundus_image_info *in = &src->info;
	png_bytep exif = NULL;
	png_uint_32 exif_len = 0;
	int rc, swap;

	memset(&c, 0, sizeof c);
	rc = png_begin(&c, src);
	if (rc == 0)
		rc = fundus__check_dims(src, c.width, c.height);
	if (rc < 0) {
		png_end(&c);
		return rc;
	}
	in->bits = c.file_depth;
	in->colour = c.file_ctype == PNG_COLOR_TYPE_PALETTE  ? "palette"
		     : (c.file_ctype & PNG_COLOR_MASK_COLOR) ? "rgb"
							     : "gray";
	in->channels = fundus_pixfmt_channels(c.fmt);
	in->has_alpha = in->channels == 2 || in->channels == 4;
	in->progressive = png_get_interlace_type(c.png, c.info) != PNG_INTERLACE_NONE;
	in->orientation = 1;
#ifdef PNG_eXIf_SUPPORTED
	if (png_get_eXIf_1(c.png, c.info, &exif_len, &exif) && exif)
		in->orientation = exif_orientation(exif, exif_len);
#endif
	(void)exif;
	(void)exif_len;
	swap = fundus__orientation_swaps(in->orientation);
	in->width = (int)(swap ? c.height : c.width);
	in->height = (int)(swap ? c.width : c.height);
	in->pages = 1;
	in->levels = 1;
	in->level[0].width = in->width;
	in->level[0].height = in->height;
	in->level[0].downsample = 1;
	png_end(&c);
	return 0;
}

/* Reports progress; a stop from the caller becomes FUNDUS_ECANCELED. */
static int png_progress(struct png_ctx *c, int64_t done, int64_t total)
{
	if (fundus_progress_report(c->ro->progress, "decoding", done, total))
		return fundus_error_set(FUNDUS_ECANCELED, "decoding stopped by the caller");
	return 0;
}

/*
 * Decodes rows from the top down to the bottom of the region, handing the
 * region's part of each to the sink, which reduces as it goes.
 */
static int png_decode_rows(struct png_ctx *c)
{
	size_t px = (size_t)fundus_pixfmt_channels(c->fmt) * fundus_pixfmt_bytes(c->fmt);
	int rc;

	rc = fundus__rowsink_init(&c->sink, c->sw, c->sh, c->fmt, c->ro->scale);
	if (rc < 0)
		return rc;
	c->row = fundus_malloc(png_get_rowbytes(c->png, c->info));
	if (c->row == NULL)
		return FUNDUS_ENOMEM;
	for (int y = 0; y < c->sy + c->sh; y++) {
		png_read_row(c->png, c->row, NULL);
		if (y >= c->sy)
			fundus__rowsink_put(&c->sink, c->row + (size_t)c->sx * px);
		if ((y + 1) % PNG_PROGRESS_ROWS == 0 &&
		    (rc = png_progress(c, y + 1, c->sy + c->sh)))
			return rc;
	}
	c->img = fundus__rowsink_take(&c->sink);
	return 0;
}

/*
 * Decodes an interlaced image. Each pass fills some pixels of some rows, so
 * the region is kept whole until the last pass; other rows go through a
 * scratch row whose content does not matter.
 */
static int png_decode_interlaced(struct png_ctx *c)
{
	size_t px = (size_t)fundus_pixfmt_channels(c->fmt) * fundus_pixfmt_bytes(c->fmt);
	size_t part = (size_t)c->sw * px;
	int rc;

	rc = fundus_image_new(&c->img, c->sw, c->sh, c->fmt);
	if (rc < 0)
		return rc;
	c->row = fundus_malloc(png_get_rowbytes(c->png, c->info));
	if (c->row == NULL)
		return FUNDUS_ENOMEM;
	for (int pass = 0; pass < c->passes; pass++) {
		/* The last pass may stop at the bottom of the region. */
		int rows = pass == c->passes - 1 ? c->sy + c->sh : (int)c->height;

		for (int y = 0; y < rows; y++) {
			int in = y >= c->sy && y < c->sy + c->sh;
			uint8_t *keep =
			    in ? c->img->data + (size_t)(y - c->sy) * c->img->stride : NULL;

			if (in)
				memcpy(c->row + (size_t)c->sx * px, keep, part);
			png_read_row(c->png, c->row, NULL);
			if (in)
				memcpy(keep, c->row + (size_t)c->sx * px, part);
		}
		if ((rc = png_progress(c, pass + 1, c->passes)))
			return rc;
	}
	return 0;
}

/* Decodes the stored rectangle behind ro's region, then lets common code finish. */
static int png_read(struct fundus_image_source *src, const struct fundus_read_options *ro,
		    struct fundus_image **out)
{
	struct png_ctx c;
	struct fundus_image *img;
	const struct fundus_image_info *in = &src->info;
	int orient = ro->keep_orientation ? 1 : in->orientation;
	int dw = in->width, dh = in->height, rc, done_scale;

	*out = NULL;
	memset(&c, 0, sizeof c);
	if (ro->keep_orientation && fundus__orientation_swaps(in->orientation)) {
		dw = in->height;
		dh = in->width;
	}
	fundus__region_to_stored(orient, dw, dh, ro->region.x, ro->region.y, ro->region.w,
				 ro->region.h, &c.sx, &c.sy, &c.sw, &c.sh);
	rc = fundus__check_pixels(src, c.sw, c.sh);
	if (rc < 0)
		return rc;
	c.ro = ro;
	rc = png_begin(&c, src);
	if (rc == 0 && ((int64_t)c.sx + c.sw > c.width || (int64_t)c.sy + c.sh > c.height))
		rc = fundus_error_set(FUNDUS_EINVAL, "region is outside the PNG image");
	if (rc == 0)
		rc = png_guard(&c, c.passes > 1 ? png_decode_interlaced : png_decode_rows);
	done_scale = c.passes > 1 ? 1 : ro->scale;
	if (rc < 0 || c.img == NULL) {
		png_end(&c);
		return rc < 0 ? rc : fundus_error_set(FUNDUS_EFORMAT, "incomplete PNG decode");
	}
	img = c.img;
	c.img = NULL;
	png_end(&c);
	return fundus__image_finish(img, in->orientation, done_scale, ro, out);
}

/* Appends encoded bytes to the growing output buffer. */
static void png_on_write(png_structp png, png_bytep data, size_t n)
{
	struct png_ctx *c = png_get_io_ptr(png);

	if (n > c->out_cap - c->out_len) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		uint8_t *p;

		while (cap - c->out_len < n) {
			if (cap > SIZE_MAX / 2)
				png_error(png, "output too large");
			cap *= 2;
		}
		p = fundus_realloc(c->out, cap);
		if (p == NULL) {
			c->nomem = 1;
			png_error(png, "out of memory");
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, n);
	c->out_len += n;
}

/* Nothing to flush in memory (libpng would fflush() its io pointer by default). */
static void png_on_flush(png_structp png)
{
	(void)png;
}

/* Writes the whole image (under png_guard). */
static int png_write_all(struct png_ctx *c)
{
	static const int types[] = {PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
				    PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
	const struct fundus_image *img = c->in;
	int ch = fundus_pixfmt_channels(img->format), b = fundus_pixfmt_bytes(img->format);

	png_set_write_fn(c->png, c, png_on_write, png_on_flush);
	png_set_IHDR(c->png, c->info, (png_uint_32)img->width, (png_uint_32)img->height, 8 * b,
		     types[ch - 1], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
		     PNG_FILTER_TYPE_DEFAULT);
	png_set_compression_level(c->png, c->level);
	png_write_info(c->png, c->info);
	if (b == 2 && little_endian())
		png_set_swap(c->png);
	for (int y = 0; y < img->height; y++)
		png_write_row(c->png, img->data + (size_t)y * img->stride);
	png_write_end(c->png, NULL);
	return 0;
}

/* Encodes any pixel format, non-interlaced, at so->compression (zlib level). */
static int png_encode(const struct fundus_image *img, const struct fundus_save_options *so,
		      uint8_t **data, size_t *len)
{
	struct png_ctx c;
	int rc;

	*data = NULL;
	*len = 0;
	if (img == NULL || img->width <= 0 || img->height <= 0 ||
	    fundus_pixfmt_channels(img->format) == 0)
		return fundus_error_set(FUNDUS_EINVAL, "no image to encode");
	if (so->compression < -1 || so->compression > 9)
		return fundus_error_set(FUNDUS_EINVAL, "PNG compression must be 0 to 9, not %d",
					so->compression);
	memset(&c, 0, sizeof c);
	c.in = img;
	c.level = so->compression < 0 ? 6 : so->compression;
	c.png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, &c, png_on_error, png_on_warning,
					  &c, png_mem_alloc, png_mem_free);
	if (c.png == NULL)
		return fundus_error_set(FUNDUS_ENOMEM, "out of memory");
	c.info = png_create_info_struct(c.png);
	rc = c.info ? png_guard(&c, png_write_all)
		    : fundus_error_set(FUNDUS_ENOMEM, "out of memory");
	png_destroy_write_struct(&c.png, c.info ? &c.info : NULL);
	if (rc < 0) {
		fundus_free(c.out);
		return rc;
	}
	*data = c.out;
	*len = c.out_len;
	return 0;
}

const struct fundus__codec fundus__codec_png = {
    .name = "png",
    .is_a = png_is_a,
    .header = png_header,
    .page_info = NULL,
    .read = png_read,
    .close = NULL,
    .encode = png_encode,
};

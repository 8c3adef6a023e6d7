/*
 * fundus/image.h: images in memory, and reading and writing image files.
 *
 * An image is a plain raster: width x height pixels of one pixel format,
 * rows of `stride` bytes, samples interleaved, 16-bit samples in native byte
 * order. The caller owns it and frees it with fundus_image_free().
 *
 * Reading goes through a codec registry that recognises a file by its
 * content, never by its name. Opening a source reads only the header; the
 * pixels are decoded by fundus_image_read(), optionally for a region, a
 * page or pyramid level, and a reduced scale, so that a huge image is never
 * decoded whole when a small version is wanted.
 *
 * Coordinates are those of the displayed image: EXIF orientation (and the
 * TIFF Orientation tag) is applied, so width and height are as a viewer
 * shows them and a region is a rectangle of the displayed picture.
 *
 *     struct fundus_image_source *src;
 *     struct fundus_image *thumb;
 *     struct fundus_read_options ro;
 *     fundus_read_options_default(&ro);
 *     ro.scale = 8;                       // 1/8: the DCT does the work
 *     if (fundus_image_open(&src, "eye.jpg", NULL) == 0) {
 *         const struct fundus_image_info *info = fundus_image_source_info(src);
 *         rc = fundus_image_read(src, &ro, &thumb);
 *         fundus_image_close(src);
 *     }
 *
 * Decoder contract (after stb_image): on success the image holds exactly
 * the decoded pixels; on any failure nothing is returned, no memory is
 * kept, and the error says why ("truncated JPEG data", "PNG CRC error",
 * "image is 70000 x 70000, more than the limit of ..."). Corrupt input
 * never crashes a decoder and never makes it read outside the file. Every
 * decode is bounded by struct fundus_image_limits, checked against the
 * header before any pixel memory is allocated, so a hostile 1-KB file that
 * claims to be 10^5 x 10^5 pixels is refused at once.
 */
#ifndef FUNDUS_IMAGE_H
#define FUNDUS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "fundus/core.h"

#ifdef __cplusplus
extern "C" {
#endif

enum fundus_pixfmt {
	FUNDUS_PIX_NONE = 0, /* in read options: keep the source's format, as 8 or 16 bit */
	FUNDUS_PIX_GRAY8,
	FUNDUS_PIX_GRAYA8,
	FUNDUS_PIX_RGB8,
	FUNDUS_PIX_RGBA8,
	FUNDUS_PIX_GRAY16,
	FUNDUS_PIX_GRAYA16,
	FUNDUS_PIX_RGB16,
	FUNDUS_PIX_RGBA16,
};

/* Samples per pixel (1 to 4) and bytes per sample (1 or 2); 0 for NONE. */
int fundus_pixfmt_channels(enum fundus_pixfmt fmt);
int fundus_pixfmt_bytes(enum fundus_pixfmt fmt);
/* A constant name such as "rgb8". */
const char *fundus_pixfmt_name(enum fundus_pixfmt fmt);

struct fundus_image {
	int width;
	int height;
	enum fundus_pixfmt format;
	size_t stride; /* bytes from one row to the next */
	uint8_t *data; /* owned by the image */
};

/*
 * Creates a zero-filled image. Returns FUNDUS_EINVAL for non-positive
 * sizes, FUNDUS_EOVERFLOW or FUNDUS_ENOMEM.
 */
int fundus_image_new(struct fundus_image **out, int width, int height, enum fundus_pixfmt fmt);
void fundus_image_free(struct fundus_image *img);

/* Returns a pointer to pixel (x, y). No bounds check. */
static inline uint8_t *fundus_image_pixel(const struct fundus_image *img, int x, int y)
{
	return img->data + (size_t)y * img->stride +
	       (size_t)x * (size_t)(fundus_pixfmt_channels(img->format) *
				    fundus_pixfmt_bytes(img->format));
}

/* Makes a copy. */
int fundus_image_dup(const struct fundus_image *img, struct fundus_image **out);

/*
 * Converts to another pixel format into a new image. Gray to colour copies
 * the gray value; colour to gray uses Rec. 601 luma (0.299, 0.587, 0.114);
 * alpha is dropped or set opaque; 16 to 8 bits rounds (v * 255 + 32767) / 65535,
 * 8 to 16 bits multiplies by 257.
 */
int fundus_image_convert(const struct fundus_image *src, enum fundus_pixfmt fmt,
			 struct fundus_image **out);

/*
 * Resizes to width x height into a new image of the same format. Shrinking
 * averages the exact area each destination pixel covers (box filter, no
 * aliasing); enlarging interpolates bilinearly with pixel centres aligned.
 */
int fundus_image_resize(const struct fundus_image *src, int width, int height,
			struct fundus_image **out);

/*
 * Shrinks by an integer factor: each destination pixel is the mean of a
 * factor x factor block; the last row and column average what there is.
 * The result is ceil(width / factor) x ceil(height / factor), the size
 * libjpeg's DCT scaling gives, so every codec reduces the same way.
 */
int fundus_image_shrink(const struct fundus_image *src, int factor, struct fundus_image **out);

/* Copies the rectangle (x, y, w, h), which must lie inside src, into a new image. */
int fundus_image_crop(const struct fundus_image *src, int x, int y, int w, int h,
		      struct fundus_image **out);

/*
 * Applies an EXIF orientation (1 to 8) to an image, into a new image:
 * 2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise,
 * 7 transverse, 8 rotate 90 counter-clockwise. 1 copies.
 */
int fundus_image_orient(const struct fundus_image *src, int orientation,
			struct fundus_image **out);

/*
 * Limits that every decode is checked against, before pixel memory is
 * allocated. Dimensions of the stored image (all pages and levels) are
 * checked against max_width and max_height; the pixels actually decoded
 * by one read against max_pixels.
 */
struct fundus_image_limits {
	int64_t max_width;  /* default 200000 (whole-slide images are wide) */
	int64_t max_height; /* default 200000 */
	int64_t max_pixels; /* pixels decoded in one read; default 2^28 (268 M) */
	int max_pages;      /* pages or frames in one file; default 10000 */
};
void fundus_image_limits_default(struct fundus_image_limits *lim);

#define FUNDUS_IMAGE_MAX_LEVELS 32

/* What the header says, without decoding pixels. */
struct fundus_image_info {
	const char *format; /* codec name: "jpeg", "png", "tiff"; constant */
	int width;          /* displayed width of the selected page, level 0 */
	int height;
	int channels;       /* samples per pixel in the file (after palette expansion) */
	int bits;           /* bits per sample in the file: 1, 2, 4, 8 or 16 */
	int orientation;    /* EXIF/TIFF orientation 1..8 in the file; 1 if none */
	int has_alpha;
	const char *colour; /* "gray", "rgb", "palette", "cmyk", "ycck", "ycbcr"; constant */
	int progressive;    /* JPEG progressive or PNG interlaced */
	int pages;          /* independent images in the file (TIFF pages), at least 1 */
	int levels;         /* pyramid levels of the selected page, at least 1 */
	struct {
		int width, height; /* displayed size of the level */
		double downsample; /* level-0 width / level width */
	} level[FUNDUS_IMAGE_MAX_LEVELS];
};

/*
 * How to read pixels. Start from fundus_read_options_default() and change
 * what you need.
 *
 * Order of operations: choose page and level; take the region (in
 * displayed coordinates of that level; w == 0 means the whole level);
 * reduce by scale (output ceil(w / scale) x ceil(h / scale): the JPEG codec
 * does 2, 4, 8 in the DCT domain, the others average blocks); convert to
 * format. Scale must be 1 or more. The result is the displayed image:
 * orientation is applied unless keep_orientation is set.
 */
struct fundus_read_options {
	int page;  /* default 0 */
	int level; /* default 0: full resolution */
	struct {
		int x, y, w, h;
	} region;            /* default 0, 0, 0, 0: everything */
	int scale;           /* default 1 */
	enum fundus_pixfmt format; /* default FUNDUS_PIX_RGB8; NONE keeps the source's */
	int keep_orientation; /* default 0: apply EXIF/TIFF orientation */
	const struct fundus_progress *progress; /* default NULL */
};
void fundus_read_options_default(struct fundus_read_options *ro);

/* An opened image file or buffer, its header parsed. */
struct fundus_image_source;

/*
 * Opens an image file ("-" for standard input), recognises its format from
 * the first bytes and parses its header. lim may be NULL for the defaults.
 * Errors: FUNDUS_ENOENT, FUNDUS_EIO, FUNDUS_EUNSUPPORTED ("not an image
 * format fundus reads"), FUNDUS_EFORMAT (corrupt header), FUNDUS_ELIMIT.
 */
int fundus_image_open(struct fundus_image_source **out, const char *path,
		      const struct fundus_image_limits *lim);

/*
 * The same over a caller's buffer, which must stay valid and unchanged
 * until fundus_image_close().
 */
int fundus_image_open_memory(struct fundus_image_source **out, const void *data, size_t len,
			     const struct fundus_image_limits *lim);

void fundus_image_close(struct fundus_image_source *src);

/* The header of page 0. Borrowed from src. */
const struct fundus_image_info *fundus_image_source_info(const struct fundus_image_source *src);

/* Fills *info with the header of another page. */
int fundus_image_page_info(struct fundus_image_source *src, int page,
			   struct fundus_image_info *info);

/*
 * Decodes pixels as ro says (NULL for the defaults) into a new image.
 * May be called many times on one source, but not concurrently.
 */
int fundus_image_read(struct fundus_image_source *src, const struct fundus_read_options *ro,
		      struct fundus_image **out);

/* Opens, reads and closes: the common case. */
int fundus_image_load(const char *path, const struct fundus_read_options *ro,
		      struct fundus_image **out);

/*
 * The largest power-of-two scale (1, 2, 4 or 8) at which an image of
 * width x height still has a long side of at least min_side pixels. Pass
 * it as ro.scale to decode a photograph no larger than needed.
 */
int fundus_image_fit_scale(int width, int height, int min_side);

/* Returns the name of the codec that recognises these first bytes, or NULL. */
const char *fundus_image_probe(const void *data, size_t len);

/* Writing. */
enum fundus_image_type {
	FUNDUS_IMAGE_AUTO = 0, /* from the file name's extension */
	FUNDUS_IMAGE_PNG,
	FUNDUS_IMAGE_JPEG,
	FUNDUS_IMAGE_TIFF,
};
struct fundus_save_options {
	enum fundus_image_type type; /* default AUTO */
	int quality;                 /* JPEG quality 1..100; default 92 */
	int subsample;               /* JPEG chroma 4:2:0 when 1 (default), 4:4:4 when 0 */
	int compression; /* -1 (default): the codec's own default; PNG: zlib level 0..9
			    (default 6); TIFF: 0 none, 1 LZW (default), 2 Deflate, 3 JPEG */
};
void fundus_save_options_default(struct fundus_save_options *so);

/*
 * Encodes img into a new buffer (*data, *len; free with fundus_free()).
 * PNG takes every pixel format; JPEG takes gray8 and rgb8 (others are
 * converted first); TIFF takes every format.
 */
int fundus_image_encode(const struct fundus_image *img, const struct fundus_save_options *so,
			uint8_t **data, size_t *len);

/*
 * Writes img to path atomically ("-" for standard output). With type AUTO,
 * the extension chooses: .png, .jpg/.jpeg, .tif/.tiff; others, and "-",
 * which has none, give FUNDUS_EINVAL: set so->type for them.
 */
int fundus_image_save(const struct fundus_image *img, const char *path,
		      const struct fundus_save_options *so);

/* The type an extension names, or FUNDUS_IMAGE_AUTO when none does. */
enum fundus_image_type fundus_image_type_from_name(const char *path);

#ifdef __cplusplus
}
#endif
#endif

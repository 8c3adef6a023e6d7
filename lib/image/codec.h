/*
 * Internal: the codec interface behind fundus_image_open() and friends.
 *
 * A codec is a static table of entries, after libvips' loaders: a cheap
 * is_a() on the first bytes, header() that fills src->info, and read() that
 * decodes. Each dependency's quirks (setjmp, error handlers) stay in its
 * codec's file. To add a codec, write lib/image/<name>.c with a
 * `const struct fundus__codec fundus__codec_<name>` and list it in
 * registry.c.
 */
#ifndef FUNDUS_IMAGE_CODEC_H
#define FUNDUS_IMAGE_CODEC_H

#include "fundus/file.h"
#include "fundus/image.h"

struct fundus_image_source;
struct cJSON;

/* Flags of the meta entry. */
enum {
	FUNDUS__META_PHI = 1, /* also the fields that identify a patient (name, ID, birth date) */
};

struct fundus__codec {
	const char *name;
	/* Non-zero when these first bytes (len may be short) are this format. */
	int (*is_a)(const uint8_t *data, size_t len);
	/* Parses the header of page 0 into src->info; may set src->priv. */
	int (*header)(struct fundus_image_source *src);
	/* Fills *info for another page; NULL when the format has one page. */
	int (*page_info)(struct fundus_image_source *src, int page, struct fundus_image_info *info);
	/*
	 * Decodes as ro says (already validated against the page's info:
	 * page and level exist, the region lies inside the level, scale >= 1).
	 * Must check fundus__check_pixels() before allocating pixels.
	 */
	int (*read)(struct fundus_image_source *src, const struct fundus_read_options *ro,
		    struct fundus_image **out);
	/* Frees src->priv. May be NULL. */
	void (*close)(struct fundus_image_source *src);
	/* Encoder, or NULL when the codec cannot write. */
	int (*encode)(const struct fundus_image *img, const struct fundus_save_options *so,
		      uint8_t **data, size_t *len);
	/*
	 * Optional (NULL when unused), for codecs that need the file itself,
	 * not bytes (OpenSlide): non-zero when the file at path, whose first
	 * bytes are data, is this format. Asked before every is_a(), and only
	 * for sources opened from a path, so it must be cheap and must say no
	 * to what another codec reads as well.
	 */
	int (*is_a_path)(const char *path, const uint8_t *data, size_t len);
	/*
	 * Optional: adds what the file says about a page (frame) beyond struct
	 * fundus_image_info to the cJSON object meta, as members with short
	 * snake_case names ("laterality", "modality", "acquisition_date").
	 * Fields that identify a patient are added only with FUNDUS__META_PHI
	 * in flags. Returns 0, FUNDUS_EINVAL for a page that does not exist,
	 * or FUNDUS_ENOMEM. Called through fundus__image_meta().
	 */
	int (*meta)(struct fundus_image_source *src, int page, unsigned flags, struct cJSON *meta);
};

struct fundus_image_source {
	const struct fundus__codec *codec;
	const uint8_t *data; /* the whole file */
	size_t len;
	struct fundus_file_map *map; /* owned when opened from a path */
	char *path;                  /* NULL when opened from memory */
	struct fundus_image_limits limits;
	struct fundus_image_info info; /* page 0 */
	void *priv;                    /* the codec's */
};

extern const struct fundus__codec fundus__codec_jpeg;
extern const struct fundus__codec fundus__codec_png;
extern const struct fundus__codec fundus__codec_tiff;
extern const struct fundus__codec fundus__codec_dicom;     /* dicom.cpp, over GDCM */
extern const struct fundus__codec fundus__codec_openslide; /* openslide.c */

/*
 * The codec-specific metadata of a page (the meta entry above) added to
 * meta; nothing for codecs without one. Returns 0 or a negative code.
 */
int fundus__image_meta(struct fundus_image_source *src, int page, unsigned flags,
		       struct cJSON *meta);

/*
 * For a source read by OpenSlide: the name of its file format for a
 * record's source.format ("svs", "ndpi", "mrxs", ...); NULL for any
 * other source. Constant.
 */
const char *fundus__openslide_format(const struct fundus_image_source *src);

/*
 * Checks width x height (of one decode) against the source's limits:
 * returns 0, FUNDUS_ELIMIT or FUNDUS_EOVERFLOW with a message.
 */
int fundus__check_pixels(const struct fundus_image_source *src, int64_t width, int64_t height);

/* Checks stored dimensions from a header against max_width / max_height. */
int fundus__check_dims(const struct fundus_image_source *src, int64_t width, int64_t height);

/*
 * Maps a rectangle of the displayed image (orientation applied; the
 * displayed size is disp_w x disp_h) to the rectangle of the stored image
 * that holds the same pixels.
 */
void fundus__region_to_stored(int orientation, int disp_w, int disp_h, int x, int y, int w,
			      int h, int *sx, int *sy, int *sw, int *sh);

/*
 * Finishes a decode for codecs that decode a stored rectangle and leave
 * the rest to common code. img holds the stored pixels of the rectangle
 * that fundus__region_to_stored() gave for ro's region, already reduced by
 * `done_scale` (1 when not reduced). This reduces by the remaining factor
 * (ro->scale / done_scale; the two must divide), applies the orientation
 * (unless ro->keep_orientation), converts to ro->format, and frees img
 * whatever the outcome. *out gets the result.
 */
int fundus__image_finish(struct fundus_image *img, int orientation, int done_scale,
			 const struct fundus_read_options *ro, struct fundus_image **out);

/* The pixel format with this many channels (1-4) and bytes per sample (1-2). */
enum fundus_pixfmt fundus__pixfmt_of(int channels, int bytes);

/*
 * Writes a tiled TIFF pyramid into a new buffer (*data, *len; free with
 * fundus_free()): levels[0] as the first IFD, with ImageDescription =
 * description (may be NULL), and each further level as a reduced-resolution
 * IFD (SubfileType FILETYPE_REDUCEDIMAGE), the layout of Aperio SVS. Tiles
 * are tile x tile pixels (a multiple of 16), Deflate-compressed. Any pixel
 * format. Returns 0, FUNDUS_EINVAL or FUNDUS_ENOMEM.
 */
int fundus__tiff_write_pyramid(const struct fundus_image *const *levels, int nlevels, int tile,
			       const char *description, uint8_t **data, size_t *len);

/* Swaps width and height for orientations 5 to 8. */
static inline int fundus__orientation_swaps(int orientation)
{
	return orientation >= 5 && orientation <= 8;
}

#endif

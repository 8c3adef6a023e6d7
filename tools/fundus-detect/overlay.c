/*
 * Overlays: the photograph, scaled, with its detected boxes and scores,
 * for a person to check results at a glance. Drawing is fundus/draw.h's.
 */
#include <string.h>

#include "fdetect.h"
#include "fundus/draw.h"

/*
 * The overlay's file name: the image's name without folder and extension,
 * then the first 8 hexadecimal digits of its id, so that photographs of
 * one name in different folders (IMG_0001.JPG of every camera) do not
 * overwrite each other's overlays, run after run; a name that starts with
 * those digits (a dataset's stored file) needs them only once.
 */
static char *overlay_path(const struct overlay_options *o, const char *path, const char *id)
{
	const char *base = strrchr(path, '/'), *dot, *ext;
	size_t stem, len;
	char *out;

	base = base ? base + 1 : path;
	dot = strrchr(base, '.');
	stem = dot && dot != base ? (size_t)(dot - base) : strlen(base);
	ext = o->type == FUNDUS_IMAGE_PNG ? "png" : "jpg";
	len = strlen(o->dir) + stem + 32;
	if ((out = fundus_malloc(len)) == NULL)
		return NULL;
	if (stem >= 8 && strncmp(base, id + 7, 8) == 0) /* named by its hash already */
		snprintf(out, len, "%s/%.*s.%s", o->dir, (int)stem, base, ext);
	else
		snprintf(out, len, "%s/%.*s.%.8s.%s", o->dir, (int)stem, base, id + 7, ext);
	return out;
}

int overlay_draw(const struct fundus_image *img, int full_w, int full_h,
		 const struct fundus_record *r, const char *name, int size,
		 struct fundus_image **out)
{
	struct fundus_image *pic = NULL;
	int w = img->width, h = img->height, rc, scale;
	double sx, sy;
	uint8_t rgb[3], white[3] = {255, 255, 255}, black[3] = {0, 0, 0};
	char tag[160];

	*out = NULL;
	if (size > 0 && (w > size || h > size)) {
		if (w >= h) {
			h = (int)((double)h * size / w + 0.5);
			w = size;
		} else {
			w = (int)((double)w * size / h + 0.5);
			h = size;
		}
		if (w < 1)
			w = 1;
		if (h < 1)
			h = 1;
		rc = fundus_image_resize(img, w, h, &pic);
	} else {
		rc = fundus_image_dup(img, &pic);
	}
	if (rc < 0)
		return rc;
	sx = (double)pic->width / (full_w > 0 ? full_w : img->width);
	sy = (double)pic->height / (full_h > 0 ? full_h : img->height);
	/* Best box last, so that it is drawn on top; it alone is in the first colour. */
	for (size_t k = r->n_objects; k-- > 0;) {
		const struct fundus_object *ob = &r->objects[k];
		struct fundus_box b = {ob->bbox.x0 * sx, ob->bbox.y0 * sy, ob->bbox.x1 * sx,
				       ob->bbox.y1 * sy};

		fundus_draw_palette(k == 0 ? 0 : 1, rgb);
		snprintf(tag, sizeof tag, "%s %.2f", ob->label, ob->score);
		if ((rc = fundus_draw_label_box(pic, &b, tag, rgb, 0)) < 0)
			goto fail;
	}
	if (name) {
		/* The file's name in the top-left corner, for a person going through many. */
		fundus_draw_auto_size(pic->width, pic->height, &scale, NULL);
		snprintf(tag, sizeof tag, "%s%s", name, r->n_objects ? "" : " (nothing found)");
		if ((rc = fundus_draw_text(pic, 2 * scale, 2 * scale, tag, scale, white, black)) <
		    0)
			goto fail;
	}
	*out = pic;
	return 0;
fail:
	fundus_image_free(pic);
	return rc;
}

int overlay_write(const struct overlay_options *o, const struct fundus_image *img, int full_w,
		  int full_h, const struct fundus_record *r, const char *path, const char *id,
		  char **written)
{
	struct fundus_image *pic;
	struct fundus_save_options so;
	const char *name = strrchr(path, '/');
	int rc;

	*written = NULL;
	if ((rc = overlay_draw(img, full_w, full_h, r, name ? name + 1 : path, o->size, &pic)) < 0)
		return rc;
	fundus_save_options_default(&so);
	so.type = o->type;
	if ((*written = overlay_path(o, path, id)) == NULL)
		rc = FUNDUS_ENOMEM;
	else
		rc = fundus_image_save(pic, *written, &so);
	if (rc < 0) {
		fundus_free(*written);
		*written = NULL;
	}
	fundus_image_free(pic);
	return rc;
}

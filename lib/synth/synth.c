/*
 * fundus_synth_image(): plan a scene from the seed, paint it, report the
 * truth; and fundus_synth_record(): the record that goes with it.
 */
#include <math.h>
#include <string.h>

#include "synth_int.h"

int fundus_synth_image(const struct fundus_synth_params *p, uint64_t seed,
		       struct fundus_image **out, struct fundus_synth_truth *truth)
{
	struct fundus__scene *s;
	struct fundus_image *img = NULL;
	int rc;

	*out = NULL;
	rc = fundus_synth_params_check(p);
	if (rc < 0)
		return rc;
	s = fundus_malloc(sizeof *s);
	if (s == NULL)
		return FUNDUS_ENOMEM;
	rc = fundus__scene_plan(s, p, seed);
	if (rc == 0)
		rc = fundus_image_new(&img, s->w, s->h, FUNDUS_PIX_RGB8);
	if (rc == 0)
		rc = fundus__scene_render(s, img, p->pool);
	if (rc == 0 && truth) {
		memset(truth, 0, sizeof *truth);
		truth->seed = seed;
		truth->width = s->w;
		truth->height = s->h;
		truth->disc_box = s->disc_box;
		truth->disc_x = s->dx;
		truth->disc_y = s->dy;
		truth->disc_rx = s->drx;
		truth->disc_ry = s->dry;
		truth->disc_radius = sqrt(s->drx * s->dry);
		truth->cup_radius = sqrt(s->cup_rx * s->cup_ry);
		truth->fovea_x = s->fx;
		truth->fovea_y = s->fy;
		truth->fov_x = s->cx;
		truth->fov_y = s->cy;
		truth->fov_radius = s->R;
		truth->eye = s->eye;
		truth->framing = s->framing;
		truth->quality = s->quality;
		truth->bright_lesion = s->bright_lesion;
		truth->peripapillary_atrophy = s->ppa;
		truth->n_exudates = s->n_exudates;
		truth->n_haemorrhages = s->n_haemorrhages;
		truth->n_microaneurysms = s->n_microaneurysms;
		truth->n_cotton_wool = s->n_cotton_wool;
		truth->n_drusen = s->n_drusen;
	}
	fundus__scene_free(s);
	fundus_free(s);
	if (rc < 0) {
		if (rc == FUNDUS_ENOMEM)
			fundus_error_set(rc, "out of memory");
		fundus_image_free(img);
		return rc;
	}
	*out = img;
	return 0;
}

/* Rounds to hundredths of a pixel: the records stay short and readable. */
static double r2(double v)
{
	return round(v * 100) / 100;
}

/* Adds [x, y] to obj; returns NULL when out of memory. */
static cJSON *add_point(cJSON *obj, const char *name, double x, double y)
{
	double v[2] = {r2(x), r2(y)};
	cJSON *a = cJSON_CreateDoubleArray(v, 2);

	if (a && !cJSON_AddItemToObject(obj, name, a)) {
		cJSON_Delete(a);
		a = NULL;
	}
	return a;
}

static cJSON *make_meta(const struct fundus_synth_truth *t, uint64_t seed, uint64_t index)
{
	cJSON *m = cJSON_CreateObject(), *disc, *fov, *les;
	char eye[2] = {(char)t->eye, 0};
	int ok;

	if (m == NULL)
		return NULL;
	ok = cJSON_AddBoolToObject(m, "synthetic", 1) &&
	     cJSON_AddStringToObject(m, "generator", "fundus-synth") &&
	     cJSON_AddNumberToObject(m, "seed", (double)seed) &&
	     cJSON_AddNumberToObject(m, "index", (double)index) &&
	     cJSON_AddStringToObject(m, "laterality", eye) &&
	     cJSON_AddStringToObject(m, "framing", fundus_synth_framing_name(t->framing)) &&
	     cJSON_AddStringToObject(m, "quality", fundus_synth_quality_name(t->quality));
	disc = ok ? cJSON_AddObjectToObject(m, "disc") : NULL;
	ok = disc && add_point(disc, "centre", t->disc_x, t->disc_y) &&
	     cJSON_AddNumberToObject(disc, "radius", r2(t->disc_radius)) &&
	     cJSON_AddNumberToObject(disc, "cup_radius", r2(t->cup_radius)) &&
	     add_point(m, "fovea", t->fovea_x, t->fovea_y);
	fov = ok ? cJSON_AddObjectToObject(m, "fov") : NULL;
	ok = fov && add_point(fov, "centre", t->fov_x, t->fov_y) &&
	     cJSON_AddNumberToObject(fov, "radius", r2(t->fov_radius));
	les = ok ? cJSON_AddObjectToObject(m, "lesions") : NULL;
	ok = les && cJSON_AddNumberToObject(les, "exudates", t->n_exudates) &&
	     cJSON_AddNumberToObject(les, "haemorrhages", t->n_haemorrhages) &&
	     cJSON_AddNumberToObject(les, "microaneurysms", t->n_microaneurysms) &&
	     cJSON_AddNumberToObject(les, "cotton_wool", t->n_cotton_wool) &&
	     cJSON_AddNumberToObject(les, "drusen", t->n_drusen) &&
	     cJSON_AddBoolToObject(m, "bright_lesion", t->bright_lesion) &&
	     cJSON_AddBoolToObject(m, "peripapillary_atrophy", t->peripapillary_atrophy);
	if (!ok) {
		cJSON_Delete(m);
		return NULL;
	}
	return m;
}

int fundus_synth_record(const struct fundus_synth_truth *t, const char *path, const char *format,
			uint64_t seed, uint64_t index, struct fundus_record **out)
{
	struct fundus_record *r;
	int rc;

	*out = NULL;
	if (seed > (UINT64_C(1) << 53) - 1 || index > (UINT64_C(1) << 53) - 1)
		return fundus_error_set(FUNDUS_EINVAL,
					"seed and index must be below 2^53 to be exact in JSON");
	if (t->eye != 'L' && t->eye != 'R')
		return fundus_error_set(FUNDUS_EINVAL,
					"truth has no eye: not from fundus_synth_image");
	rc = fundus_record_new(&r);
	if (rc < 0)
		return rc;
	r->width = t->width;
	r->height = t->height;
	rc = fundus_record_add_object(r, "optic_disc", &t->disc_box, NAN, "synth");
	if (rc == 0 && path) {
		rc = fundus_record_set_string(&r->image, path);
		if (rc == 0) {
			r->source = cJSON_CreateObject();
			if (r->source == NULL ||
			    !cJSON_AddStringToObject(r->source, "path", path) ||
			    (format && !cJSON_AddStringToObject(r->source, "format", format)))
				rc = FUNDUS_ENOMEM;
		}
	}
	if (rc == 0) {
		r->meta = make_meta(t, seed, index);
		if (r->meta == NULL)
			rc = FUNDUS_ENOMEM;
	}
	if (rc < 0) {
		fundus_record_free(r);
		return rc == FUNDUS_ENOMEM ? fundus_error_set(rc, "out of memory") : rc;
	}
	*out = r;
	return 0;
}

/*
 * MS COCO: instances JSON (images, annotations, categories) and results
 * JSON (a list of {image_id, category_id, bbox, score}).
 *
 * Mapping (fundus-convert(1) has the full table):
 *   image  file_name <-> "image" (relative to image_dir), width, height;
 *          "fundus_id" <-> "id"; "source", "meta", "answers" as they are;
 *          "id" <-> extra "coco_id"; any other member <-> an extra of the
 *          same name (a name records reserve gets "coco_" in front).
 *   annotation  bbox [x, y, w, h] <-> [x, y, x + w, y + h]; category_id
 *          <-> label by the categories; "score", "by" as they are; "id",
 *          "category_id", "area", "iscrowd", "segmentation" and any other
 *          member <-> object extras of the same name.
 * What a writer would put by default is not kept in records, so that
 * records -> COCO -> records is the identity: image and annotation ids 1, 2,
 * ... in order, category ids by label name from first_id, area = w * h,
 * iscrowd 0, segmentation [].
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* An integer that a double holds exactly. */
static int get_int(const cJSON *v, int64_t *out)
{
	double d;

	if (!cJSON_IsNumber(v))
		return 0;
	d = v->valuedouble;
	if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0) || d != trunc(d))
		return 0;
	*out = (int64_t)d;
	return 1;
}

/* Moves member it (detached from its parent by the caller) into extra under key. */
static int put_extra(cJSON **extra, const char *key, cJSON *it)
{
	return fundus__cv_extra_add(extra, key, it);
}

/*
 * Names of COCO members in records, both ways without clashes: an image's
 * "id" is "coco_id"; a member named like a field of the record (or of the
 * object, for annotations) gets "coco_" in front, and so does a member that
 * already looks like such an escaped name; everything else keeps its name.
 */
static int reserved_name(const char *k, int object)
{
	return object ? fundus__cv_object_key(k) : fundus__cv_record_key(k) || strcmp(k, "id") == 0;
}

/* Whether k is "coco_" + a reserved name (or + such an escaped name). */
static int escaped_name(const char *k, int object)
{
	if (strncmp(k, "coco_", 5) != 0)
		return 0;
	return reserved_name(k + 5, object) || escaped_name(k + 5, object);
}

/* The record (object) name of a COCO member, as a new string (NULL: out of memory). */
static char *member_name(const char *key, int object)
{
	size_t n = strlen(key);
	char *s;

	if (!reserved_name(key, object) && !escaped_name(key, object))
		return fundus_strdup(key);
	s = fundus_malloc(n + 6);
	if (s) {
		memcpy(s, "coco_", 5);
		memcpy(s + 5, key, n + 1);
	}
	return s;
}

/* The COCO name of a record (object) member: the inverse of member_name(). */
static const char *coco_name(const char *key, int object)
{
	return escaped_name(key, object) ? key + 5 : key;
}

/* Reads one entry of "images" into a new record. */
static int read_image(cJSON *img, size_t i, const struct fundus_convert_options *o,
		      struct fundus_record **out, int64_t *id)
{
	struct fundus_record *r;
	cJSON *c, *next;
	int rc;

	if (!cJSON_IsObject(img))
		return fundus_error_set(FUNDUS_EFORMAT, "images[%zu]: expected an object", i);
	if (!get_int(cJSON_GetObjectItemCaseSensitive(img, "id"), id))
		return fundus_error_set(FUNDUS_EFORMAT, "images[%zu].id: expected an integer", i);
	if ((rc = fundus_record_new(&r)) < 0)
		return rc;
	for (c = img->child; c; c = next) {
		const char *k = c->string;
		char *name;

		next = c->next;
		if (strcmp(k, "id") == 0)
			continue;
		if (strcmp(k, "file_name") == 0) {
			if (!cJSON_IsString(c)) {
				rc = fundus_error_set(
				    FUNDUS_EFORMAT, "images[%zu].file_name: expected a string", i);
				break;
			}
			if ((r->image = fundus__cv_join(o->image_dir, c->valuestring)) == NULL) {
				rc = FUNDUS_ENOMEM;
				break;
			}
			continue;
		}
		if (strcmp(k, "width") == 0 || strcmp(k, "height") == 0) {
			int64_t v;

			if (cJSON_IsNull(c))
				continue;
			if (!get_int(c, &v) || v < 0 || v > INT32_MAX) {
				rc = fundus_error_set(
				    FUNDUS_EFORMAT,
				    "images[%zu].%s: expected a whole number from 0 "
				    "to 2147483647",
				    i, k);
				break;
			}
			*(k[0] == 'w' ? &r->width : &r->height) = v;
			continue;
		}
		if (strcmp(k, "fundus_id") == 0 && cJSON_IsString(c)) {
			if (fundus_record_set_string(&r->id, c->valuestring) < 0) {
				rc = FUNDUS_ENOMEM;
				break;
			}
			continue;
		}
		if ((strcmp(k, "source") == 0 || strcmp(k, "meta") == 0 ||
		     strcmp(k, "answers") == 0) &&
		    cJSON_IsObject(c)) {
			cJSON **dst = k[0] == 's'   ? &r->source
				      : k[0] == 'm' ? &r->meta
						    : &r->answers;

			*dst = cJSON_DetachItemViaPointer(img, c);
			continue;
		}
		if ((name = member_name(k, 0)) == NULL) {
			rc = FUNDUS_ENOMEM;
			break;
		}
		rc = put_extra(&r->extra, name, cJSON_DetachItemViaPointer(img, c));
		fundus_free(name);
		if (rc < 0)
			break;
	}
	if (rc < 0) {
		fundus_record_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

/*
 * Reads an annotation's box: four finite numbers, within the coordinate
 * bound, with no negative extent.
 */
static int read_bbox(const cJSON *bb, const char *where, size_t i, double v[4])
{
	const cJSON *c;
	int k = 0;

	if (!cJSON_IsArray(bb))
		return fundus_error_set(FUNDUS_EFORMAT, "%s[%zu].bbox: expected [x, y, w, h]",
					where, i);
	for (c = bb->child; c; c = c->next) {
		if (k == 4 || !cJSON_IsNumber(c))
			return fundus_error_set(FUNDUS_EFORMAT,
						"%s[%zu].bbox: expected 4 numbers [x, y, w, h]",
						where, i);
		v[k++] = c->valuedouble;
	}
	if (k != 4)
		return fundus_error_set(FUNDUS_EFORMAT,
					"%s[%zu].bbox: expected 4 numbers [x, y, w, h]", where, i);
	for (k = 0; k < 4; k++)
		if (!(fabs(v[k]) < FUNDUS__CV_MAX_COORD))
			return fundus_error_set(FUNDUS_EFORMAT,
						"%s[%zu].bbox: %g is out of range (beyond 2^31)",
						where, i, v[k]);
	if (v[2] < 0 || v[3] < 0)
		return fundus_error_set(FUNDUS_EFORMAT, "%s[%zu].bbox: negative %s %g", where, i,
					v[2] < 0 ? "width" : "height", v[2] < 0 ? v[2] : v[3]);
	return 0;
}

/* Whether a JSON value is an empty array. */
static int empty_array(const cJSON *v)
{
	return cJSON_IsArray(v) && v->child == NULL;
}

/*
 * Turns an annotation (or a result) into an object of r. The label comes
 * from the caller; members move into the object's extras unless they are
 * COCO's defaults for this box.
 */
static int read_annotation(cJSON *a, const char *where, size_t i, const char *label,
			   struct fundus_record *r)
{
	struct fundus_object *o;
	double v[4];
	struct fundus_box box;
	cJSON *c, *next;
	int rc;

	if ((rc = read_bbox(cJSON_GetObjectItemCaseSensitive(a, "bbox"), where, i, v)) < 0)
		return rc;
	box.x0 = v[0];
	box.y0 = v[1];
	box.x1 = v[0] + v[2];
	box.y1 = v[1] + v[3];
	if ((rc = fundus_record_add_object(r, label, &box, NAN, NULL)) < 0)
		return rc;
	o = &r->objects[r->n_objects - 1];
	/* The ids first, in this order, wherever the file has them: as a writer puts them. */
	for (int k = 0; k < 2; k++) {
		c = cJSON_GetObjectItemCaseSensitive(a, k ? "category_id" : "id");
		if (c &&
		    (rc = put_extra(&o->extra, c->string, cJSON_DetachItemViaPointer(a, c))) < 0)
			return rc;
	}
	for (c = a->child; c; c = next) {
		const char *k = c->string;

		next = c->next;
		if (strcmp(k, "image_id") == 0 || strcmp(k, "bbox") == 0)
			continue;
		if (strcmp(k, "score") == 0 && cJSON_IsNumber(c)) {
			o->score = c->valuedouble;
			continue;
		}
		if (strcmp(k, "by") == 0 && cJSON_IsString(c)) {
			if (fundus_record_set_string(&o->by, c->valuestring) < 0)
				return FUNDUS_ENOMEM;
			continue;
		}
		if (strcmp(k, "area") == 0 && cJSON_IsNumber(c) && c->valuedouble == v[2] * v[3])
			continue;
		if (strcmp(k, "iscrowd") == 0 && cJSON_IsNumber(c) && c->valuedouble == 0)
			continue;
		if (strcmp(k, "segmentation") == 0 && empty_array(c))
			continue;
		{
			char *name = member_name(k, 1);

			if (name == NULL)
				return FUNDUS_ENOMEM;
			rc = put_extra(&o->extra, name, cJSON_DetachItemViaPointer(a, c));
			fundus_free(name);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Removes an extra member of an object; drops the extra when it is left empty. */
static void drop_extra(cJSON **extra, const char *key)
{
	if (*extra == NULL)
		return;
	cJSON_DeleteItemFromObjectCaseSensitive(*extra, key);
	if ((*extra)->child == NULL) {
		cJSON_Delete(*extra);
		*extra = NULL;
	}
}

/*
 * Drops the stored ids that are what a writer would give anyway: image ids
 * 1..N in order, annotation ids 1..M in the order written, category ids by
 * sorted label from first_id.
 */
static int drop_default_ids(struct fundus_convert_set *set, size_t first, int64_t first_id)
{
	struct fundus_convert_set view = {set->rec + first, set->n - first, 0};
	struct fundus_convert_labels *def;
	int images = 1, anns = 1, cats = 1, rc;
	int64_t k = 0;

	for (size_t i = 0; i < view.n; i++) {
		const cJSON *id = fundus__cv_extra_get(view.rec[i]->extra, "coco_id");

		if (!cJSON_IsNumber(id) || id->valuedouble != (double)(i + 1))
			images = 0;
	}
	if ((rc = fundus__cv_default_labels(&view, first_id, &def)) < 0)
		return rc;
	for (size_t i = 0; i < view.n; i++)
		for (size_t j = 0; j < view.rec[i]->n_objects; j++) {
			const struct fundus_object *ob = &view.rec[i]->objects[j];
			const cJSON *id = fundus__cv_extra_get(ob->extra, "id");
			const cJSON *cat = fundus__cv_extra_get(ob->extra, "category_id");
			const struct fundus_convert_label *d =
			    fundus_convert_labels_find(def, ob->label);

			if (!cJSON_IsNumber(id) || id->valuedouble != (double)++k)
				anns = 0;
			if (!cJSON_IsNumber(cat) || d == NULL || cat->valuedouble != (double)d->id)
				cats = 0;
		}
	fundus_convert_labels_free(def);
	for (size_t i = 0; i < view.n; i++) {
		if (images)
			drop_extra(&view.rec[i]->extra, "coco_id");
		for (size_t j = 0; j < view.rec[i]->n_objects; j++) {
			if (anns)
				drop_extra(&view.rec[i]->objects[j].extra, "id");
			if (cats)
				drop_extra(&view.rec[i]->objects[j].extra, "category_id");
		}
	}
	return 0;
}

/* Reads "categories" into a label map; notes what records cannot keep. */
static int read_categories(const cJSON *cats, struct fundus_convert_labels *m,
			   struct fundus_convert_report *rep)
{
	const cJSON *c;
	size_t i = 0;
	int rc;

	if (cats == NULL)
		return 0;
	if (!cJSON_IsArray(cats))
		return fundus_error_set(FUNDUS_EFORMAT, "categories: expected an array");
	for (c = cats->child; c; c = c->next, i++) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
		const cJSON *sup = cJSON_GetObjectItemCaseSensitive(c, "supercategory");
		int64_t id;

		if (!cJSON_IsObject(c) || !get_int(cJSON_GetObjectItemCaseSensitive(c, "id"), &id))
			return fundus_error_set(FUNDUS_EFORMAT,
						"categories[%zu].id: expected an integer", i);
		if (!cJSON_IsString(name) || name->valuestring[0] == '\0')
			return fundus_error_set(FUNDUS_EFORMAT,
						"categories[%zu].name: expected a label name", i);
		rc = fundus_convert_labels_add(m, name->valuestring, id,
					       cJSON_IsString(sup) ? sup->valuestring : NULL);
		if (rc == FUNDUS_EINVAL)
			return fundus_error_set(FUNDUS_EFORMAT, "categories[%zu]: %s", i,
						fundus_errmsg());
		if (rc < 0)
			return rc;
		for (const cJSON *k = c->child; k; k = k->next)
			if (strcmp(k->string, "id") && strcmp(k->string, "name") &&
			    strcmp(k->string, "supercategory"))
				fundus__cv_loss(rep, k->string, "categories", 1);
		if (cJSON_IsString(sup) && sup->valuestring[0])
			fundus__cv_loss(rep, "supercategory", "categories", 1);
	}
	return 0;
}

/* The label of a category id: from the file's categories, else the pinned map, else "<id>". */
static const char *category_label(const struct fundus_convert_labels *cats, int has_cats,
				  const struct fundus_convert_options *o, int64_t id, char *buf,
				  size_t size, int *from_map)
{
	const struct fundus_convert_label *l;

	*from_map = 1;
	if (has_cats) {
		l = fundus_convert_labels_find_id(cats, id);
		return l ? l->name : NULL;
	}
	l = fundus_convert_labels_find_id(o->labels, id);
	if (l)
		return l->name;
	*from_map = 0;
	snprintf(buf, size, "%" PRId64, id);
	return buf;
}

/* Reads a COCO results list: records by image_id, in order of first appearance. */
static int read_results(cJSON *root, const struct fundus_convert_options *o,
			struct fundus_convert_set *set)
{
	struct fundus__cv_index ix = {0};
	size_t i = 0;
	cJSON *a;
	int rc = 0;

	for (a = root->child; a && rc == 0; a = a->next, i++) {
		int64_t image_id, cat;
		struct fundus_record *r;
		size_t at;
		char buf[32];
		const char *label;
		int from_map;

		if (!cJSON_IsObject(a) ||
		    !get_int(cJSON_GetObjectItemCaseSensitive(a, "image_id"), &image_id)) {
			rc = fundus_error_set(FUNDUS_EFORMAT, "[%zu].image_id: expected an integer",
					      i);
			break;
		}
		if (!get_int(cJSON_GetObjectItemCaseSensitive(a, "category_id"), &cat)) {
			rc = fundus_error_set(FUNDUS_EFORMAT,
					      "[%zu].category_id: expected an integer", i);
			break;
		}
		if (fundus__cv_index_get_int(&ix, image_id, &at)) {
			r = set->rec[at];
		} else {
			const struct fundus_record *known = NULL;

			if ((rc = fundus_record_new(&r)) < 0)
				break;
			/* Name the image from the known images, by COCO id. */
			for (size_t k = 0; o->images && k < o->images->n; k++) {
				const cJSON *id =
				    fundus__cv_extra_get(o->images->rec[k]->extra, "coco_id");

				if (cJSON_IsNumber(id) && id->valuedouble == (double)image_id) {
					known = o->images->rec[k];
					break;
				}
			}
			if (known) {
				r->width = known->width;
				r->height = known->height;
				if (fundus_record_set_string(&r->image, known->image) < 0 ||
				    fundus_record_set_string(&r->id, known->id) < 0) {
					fundus_record_free(r);
					rc = FUNDUS_ENOMEM;
					break;
				}
			}
			if ((rc = fundus__cv_extra_add(&r->extra, "coco_id",
						       cJSON_CreateNumber((double)image_id))) < 0) {
				fundus_record_free(r);
				break;
			}
			if ((rc = fundus_convert_set_add(set, r)) < 0 ||
			    (rc = fundus__cv_index_put_int(&ix, image_id, set->n - 1)) < 0)
				break;
			rc = 0;
		}
		label = category_label(NULL, 0, o, cat, buf, sizeof buf, &from_map);
		if ((rc = read_annotation(a, "", i, label, r)) < 0)
			break;
		if (from_map)
			drop_extra(&r->objects[r->n_objects - 1].extra, "category_id");
	}
	fundus__cv_index_free(&ix);
	return rc;
}

int fundus_convert_parse_coco(const char *text, size_t len, const struct fundus_convert_options *o,
			      struct fundus_convert_set *set, struct fundus_convert_report *rep,
			      struct fundus_convert_labels **labels_out)
{
	struct fundus_convert_labels *cats = NULL;
	struct fundus__cv_index ids = {0};
	const cJSON *images, *anns, *catv;
	size_t first = set->n, i;
	int64_t *used = NULL;
	cJSON *root, *c;
	int rc;

	if (labels_out)
		*labels_out = NULL;
	fundus__cv_report_begin(rep, "records");
	if ((rc = fundus__cv_json_parse(text, len, &root)) < 0)
		return rc;
	if (cJSON_IsArray(root)) {
		rc = read_results(root, o, set);
		goto out;
	}
	if (!cJSON_IsObject(root)) {
		rc = fundus_error_set(FUNDUS_EFORMAT,
				      "not a COCO file: expected an object or a list");
		goto out;
	}
	images = cJSON_GetObjectItemCaseSensitive(root, "images");
	anns = cJSON_GetObjectItemCaseSensitive(root, "annotations");
	catv = cJSON_GetObjectItemCaseSensitive(root, "categories");
	if (!cJSON_IsArray(images)) {
		rc = fundus_error_set(FUNDUS_EFORMAT, "not a COCO file: no \"images\" list");
		goto out;
	}
	if (anns && !cJSON_IsArray(anns)) {
		rc = fundus_error_set(FUNDUS_EFORMAT, "annotations: expected a list");
		goto out;
	}
	if ((rc = fundus_convert_labels_new(&cats)) < 0 ||
	    (rc = read_categories(catv, cats, labels_out ? NULL : rep)) < 0)
		goto out;
	i = 0;
	for (c = images->child; c; c = c->next, i++) {
		struct fundus_record *r = NULL;
		int64_t id = 0;

		if ((rc = read_image(c, i, o, &r, &id)) < 0)
			goto out;
		if ((rc = fundus__cv_extra_add(&r->extra, "coco_id",
					       cJSON_CreateNumber((double)id))) < 0 ||
		    (rc = fundus_convert_set_add(set, r)) < 0)
			goto out;
		rc = fundus__cv_index_put_int(&ids, id, set->n - 1);
		if (rc == 0)
			rc = fundus_error_set(FUNDUS_EFORMAT,
					      "images[%zu]: the image id %" PRId64 " is used twice",
					      i, id);
		if (rc < 0)
			goto out;
	}
	i = 0;
	{
		struct fundus__cv_index ann_ids = {0};

		for (c = anns ? anns->child : NULL; c; c = c->next, i++) {
			int64_t image_id, cat, aid;
			size_t at;
			char buf[32];
			const char *label;
			int from_map;

			if (!cJSON_IsObject(c) ||
			    !get_int(cJSON_GetObjectItemCaseSensitive(c, "image_id"), &image_id)) {
				rc = fundus_error_set(
				    FUNDUS_EFORMAT,
				    "annotations[%zu].image_id: expected an integer", i);
				break;
			}
			if (!fundus__cv_index_get_int(&ids, image_id, &at)) {
				rc = fundus_error_set(
				    FUNDUS_EFORMAT,
				    "annotations[%zu].image_id: no image has the id "
				    "%" PRId64,
				    i, image_id);
				break;
			}
			if (!get_int(cJSON_GetObjectItemCaseSensitive(c, "category_id"), &cat)) {
				rc = fundus_error_set(
				    FUNDUS_EFORMAT,
				    "annotations[%zu].category_id: expected an integer", i);
				break;
			}
			if (cJSON_GetObjectItemCaseSensitive(c, "id") &&
			    !get_int(cJSON_GetObjectItemCaseSensitive(c, "id"), &aid)) {
				rc = fundus_error_set(
				    FUNDUS_EFORMAT, "annotations[%zu].id: expected an integer", i);
				break;
			}
			if (get_int(cJSON_GetObjectItemCaseSensitive(c, "id"), &aid)) {
				rc = fundus__cv_index_put_int(&ann_ids, aid, i);
				if (rc == 0)
					rc = fundus_error_set(FUNDUS_EFORMAT,
							      "annotations[%zu]: the annotation id "
							      "%" PRId64 " is used twice",
							      i, aid);
				if (rc < 0)
					break;
			}
			label =
			    category_label(cats, catv != NULL, o, cat, buf, sizeof buf, &from_map);
			if (label == NULL) {
				rc = fundus_error_set(
				    FUNDUS_EFORMAT,
				    "annotations[%zu].category_id: no category has "
				    "the id %" PRId64,
				    i, cat);
				break;
			}
			if ((rc = read_annotation(c, "annotations", i, label, set->rec[at])) < 0)
				break;
			rc = 0;
		}
		fundus__cv_index_free(&ann_ids);
		if (rc < 0)
			goto out;
	}
	if (!o->keep_ids && (rc = drop_default_ids(set, first, o->first_id)) < 0)
		goto out;
	/* Categories no object uses, and the file's other members. */
	{
		size_t n_used = 0;

		used = fundus_calloc(cats->n + 1, sizeof *used);
		if (used == NULL) {
			rc = FUNDUS_ENOMEM;
			goto out;
		}
		for (size_t k = first; k < set->n; k++)
			for (size_t j = 0; j < set->rec[k]->n_objects; j++) {
				const struct fundus_convert_label *l =
				    fundus_convert_labels_find(cats, set->rec[k]->objects[j].label);

				if (l && !used[l - cats->v]) {
					used[l - cats->v] = 1;
					n_used++;
				}
			}
		if (labels_out == NULL) {
			fundus__cv_loss(rep, "categories without objects", "categories",
					(int64_t)(cats->n - n_used));
			for (c = root->child; c; c = c->next)
				if (strcmp(c->string, "images") &&
				    strcmp(c->string, "annotations") &&
				    strcmp(c->string, "categories"))
					fundus__cv_loss(rep, c->string, "files", 1);
			if (rep && rep->n_loss)
				rep->hint = "keep them with --save-labels FILE";
		}
	}
	if (labels_out) {
		for (c = root->child; c; c = c->next) {
			if (strcmp(c->string, "images") == 0 ||
			    strcmp(c->string, "annotations") == 0 ||
			    strcmp(c->string, "categories") == 0)
				continue;
			if ((rc = fundus__cv_extra_add(&cats->extra, c->string,
						       cJSON_Duplicate(c, 1))) < 0)
				goto out;
		}
		*labels_out = cats;
		cats = NULL;
	}
out:
	if (rc < 0) {
		/* A file is read whole or not at all. */
		while (set->n > first)
			fundus_record_free(set->rec[--set->n]);
	} else if (rep) {
		rep->records = (int64_t)(set->n - first);
		for (size_t k = first; k < set->n; k++)
			rep->objects += (int64_t)set->rec[k]->n_objects;
	}
	fundus_free(used);
	fundus__cv_index_free(&ids);
	fundus_convert_labels_free(cats);
	cJSON_Delete(root);
	return rc;
}

/* Writing. */

/* Appends a number in the shortest exact form. */
static int put_num(struct fundus__jbuf *b, double d)
{
	char buf[32];

	fundus__cv_format(d, buf);
	return fundus__cv_put(b, buf);
}

/* Appends ,"key": value. */
static int put_member(struct fundus__jbuf *b, const char *key, const cJSON *v)
{
	struct fundus__jpath p = {{0}, 0};
	int rc;

	if ((rc = fundus__cv_put(b, ",")) < 0 || (rc = fundus__json_write_string(b, key, &p)) < 0 ||
	    (rc = fundus__cv_put(b, ":")) < 0)
		return rc;
	return fundus__json_write_value(b, v, &p);
}

/* Appends ,"key":"s". */
static int put_str_member(struct fundus__jbuf *b, const char *key, const char *s)
{
	struct fundus__jpath p = {{0}, 0};
	int rc;

	if ((rc = fundus__cv_put(b, ",\"")) < 0 || (rc = fundus__cv_put(b, key)) < 0 ||
	    (rc = fundus__cv_put(b, "\":")) < 0)
		return rc;
	return fundus__json_write_string(b, s, &p);
}

/* Appends ,"key":number. */
static int put_num_member(struct fundus__jbuf *b, const char *key, double d)
{
	int rc;

	if ((rc = fundus__cv_put(b, ",\"")) < 0 || (rc = fundus__cv_put(b, key)) < 0 ||
	    (rc = fundus__cv_put(b, "\":")) < 0)
		return rc;
	return put_num(b, d);
}

/*
 * Assigns ids: the stored one (an integer member key of each item's extra)
 * when it is unique, else the lowest free id from 1. get(i) gives the
 * extra of item i.
 */
struct id_plan {
	int64_t *id;
	size_t n;
};

/* Fills plan->id for n items whose stored ids are stored[i] (has[i] 0: none). */
static int plan_ids(struct id_plan *plan, size_t n, const int64_t *stored, const char *has)
{
	struct fundus__cv_index used = {0};
	int64_t next = 1;
	int rc = 0;

	plan->n = n;
	plan->id = fundus_calloc(n + 1, sizeof *plan->id);
	if (plan->id == NULL)
		return FUNDUS_ENOMEM;
	for (size_t i = 0; i < n && rc >= 0; i++) {
		plan->id[i] = INT64_MIN;
		if (has[i] && (rc = fundus__cv_index_put_int(&used, stored[i], i)) == 1)
			plan->id[i] = stored[i];
	}
	for (size_t i = 0; i < n && rc >= 0; i++) {
		size_t dummy;

		if (plan->id[i] != INT64_MIN)
			continue;
		while (fundus__cv_index_get_int(&used, next, &dummy))
			next++;
		plan->id[i] = next++;
	}
	fundus__cv_index_free(&used);
	if (rc < 0) {
		fundus_free(plan->id);
		plan->id = NULL;
		return rc;
	}
	return 0;
}

/*
 * The category map of a write: the pinned map; else the ids stored in the
 * objects when every label has exactly one and no two labels share one;
 * else labels by name from first_id. *owned says whether to free it.
 */
static int coco_categories(const struct fundus_convert_set *set,
			   const struct fundus_convert_options *o,
			   const struct fundus_convert_labels **out,
			   struct fundus_convert_labels **owned)
{
	struct fundus_convert_labels *m;
	int ok = 1, rc;

	*owned = NULL;
	/* A map without categories (a file that had none) pins nothing; its members still go out.
	 */
	if (o->labels && o->labels->n) {
		if ((rc = fundus__cv_labels_cover(o->labels, set)) < 0)
			return rc;
		*out = o->labels;
		return 0;
	}
	if ((rc = fundus_convert_labels_new(&m)) < 0)
		return rc;
	for (size_t i = 0; i < set->n && ok; i++)
		for (size_t j = 0; j < set->rec[i]->n_objects && ok; j++) {
			const struct fundus_object *ob = &set->rec[i]->objects[j];
			const cJSON *cat = fundus__cv_extra_get(ob->extra, "category_id");
			const struct fundus_convert_label *l =
			    fundus_convert_labels_find(m, ob->label);
			int64_t id;

			if (!get_int(cat, &id))
				ok = 0;
			else if (l)
				ok = l->id == id;
			else if (fundus_convert_labels_find_id(m, id))
				ok = 0;
			else if ((rc = fundus_convert_labels_add(m, ob->label, id, NULL)) < 0)
				ok = 0;
		}
	if (ok && rc == 0) {
		*out = *owned = m;
		return 0;
	}
	fundus_convert_labels_free(m);
	if (rc == FUNDUS_ENOMEM)
		return rc;
	if ((rc = fundus__cv_default_labels(set, o->first_id, owned)) < 0)
		return rc;
	*out = *owned;
	return 0;
}

/* Writes one image entry. */
static int write_image(struct fundus__jbuf *b, const struct fundus_record *r, int64_t id,
		       const struct fundus_convert_options *o, struct fundus_convert_report *rep)
{
	static const char *const reserved[] = {"id",        "file_name", "width", "height",
					       "fundus_id", "source",    "meta",  "answers"};
	int64_t w = r->width, h = r->height;
	char num[32];
	int rc;

	fundus__cv_format((double)id, num);
	if ((rc = fundus__cv_put(b, "{\"id\":")) < 0 || (rc = fundus__cv_put(b, num)) < 0)
		return rc;
	if (r->image &&
	    (rc = put_str_member(b, "file_name", fundus__cv_relative(r->image, o->image_dir))) < 0)
		return rc;
	if ((w <= 0 || h <= 0) && r->image && o->read_headers &&
	    fundus__cv_image_size(o, r->image, &w, &h) < 0)
		w = h = 0;
	/* Each when known: a record may know one without the other. */
	if (w > 0 && (rc = put_num_member(b, "width", (double)w)) < 0)
		return rc;
	if (h > 0 && (rc = put_num_member(b, "height", (double)h)) < 0)
		return rc;
	if (r->id && (rc = put_str_member(b, "fundus_id", r->id)) < 0)
		return rc;
	if (r->source && (rc = put_member(b, "source", r->source)) < 0)
		return rc;
	if (r->meta && (rc = put_member(b, "meta", r->meta)) < 0)
		return rc;
	if (r->answers && (rc = put_member(b, "answers", r->answers)) < 0)
		return rc;
	for (const cJSON *c = r->extra ? r->extra->child : NULL; c; c = c->next) {
		const char *k = coco_name(c->string, 0);
		int clash = 0;

		if (strcmp(c->string, "coco_id") == 0)
			continue;
		if (k == c->string) {
			/* Named like a member of the image entry: it would read back as that. */
			for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
				clash |= strcmp(k, reserved[i]) == 0;
		} else {
			/* An escaped name goes back to its own, unless that member is written. */
			clash = (strcmp(k, "source") == 0 && r->source) ||
				(strcmp(k, "meta") == 0 && r->meta) ||
				(strcmp(k, "answers") == 0 && r->answers);
		}
		if (clash) {
			fundus__cv_loss(rep, c->string, "records", 1);
			continue;
		}
		if ((rc = put_member(b, k, c)) < 0)
			return rc;
	}
	return fundus__cv_put(b, "}");
}

/* Writes one annotation, or one result (results: no id, no defaults). */
static int write_annotation(struct fundus__jbuf *b, const struct fundus_object *ob, int64_t id,
			    int64_t image_id, int64_t cat, int results,
			    struct fundus_convert_report *rep)
{
	static const char *const reserved[] = {"image_id", "bbox", "score", "by", "category_id"};
	double w = fundus__cv_extent(ob->bbox.x0, ob->bbox.x1);
	double h = fundus__cv_extent(ob->bbox.y0, ob->bbox.y1);
	const cJSON *c;
	char num[32];
	int rc;

	if (results) {
		rc = fundus__cv_put(b, "{\"image_id\":");
	} else {
		fundus__cv_format((double)id, num);
		if ((rc = fundus__cv_put(b, "{\"id\":")) == 0 && (rc = fundus__cv_put(b, num)) == 0)
			rc = fundus__cv_put(b, ",\"image_id\":");
	}
	if (rc < 0 || (rc = put_num(b, (double)image_id)) < 0 ||
	    (rc = put_num_member(b, "category_id", (double)cat)) < 0 ||
	    (rc = fundus__cv_put(b, ",\"bbox\":[")) < 0 || (rc = put_num(b, ob->bbox.x0)) < 0 ||
	    (rc = fundus__cv_put(b, ",")) < 0 || (rc = put_num(b, ob->bbox.y0)) < 0 ||
	    (rc = fundus__cv_put(b, ",")) < 0 || (rc = put_num(b, w)) < 0 ||
	    (rc = fundus__cv_put(b, ",")) < 0 || (rc = put_num(b, h)) < 0 ||
	    (rc = fundus__cv_put(b, "]")) < 0)
		return rc;
	if (!results) {
		c = fundus__cv_extra_get(ob->extra, "area");
		if (c == NULL && (rc = put_num_member(b, "area", w * h)) < 0)
			return rc;
		c = fundus__cv_extra_get(ob->extra, "iscrowd");
		if (c == NULL && (rc = fundus__cv_put(b, ",\"iscrowd\":0")) < 0)
			return rc;
		c = fundus__cv_extra_get(ob->extra, "segmentation");
		if (c == NULL && (rc = fundus__cv_put(b, ",\"segmentation\":[]")) < 0)
			return rc;
	}
	if (!isnan(ob->score) && (rc = put_num_member(b, "score", ob->score)) < 0)
		return rc;
	if (isnan(ob->score) && results)
		fundus__cv_loss(rep, "a score (written without)", "objects", 1);
	if (ob->by && (rc = put_str_member(b, "by", ob->by)) < 0)
		return rc;
	for (c = ob->extra ? ob->extra->child : NULL; c; c = c->next) {
		const char *k = c->string;
		int clash = 0;

		if (strcmp(k, "category_id") == 0 || (!results && strcmp(k, "id") == 0))
			continue;
		k = coco_name(k, 1);
		if (k == c->string) {
			for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
				clash |= strcmp(k, reserved[i]) == 0;
		} else {
			/* "coco_score" and the like: back to their names unless those are written.
			 */
			clash = (strcmp(k, "score") == 0 && !isnan(ob->score)) ||
				(strcmp(k, "by") == 0 && ob->by);
		}
		if (clash || (!results && strcmp(k, "id") == 0)) {
			fundus__cv_loss(rep, c->string, "objects", 1);
			continue;
		}
		if ((rc = put_member(b, k, c)) < 0)
			return rc;
	}
	return fundus__cv_put(b, "}");
}

/* The stored integer of an extra member, for id planning. */
static char stored_int(const cJSON *extra, const char *key, int64_t *v)
{
	return (char)get_int(fundus__cv_extra_get(extra, key), v);
}

int fundus_convert_format_coco(const struct fundus_convert_set *set,
			       const struct fundus_convert_options *o, int results, char **out,
			       size_t *len, struct fundus_convert_report *rep)
{
	const struct fundus_convert_labels *cats = NULL;
	struct fundus_convert_labels *owned = NULL;
	struct id_plan images = {0}, anns = {0};
	struct fundus__jbuf b = {0};
	int64_t *stored = NULL;
	char *has = NULL;
	size_t n_obj = 0, k;
	int rc;

	*out = NULL;
	fundus__cv_report_begin(rep, results ? "COCO results" : "COCO");
	if ((rc = coco_categories(set, o, &cats, &owned)) < 0)
		return rc;
	for (size_t i = 0; i < set->n; i++)
		n_obj += set->rec[i]->n_objects;
	stored = fundus_calloc((set->n > n_obj ? set->n : n_obj) + 1, sizeof *stored);
	has = fundus_calloc((set->n > n_obj ? set->n : n_obj) + 1, 1);
	if (stored == NULL || has == NULL) {
		rc = FUNDUS_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < set->n; i++)
		has[i] = stored_int(set->rec[i]->extra, "coco_id", &stored[i]);
	if ((rc = plan_ids(&images, set->n, stored, has)) < 0)
		goto out;
	k = 0;
	for (size_t i = 0; i < set->n; i++)
		for (size_t j = 0; j < set->rec[i]->n_objects; j++, k++)
			has[k] = stored_int(set->rec[i]->objects[j].extra, "id", &stored[k]);
	if ((rc = plan_ids(&anns, n_obj, stored, has)) < 0)
		goto out;

	if (results) {
		rc = fundus__cv_put(&b, "[");
	} else {
		rc = fundus__cv_put(&b, "{");
		for (const cJSON *c = cats->extra ? cats->extra->child : NULL; c && rc == 0;
		     c = c->next) {
			struct fundus__jpath p = {{0}, 0};

			if ((rc = fundus__json_write_string(&b, c->string, &p)) == 0 &&
			    (rc = fundus__cv_put(&b, ":")) == 0 &&
			    (rc = fundus__json_write_value(&b, c, &p)) == 0)
				rc = fundus__cv_put(&b, ",\n");
		}
		if (rc == 0)
			rc = fundus__cv_put(&b, "\"images\":[");
		for (size_t i = 0; i < set->n && rc == 0; i++) {
			if ((rc = fundus__cv_put(&b, i ? ",\n" : "\n")) == 0)
				rc = write_image(&b, set->rec[i], images.id[i], o, rep);
		}
		if (rc == 0)
			rc = fundus__cv_put(&b, "],\n\"annotations\":[");
	}
	k = 0;
	for (size_t i = 0; i < set->n && rc == 0; i++) {
		const struct fundus_record *r = set->rec[i];

		if (results) {
			/* Results name images by id only. */
			if (r->image)
				fundus__cv_loss(rep, "image", "records", 1);
			if (r->width || r->height)
				fundus__cv_loss(rep, "width and height", "records", 1);
			if (r->id)
				fundus__cv_loss(rep, "id", "records", 1);
			if (r->source)
				fundus__cv_loss(rep, "source", "records", 1);
			if (r->meta)
				fundus__cv_loss(rep, "meta", "records", 1);
			if (r->answers)
				fundus__cv_loss(rep, "answers", "records", 1);
			for (const cJSON *c = r->extra ? r->extra->child : NULL; c; c = c->next)
				if (strcmp(c->string, "coco_id"))
					fundus__cv_loss(rep, c->string, "records", 1);
			if (r->n_objects == 0)
				fundus__cv_loss(rep, "images without objects", "records", 1);
		}
		for (size_t j = 0; j < r->n_objects && rc == 0; j++, k++) {
			const struct fundus_convert_label *l =
			    fundus_convert_labels_find(cats, r->objects[j].label);

			if ((rc = fundus__cv_put(&b, k ? ",\n" : "\n")) == 0)
				rc = write_annotation(&b, &r->objects[j], anns.id[k], images.id[i],
						      l ? l->id : 0, results, rep);
		}
	}
	if (rc == 0 && results)
		rc = fundus__cv_put(&b, k ? "\n]\n" : "]\n");
	if (rc == 0 && !results) {
		rc = fundus__cv_put(&b, "],\n\"categories\":[");
		for (size_t i = 0; i < cats->n && rc == 0; i++) {
			char num[32];
			struct fundus__jpath p = {{0}, 0};

			fundus__cv_format((double)cats->v[i].id, num);
			if ((rc = fundus__cv_put(&b, i ? ",\n{\"id\":" : "\n{\"id\":")) == 0 &&
			    (rc = fundus__cv_put(&b, num)) == 0 &&
			    (rc = fundus__cv_put(&b, ",\"name\":")) == 0)
				rc = fundus__json_write_string(&b, cats->v[i].name, &p);
			if (rc == 0 && cats->v[i].supercategory)
				rc = put_str_member(&b, "supercategory", cats->v[i].supercategory);
			if (rc == 0)
				rc = fundus__cv_put(&b, "}");
		}
		if (rc == 0)
			rc = fundus__cv_put(&b, "]\n}\n");
	}
	if (rc == 0 && rep) {
		rep->records = (int64_t)set->n;
		rep->objects = (int64_t)n_obj;
	}
out:
	fundus_free(stored);
	fundus_free(has);
	fundus_free(images.id);
	fundus_free(anns.id);
	fundus_convert_labels_free(owned);
	if (rc < 0) {
		fundus_free(b.data);
		return rc;
	}
	*out = b.data;
	if (len)
		*len = b.len;
	return 0;
}

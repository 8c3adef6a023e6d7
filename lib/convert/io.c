/* Reading and writing annotation files and folders: the dispatch by format. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fundus/file.h"
#include "internal.h"

/* Whether path names a folder. */
static int is_dir(const char *path)
{
	struct stat st;

	return strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Parses a single file's text in format f. */
static int parse_text(enum fundus_convert_format f, const char *text, size_t len,
		      const struct fundus_convert_options *o, struct fundus_convert_set *set,
		      struct fundus_convert_report *rep, struct fundus_convert_labels **labels_out)
{
	switch (f) {
	case FUNDUS_CONVERT_RECORDS:
		fundus__cv_report_begin(rep, "records");
		return fundus_convert_parse_records(text, len, set);
	case FUNDUS_CONVERT_COCO:
	case FUNDUS_CONVERT_COCO_RESULTS:
		return fundus_convert_parse_coco(text, len, o, set, rep, labels_out);
	case FUNDUS_CONVERT_VOC:
		fundus__cv_report_begin(rep, "records");
		return fundus_convert_parse_voc(text, len, o, set);
	case FUNDUS_CONVERT_CSV:
		fundus__cv_report_begin(rep, "records");
		return fundus_convert_parse_csv(text, len, o, set);
	default: break;
	}
	return fundus_error_set(FUNDUS_EINVAL, "%s is not read from text",
				fundus_convert_format_name(f));
}

int fundus_convert_read(const char *path, const struct fundus_convert_options *o,
			struct fundus_convert_set *set, struct fundus_convert_report *rep,
			struct fundus_convert_labels **labels_out)
{
	enum fundus_convert_format f = o->from;
	size_t first = set->n, len;
	char *text = NULL;
	int rc;

	if (labels_out)
		*labels_out = NULL;
	fundus__cv_report_begin(rep, "records");
	if (f == FUNDUS_CONVERT_AUTO && strcmp(path, "-") != 0 &&
	    (rc = fundus_convert_detect(path, &f)) < 0)
		return rc;
	if (f == FUNDUS_CONVERT_YOLO && (is_dir(path) || strcmp(path, "-") != 0))
		return fundus__cv_read_yolo(path, o, set, rep, labels_out);
	if (f == FUNDUS_CONVERT_MASKS)
		return fundus__cv_read_masks(path, o, set);
	if (f == FUNDUS_CONVERT_VOC && is_dir(path))
		return fundus__cv_read_voc(path, o, set);
	if (is_dir(path))
		return fundus_error_set(FUNDUS_EINVAL,
					"a folder is read as VOC, YOLO or masks, not %s",
					fundus_convert_format_name(f));
	if ((rc = fundus__cv_read_file(path, o->max_bytes, &text, &len)) < 0)
		return rc;
	if (f == FUNDUS_CONVERT_AUTO)
		f = fundus_convert_detect_buffer(text, len);
	if (f == FUNDUS_CONVERT_YOLO || f == FUNDUS_CONVERT_MASKS)
		rc = fundus_error_set(FUNDUS_EINVAL, "%s cannot be read from standard input",
				      fundus_convert_format_name(f));
	else
		rc = parse_text(f, text, len, o, set, rep, labels_out);
	fundus_free(text);
	if (rc < 0) {
		while (set->n > first)
			fundus_record_free(set->rec[--set->n]);
		return rc;
	}
	if (rep && rep->records == 0) {
		rep->records = (int64_t)(set->n - first);
		for (size_t i = first; i < set->n; i++)
			rep->objects += (int64_t)set->rec[i]->n_objects;
	}
	return 0;
}

/* Formats set as JSON Lines into a new buffer. */
static int format_records(const struct fundus_convert_set *set, char **out, size_t *len)
{
	struct fundus__jbuf b = {0};
	int rc = 0;

	for (size_t i = 0; i < set->n && rc == 0; i++) {
		char *line;
		size_t n;

		if ((rc = fundus_record_format(set->rec[i], &line, &n)) < 0) {
			rc = fundus_error_set(rc, "record %zu: %s", i + 1, fundus_errmsg());
			break;
		}
		rc = fundus__jbuf_put(&b, line, n);
		fundus_free(line);
	}
	if (rc == 0 && b.data == NULL)
		rc = fundus__jbuf_put(&b, "", 0);
	if (rc < 0) {
		fundus_free(b.data);
		return rc;
	}
	*out = b.data;
	*len = b.len;
	return 0;
}

/* Formats a single-file format into a new buffer. */
static int format_single(const struct fundus_convert_set *set,
			 const struct fundus_convert_options *o, struct fundus_convert_report *rep,
			 char **out, size_t *len)
{
	int rc;

	switch (o->to) {
	case FUNDUS_CONVERT_RECORDS:
		fundus__cv_report_begin(rep, "records");
		rc = format_records(set, out, len);
		if (rc == 0 && rep) {
			rep->records = (int64_t)set->n;
			for (size_t i = 0; i < set->n; i++)
				rep->objects += (int64_t)set->rec[i]->n_objects;
		}
		return rc;
	case FUNDUS_CONVERT_COCO: return fundus_convert_format_coco(set, o, 0, out, len, rep);
	case FUNDUS_CONVERT_COCO_RESULTS:
		return fundus_convert_format_coco(set, o, 1, out, len, rep);
	case FUNDUS_CONVERT_CSV: return fundus_convert_format_csv(set, o, out, len, rep);
	default: break;
	}
	return fundus_error_set(FUNDUS_EINVAL, "%s is written into a folder, not one file",
				fundus_convert_format_name(o->to));
}

int fundus_convert_write_stream(FILE *f, const struct fundus_convert_set *set,
				const struct fundus_convert_options *o,
				struct fundus_convert_report *rep)
{
	char *text;
	size_t len;
	int rc = format_single(set, o, rep, &text, &len);

	if (rc < 0)
		return rc;
	if (len && fwrite(text, 1, len, f) != len)
		rc = fundus_error_errno(FUNDUS_EIO, errno, "cannot write");
	else if (fflush(f) != 0)
		rc = fundus_error_errno(FUNDUS_EIO, errno, "cannot write");
	fundus_free(text);
	return rc;
}

int fundus_convert_write(const char *path, const struct fundus_convert_set *set,
			 const struct fundus_convert_options *o, struct fundus_convert_report *rep)
{
	char *text;
	size_t len;
	int rc;

	if (strcmp(path, "-") == 0)
		return fundus_error_set(FUNDUS_EINVAL, "write standard output with a stream");
	if (o->to == FUNDUS_CONVERT_VOC)
		return fundus__cv_write_voc(path, set, o, rep);
	if (o->to == FUNDUS_CONVERT_YOLO)
		return fundus__cv_write_yolo(path, set, o, rep);
	if ((rc = format_single(set, o, rep, &text, &len)) < 0)
		return rc;
	rc = fundus__cv_write_file(path, text, len);
	fundus_free(text);
	return rc;
}

int fundus_convert_losses(const struct fundus_convert_set *set,
			  const struct fundus_convert_options *o, struct fundus_convert_report *rep)
{
	char *text;
	size_t len;
	int rc = 0;

	if (o->to == FUNDUS_CONVERT_VOC) {
		fundus__cv_report_begin(rep, "VOC");
		for (size_t i = 0; i < set->n && rc == 0; i++)
			if ((rc = fundus_convert_format_voc(set->rec[i], o, &text, &len, rep)) == 0)
				fundus_free(text);
		return rc;
	}
	if (o->to == FUNDUS_CONVERT_YOLO) {
		struct fundus_convert_labels *classes;
		struct fundus_record *copy;

		fundus__cv_report_begin(rep, "YOLO");
		if ((rc = fundus__cv_yolo_classes(set, o, &classes)) < 0)
			return rc;
		for (size_t i = 0; i < set->n && rc == 0; i++) {
			/* The size is only needed for the numbers, not for what is lost. */
			if ((rc = fundus_record_dup(set->rec[i], &copy)) < 0)
				break;
			if (copy->width <= 0 || copy->height <= 0)
				copy->width = copy->height = 1;
			if ((rc = fundus_convert_format_yolo(copy, classes, &text, &len, rep)) == 0)
				fundus_free(text);
			fundus_record_free(copy);
		}
		fundus_convert_labels_free(classes);
		return rc;
	}
	rc = format_single(set, o, rep, &text, &len);
	if (rc == 0)
		fundus_free(text);
	return rc;
}

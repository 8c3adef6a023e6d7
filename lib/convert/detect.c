/*
 * Recognising an annotation format from content, never from a file name:
 * "a.json" may be COCO or records, a ".txt" YOLO or CSV.
 */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "fundus/file.h"
#include "fundus/image.h"
#include "internal.h"

/* Whether a line of text looks like a YOLO label row: "<int> <number>...". */
static int yolo_line(const char *s, size_t n)
{
	size_t i = 0, fields = 0;

	while (i < n) {
		size_t start;
		double d;

		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
			i++;
		if (i == n)
			break;
		start = i;
		while (i < n && s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			i++;
		if (fundus__cv_parse_number(s + start, i - start, 0, &d) < 0)
			return 0;
		if (fields == 0 && memchr(s + start, '.', i - start))
			return 0;
		fields++;
	}
	return fields == 5 || fields == 6 || (fields >= 7 && fields % 2 == 1);
}

enum fundus_convert_format fundus_convert_detect_buffer(const void *data, size_t len)
{
	const char *s = data;
	size_t i = 0;

	if (len >= 4 && fundus_image_probe(data, len))
		return FUNDUS_CONVERT_MASKS;
	if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	if (i == len)
		return FUNDUS_CONVERT_RECORDS; /* empty: no records */
	if (s[i] == '<')
		return FUNDUS_CONVERT_VOC;
	if (s[i] == '[')
		return FUNDUS_CONVERT_COCO_RESULTS;
	if (s[i] == '{') {
		const char *nl = memchr(s + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (s + i)) : len - i;
		cJSON *v;
		int coco;

		/* A pretty-printed file's first line is not a whole value: COCO. */
		if (n > ((size_t)1 << 20) || fundus__json_parse(s + i, n, 64, &v) < 0)
			return FUNDUS_CONVERT_COCO;
		coco = cJSON_GetObjectItemCaseSensitive(v, "images") != NULL &&
		       cJSON_GetObjectItemCaseSensitive(v, "objects") == NULL;
		cJSON_Delete(v);
		return coco ? FUNDUS_CONVERT_COCO : FUNDUS_CONVERT_RECORDS;
	}
	{
		const char *nl = memchr(s + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (s + i)) : len - i;

		if (yolo_line(s + i, n))
			return FUNDUS_CONVERT_YOLO;
	}
	return FUNDUS_CONVERT_CSV;
}

/* Whether dir/name exists (and is a folder when want_dir). */
static int has(const char *dir, const char *name, int want_dir)
{
	char *p = fundus__cv_join(dir, name);
	struct stat st;
	int ok;

	if (p == NULL)
		return 0;
	ok = stat(p, &st) == 0 && (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
	fundus_free(p);
	return ok;
}

/* Whether a folder holds a file whose name ends in ext. */
static int has_ext(const char *dir, const char *ext)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t ne = strlen(ext);
	int found = 0;

	if (d == NULL)
		return 0;
	while (!found && (e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);

		found = n > ne && strcmp(e->d_name + n - ne, ext) == 0 && e->d_name[0] != '.';
	}
	closedir(d);
	return found;
}

int fundus_convert_detect(const char *path, enum fundus_convert_format *out)
{
	struct stat st;
	uint8_t *data;
	size_t len;
	int rc;

	if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (has(path, "Annotations", 1) || has_ext(path, ".xml")) {
			*out = FUNDUS_CONVERT_VOC;
			return 0;
		}
		if (has(path, "classes.txt", 0) || has(path, "obj.names", 0) ||
		    has(path, "data.yaml", 0) || has(path, "labels", 1) ||
		    has(path, "obj_train_data", 1)) {
			*out = FUNDUS_CONVERT_YOLO;
			return 0;
		}
		/* Images and no class list: masks (a YOLO folder of this shape needs --from). */
		if (has_ext(path, ".png") || has_ext(path, ".tif") || has_ext(path, ".tiff") ||
		    has_ext(path, ".gif") || has_ext(path, ".jpg")) {
			*out = FUNDUS_CONVERT_MASKS;
			return 0;
		}
		if (has_ext(path, ".txt")) {
			*out = FUNDUS_CONVERT_YOLO;
			return 0;
		}
		return fundus_error_set(FUNDUS_EFORMAT,
					"cannot tell the format of the folder (no .xml, .txt or "
					"image files)");
	}
	if (strcmp(path, "-") == 0)
		return fundus_error_set(FUNDUS_EINVAL,
					"the format of standard input must be given (--from)");
	/* Telling the format reads the input: a pipe would then be empty for the reader. */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return fundus_error_set(FUNDUS_EINVAL,
					"the format of a pipe or device must be given (--from): "
					"it can be read only once");
	/* The first 1 MiB tells; reading a few KiB of a 16 MiB record line is not enough. */
	{
		struct fundus_file_map *map;

		if ((rc = fundus_file_map(path, &map)) < 0)
			return rc;
		data = (uint8_t *)map->data;
		len = map->size;
		*out = fundus_convert_detect_buffer(data, len);
		fundus_file_unmap(map);
	}
	return 0;
}

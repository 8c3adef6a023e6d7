/* The native records as a format of the converter: JSON Lines in, JSON Lines out. */
#include <string.h>

#include "internal.h"

int fundus_convert_parse_records(const char *text, size_t len, struct fundus_convert_set *set)
{
	size_t pos = 0, line = 0;
	int rc;

	/* A byte-order mark at the very start is skipped, as the stream reader does. */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	while (pos < len) {
		const char *l = text + pos, *nl = memchr(l, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - l) : len - pos, k;
		struct fundus_record *r;

		pos += n + (nl != NULL);
		line++;
		if (n > 0 && l[n - 1] == '\r')
			n--;
		for (k = 0; k < n && (l[k] == ' ' || l[k] == '\t'); k++)
			;
		if (k == n)
			continue;
		rc = fundus_record_parse(l, n, NULL, &r);
		if (rc < 0)
			return fundus_error_set(rc, "line %zu: %s", line, fundus_errmsg());
		if ((rc = fundus_convert_set_add(set, r)) < 0)
			return rc;
	}
	return 0;
}

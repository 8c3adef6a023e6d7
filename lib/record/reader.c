/*
 * The streaming record reader: one line at a time from a stdio stream, in
 * memory bounded by the longest line (at most max_line), going on after a
 * bad line so that a tool can report it and read the rest.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fundus/record.h"
#include "internal.h"
#include "json.h"

struct fundus_record_reader {
	FILE *f;
	int own; /* close f with the reader */
	struct fundus_record_limits lim;
	char *buf; /* the current line, without its newline */
	size_t cap;
	int64_t line; /* number of the line last read, 1-based */
	int done;     /* the stream has ended, or failed */
};

/* Makes a reader over f; own says whether closing the reader closes f. */
static int reader_make(struct fundus_record_reader **out, FILE *f, int own,
		       const struct fundus_record_limits *lim)
{
	struct fundus_record_reader *rd;

	fundus__json_init();
	rd = fundus_calloc(1, sizeof *rd);
	if (rd == NULL)
		return FUNDUS_ENOMEM;
	rd->f = f;
	rd->own = own;
	fundus__record_limits_resolve(&rd->lim, lim);
	*out = rd;
	return 0;
}

int fundus_record_reader_new(struct fundus_record_reader **out, FILE *f,
			     const struct fundus_record_limits *lim)
{
	*out = NULL;
	if (f == NULL)
		return fundus_error_set(FUNDUS_EINVAL, "no stream to read records from");
	return reader_make(out, f, 0, lim);
}

int fundus_record_reader_open(struct fundus_record_reader **out, const char *path,
			      const struct fundus_record_limits *lim)
{
	FILE *f;
	int rc, e;

	*out = NULL;
	if (strcmp(path, "-") == 0)
		return reader_make(out, stdin, 0, lim);
	f = fopen(path, "re");
	if (f == NULL) {
		e = errno;
		return fundus_error_errno(e == ENOENT || e == ENOTDIR ? FUNDUS_ENOENT
					  : e == ENOMEM               ? FUNDUS_ENOMEM
								      : FUNDUS_EIO,
					  e, "cannot open");
	}
	if ((rc = reader_make(out, f, 1, lim)) < 0)
		fclose(f);
	return rc;
}

void fundus_record_reader_close(struct fundus_record_reader *rd)
{
	if (rd == NULL)
		return;
	if (rd->own)
		fclose(rd->f);
	fundus_free(rd->buf);
	fundus_free(rd);
}

int64_t fundus_record_reader_line(const struct fundus_record_reader *rd)
{
	return rd->line;
}

enum line_status { LINE_OK, LINE_END, LINE_TOO_LONG, LINE_NOMEM, LINE_IOERR };

/*
 * Reads the next line into rd->buf (without "\n" or "\r\n") and counts it.
 * A line past the limit, or one that memory cannot hold, is read to its end
 * and dropped, so that the next call starts on the following line.
 */
static enum line_status read_line(struct fundus_record_reader *rd, size_t *len, int *err)
{
	/* One more byte than the limit: a '\r' before the '\n' does not count. */
	size_t max = rd->lim.max_line < SIZE_MAX / 4 ? rd->lim.max_line + 1 : SIZE_MAX / 4;
	enum line_status st = LINE_OK;
	size_t n = 0;
	int c, any = 0;

	errno = 0;
	flockfile(rd->f);
	for (;;) {
		c = getc_unlocked(rd->f);
		if (c == EOF) {
			/* A signal during read(2) is not the end of the stream. */
			if (ferror(rd->f) && errno == EINTR) {
				clearerr(rd->f);
				errno = 0;
				continue;
			}
			break;
		}
		any = 1;
		if (c == '\n')
			break;
		if (st != LINE_OK)
			continue;
		if (n >= max) {
			st = LINE_TOO_LONG;
			continue;
		}
		if (n == rd->cap) {
			size_t cap = rd->cap ? rd->cap * 2 : 4096;
			char *nb;

			if (cap > max)
				cap = max;
			nb = fundus_realloc(rd->buf, cap);
			if (nb == NULL) {
				st = LINE_NOMEM;
				continue;
			}
			rd->buf = nb;
			rd->cap = cap;
		}
		rd->buf[n++] = (char)c;
	}
	*err = errno;
	if (c == EOF && ferror(rd->f)) {
		funlockfile(rd->f);
		rd->line++;
		return LINE_IOERR;
	}
	funlockfile(rd->f);
	if (!any)
		return LINE_END;
	rd->line++;
	if (n > 0 && rd->buf[n - 1] == '\r')
		n--;
	if (st == LINE_OK && n > rd->lim.max_line)
		st = LINE_TOO_LONG;
	*len = n;
	return st;
}

/* Only JSON whitespace: such a line holds no record and is skipped. */
static int is_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

int fundus_record_next(struct fundus_record_reader *rd, struct fundus_record **out)
{
	*out = NULL;
	while (!rd->done) {
		size_t len = 0;
		int err = 0, rc;
		const char *p;

		switch (read_line(rd, &len, &err)) {
		case LINE_END: rd->done = 1; return 0;
		case LINE_IOERR:
			/* Reading on would fail again: end the stream after reporting. */
			rd->done = 1;
			return fundus_error_errno(FUNDUS_EIO, err, "line %" PRId64 ": read failed",
						  rd->line);
		case LINE_TOO_LONG:
			return fundus_error_set(FUNDUS_ELIMIT,
						"line %" PRId64 ": longer than %zu bytes", rd->line,
						rd->lim.max_line);
		case LINE_NOMEM:
			return fundus_error_set(FUNDUS_ENOMEM, "line %" PRId64 ": out of memory",
						rd->line);
		case LINE_OK: break;
		}
		p = rd->buf;
		if (rd->line == 1 && len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
			p += 3;
			len -= 3;
		}
		if (is_blank(p, len))
			continue;
		rc = fundus_record_parse(p, len, &rd->lim, out);
		if (rc < 0)
			return fundus_error_set(rc, "line %" PRId64 ": %s", rd->line, fundus_errmsg());
		return 0;
	}
	return 0;
}

/* Unit tests of the record stream: parse, format, the reader, limits, errors. */
#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fundus/record.h"
#include "fundus/rng.h"
#include "harness.h"
#include "record/json.h"
#include "testutil.h"

/* Parses in, formats it, and returns the line (without "\n") in a static buffer; NULL on error. */
static const char *reformat(const char *in, int *rc_out)
{
	static char out[65536];
	struct fundus_record *r;
	char *line;
	size_t len;
	int rc = fundus_record_parse(in, strlen(in), NULL, &r);

	if (rc == 0) {
		rc = fundus_record_format(r, &line, &len);
		fundus_record_free(r);
	}
	*rc_out = rc;
	if (rc < 0)
		return NULL;
	if (len == 0 || line[len - 1] != '\n' || len >= sizeof out) {
		fundus_free(line);
		return "(bad line ending or too long)";
	}
	memcpy(out, line, len - 1);
	out[len - 1] = '\0';
	fundus_free(line);
	return out;
}

/* Checks that in formats as want, and that want formats as itself. */
#define CHECK_REFORMAT(in, want)                                                                   \
	do {                                                                                       \
		int rc_;                                                                           \
		const char *got_ = reformat(in, &rc_);                                             \
		char first_[65536];                                                                \
		if (got_ == NULL)                                                                  \
			HARNESS_FAIL("parse of %s failed (%d): %s", in, rc_, fundus_errmsg());     \
		snprintf(first_, sizeof first_, "%s", got_);                                       \
		CHECK_STR_EQ(first_, want);                                                        \
		got_ = reformat(first_, &rc_);                                                     \
		CHECK(got_ != NULL);                                                               \
		CHECK_STR_EQ(got_, first_);                                                        \
	} while (0)

TEST(known_fields_in_order)
{
	/* Fields in a scrambled order come out in the documented one. */
	CHECK_REFORMAT(
	    "{\"answers\":{\"abnormal\":{\"value\":\"no\",\"by\":\"alice\"}},"
	    "\"objects\":[{\"by\":\"model:od-v3\",\"score\":0.97,"
	    "\"bbox\":[479.0,1255.0,871.0,1641.0],\"label\":\"optic_disc\"}],"
	    "\"meta\":{\"laterality\":\"R\"},"
	    "\"source\":{\"path\":\"clinic/0042.dcm\",\"format\":\"dicom\",\"frame\":0},"
	    "\"height\":2848,\"width\":4288,\"id\":\"sha256:3fa2\",\"image\":\"ds/img/3f/"
	    "3fa2.jpg\"}",
	    "{\"image\":\"ds/img/3f/3fa2.jpg\",\"id\":\"sha256:3fa2\",\"width\":4288,"
	    "\"height\":2848,\"source\":{\"path\":\"clinic/0042.dcm\",\"format\":\"dicom\","
	    "\"frame\":0},\"meta\":{\"laterality\":\"R\"},\"objects\":[{\"label\":"
	    "\"optic_disc\",\"bbox\":[479,1255,871,1641],\"score\":0.97,\"by\":"
	    "\"model:od-v3\"}],\"answers\":{\"abnormal\":{\"value\":\"no\",\"by\":\"alice\"}}}");
	/* The same read field by field. */
	{
		const char *in =
		    "{\"image\":\"a.jpg\",\"id\":\"sha256:00\",\"width\":10,\"height\":20,"
		    "\"objects\":[{\"label\":\"d\",\"bbox\":[1,2,3.5,4],\"score\":0.5,"
		    "\"by\":\"bob\"},{\"label\":\"e\",\"bbox\":[-1,0,0,1e3]}],"
		    "\"source\":{\"path\":\"p\"},\"meta\":{},\"answers\":{}}";
		struct fundus_record *r;

		CHECK_OK(fundus_record_parse(in, strlen(in), NULL, &r));
		CHECK_STR_EQ(r->image, "a.jpg");
		CHECK_STR_EQ(r->id, "sha256:00");
		CHECK_INT_EQ(r->width, 10);
		CHECK_INT_EQ(r->height, 20);
		CHECK_INT_EQ(r->n_objects, 2);
		CHECK_STR_EQ(r->objects[0].label, "d");
		CHECK(r->objects[0].bbox.x0 == 1 && r->objects[0].bbox.y0 == 2 &&
		      r->objects[0].bbox.x1 == 3.5 && r->objects[0].bbox.y1 == 4);
		CHECK(r->objects[0].score == 0.5);
		CHECK_STR_EQ(r->objects[0].by, "bob");
		CHECK(r->objects[0].extra == NULL);
		CHECK(isnan(r->objects[1].score));
		CHECK(r->objects[1].by == NULL);
		CHECK(r->objects[1].bbox.x0 == -1 && r->objects[1].bbox.y1 == 1000);
		CHECK(cJSON_IsObject(r->source) && r->source->string == NULL);
		CHECK_STR_EQ(cJSON_GetObjectItemCaseSensitive(r->source, "path")->valuestring, "p");
		CHECK(cJSON_IsObject(r->meta) && r->meta->child == NULL);
		CHECK(cJSON_IsObject(r->answers));
		CHECK(r->extra == NULL);
		fundus_record_free(r);
	}
}

TEST(unknown_fields_kept_in_order)
{
	CHECK_REFORMAT(
	    "{\"zeta\":1,\"image\":\"a\",\"alpha\":[{\"x\":[1,{\"y\":null}]},true,false],"
	    "\"objects\":[{\"q\":\"1\",\"label\":\"d\",\"a\":{\"deep\":[[]]},"
	    "\"bbox\":[0,0,1,1]}],\"mid\":{}}",
	    "{\"image\":\"a\",\"objects\":[{\"label\":\"d\",\"bbox\":[0,0,1,1],\"q\":\"1\","
	    "\"a\":{\"deep\":[[]]}}],\"zeta\":1,\"alpha\":[{\"x\":[1,{\"y\":null}]},true,"
	    "false],\"mid\":{}}");
	/* A version-1 marker is understood and not repeated. */
	CHECK_REFORMAT("{\"v\":1,\"image\":\"a\"}", "{\"image\":\"a\",\"objects\":[]}");
	{
		const char *in = "{\"b\":1,\"image\":\"a\",\"a\":2,\"objects\":[{\"label\":\"d\","
				 "\"bbox\":[0,0,1,1],\"k\":3}]}";
		struct fundus_record *r;

		CHECK_OK(fundus_record_parse(in, strlen(in), NULL, &r));
		CHECK(cJSON_IsObject(r->extra));
		CHECK_STR_EQ(r->extra->child->string, "b");
		CHECK_STR_EQ(r->extra->child->next->string, "a");
		CHECK(r->extra->child->next->next == NULL);
		CHECK_STR_EQ(r->objects[0].extra->child->string, "k");
		CHECK(cJSON_GetObjectItemCaseSensitive(r->objects[0].extra, "k")->valuedouble == 3);
		fundus_record_free(r);
	}
}

TEST(unicode_and_escapes)
{
	CHECK_REFORMAT(
	    "{\"image\":\"caf\xc3\xa9/\xe7\x9c\xbc.jpg\",\"meta\":{\"e\":\"\\u00e9\","
	    "\"smile\":\"\\ud83d\\ude00\",\"esc\":\"q\\\"b\\\\s\\/n\\nt\\tr\\rb\\bf\\f\","
	    "\"ctl\":\"\\u0001\\u001f\\u007f\",\"\\u00fc\":\"key\"}}",
	    "{\"image\":\"caf\xc3\xa9/\xe7\x9c\xbc.jpg\",\"meta\":{\"e\":\"\xc3\xa9\","
	    "\"smile\":\"\xf0\x9f\x98\x80\",\"esc\":\"q\\\"b\\\\s/n\\nt\\tr\\rb\\bf\\f\","
	    "\"ctl\":\"\\u0001\\u001f\x7f\",\"\xc3\xbc\":\"key\"},\"objects\":[]}");
}

TEST(numbers_exact)
{
	struct fundus_record *r;
	char *line;
	size_t len;
	char buf[32];
	double sum = 0.1;

	CHECK_REFORMAT("{\"meta\":{\"a\":0.1,\"b\":1e-7,\"c\":4288,\"d\":-0.0,\"e\":1e300,"
		       "\"f\":479.0,\"g\":1E2,\"h\":-12.5e-1,\"i\":123456789012345678901,"
		       "\"j\":5e-324,\"k\":1.7976931348623157e308,\"l\":0,\"m\":-0}}",
		       "{\"meta\":{\"a\":0.1,\"b\":1e-7,\"c\":4288,\"d\":-0,\"e\":1e300,\"f\":479,"
		       "\"g\":100,\"h\":-1.25,\"i\":1.2345678901234568e20,\"j\":5e-324,"
		       "\"k\":1.7976931348623157e308,\"l\":0,\"m\":-0},\"objects\":[]}");
	/* 0.1 + 0.2 is not 0.3: cJSON's own printer would lose the difference. */
	sum += 0.2;
	CHECK_INT_EQ(fundus__json_format_number(sum, buf), 19);
	CHECK_STR_EQ(buf, "0.30000000000000004");
	CHECK(strtod(buf, NULL) == sum);
	CHECK_OK(fundus_record_new(&r));
	{
		struct fundus_box b = {sum, 1.0 / 3, 479.0, 2e-310};
		struct fundus_record *back;

		CHECK_OK(fundus_record_add_object(r, "d", &b, 2.0 / 3, NULL));
		CHECK_OK(fundus_record_format(r, &line, &len));
		CHECK_STR_EQ(line,
			     "{\"objects\":[{\"label\":\"d\",\"bbox\":[0.30000000000000004,"
			     "0.3333333333333333,479,2e-310],\"score\":0.6666666666666666}]}\n");
		CHECK_OK(fundus_record_parse(line, len - 1, NULL, &back));
		CHECK(back->objects[0].bbox.x0 == sum);
		CHECK(back->objects[0].bbox.y0 == 1.0 / 3);
		CHECK(back->objects[0].bbox.y1 == 2e-310);
		CHECK(back->objects[0].score == 2.0 / 3);
		fundus_record_free(back);
		fundus_free(line);
	}
	fundus_record_free(r);
	/* Negative zero keeps its sign through a round trip. */
	{
		const char *in = "{\"objects\":[{\"label\":\"d\",\"bbox\":[-0.0,0,1,1]}]}";

		CHECK_OK(fundus_record_parse(in, strlen(in), NULL, &r));
		CHECK(signbit(r->objects[0].bbox.x0));
		fundus_record_free(r);
	}
}

/*
 * Selects a locale whose decimal separator is a comma for LC_NUMERIC, built
 * with localedef into the scratch folder when none is installed; NULL when
 * that is impossible here.
 */
static const char *comma_locale(void)
{
	static const char *const names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8"};
	char cmd[4200];

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (setlocale(LC_NUMERIC, names[i]))
			return names[i];
	snprintf(cmd, sizeof cmd, "localedef -i de_DE -f UTF-8 '%s/de_DE.UTF-8' >/dev/null 2>&1",
		 tu_tmpdir());
	/* localedef exits with 1 for mere warnings: try the locale whatever it says. */
	if (system(cmd) == -1)
		return NULL;
	setenv("LOCPATH", tu_tmpdir(), 1);
	return setlocale(LC_NUMERIC, "de_DE.UTF-8") ? "de_DE.UTF-8 (built)" : NULL;
}

/* A tool that calls setlocale(LC_ALL, "") must still read and write "2.25". */
TEST(numbers_ignore_the_locale)
{
	const char *name = comma_locale(), *text;
	char buf[32];
	struct fundus_record *r;

	if (name == NULL) {
		printf("note: no decimal-comma locale available; checked the C locale only\n");
	} else {
		snprintf(buf, sizeof buf, "%.2f", 2.25);
		if (strcmp(buf, "2,25") != 0)
			printf("note: %s writes 2.25 as %s\n", name, buf);
	}
	fundus__json_format_number(0.5, buf);
	CHECK_STR_EQ(buf, "0.5");
	CHECK_REFORMAT("{\"meta\":{\"x\":2.25,\"y\":1e-7}}",
		       "{\"meta\":{\"x\":2.25,\"y\":1e-7},\"objects\":[]}");
	text = "{\"objects\":[{\"label\":\"d\",\"bbox\":[0.5,1,2,3]}]}";
	CHECK_OK(fundus_record_parse(text, strlen(text), NULL, &r));
	CHECK(r->objects[0].bbox.x0 == 0.5);
	fundus_record_free(r);
	setlocale(LC_NUMERIC, "C");
	unsetenv("LOCPATH");
}

TEST(objects_empty_or_missing)
{
	CHECK_REFORMAT("{\"image\":\"a\"}", "{\"image\":\"a\",\"objects\":[]}");
	CHECK_REFORMAT("{\"image\":\"a\",\"objects\":[]}", "{\"image\":\"a\",\"objects\":[]}");
	CHECK_REFORMAT("{}", "{\"objects\":[]}");
	/* Zero sizes mean unknown and are not written. */
	CHECK_REFORMAT("{\"width\":0,\"height\":7}", "{\"height\":7,\"objects\":[]}");
	CHECK_REFORMAT("  {\"width\":2147483647}\t ", "{\"width\":2147483647,\"objects\":[]}");
}

/* One bad line and what its error must say. */
struct bad_line {
	const char *text;
	int code;
	const char *msg; /* expected in the message after "line 2: " */
};

static const struct bad_line bad_lines[] = {
    {"[1,2]", FUNDUS_EFORMAT, "expected a JSON object, found an array"},
    {"\"image\"", FUNDUS_EFORMAT, "expected a JSON object, found a string"},
    {"{\"image\":5}", FUNDUS_EFORMAT, "image: expected a string, found a number"},
    {"{\"id\":null}", FUNDUS_EFORMAT, "id: expected a string, found null"},
    {"{\"width\":12.5}", FUNDUS_EFORMAT,
     "width: expected an integer from 0 to 2147483647, found 12.5"},
    {"{\"width\":-1}", FUNDUS_EFORMAT, "width: expected an integer from 0 to 2147483647, found -1"},
    {"{\"height\":2147483648}", FUNDUS_EFORMAT, "height: expected an integer"},
    {"{\"width\":\"640\"}", FUNDUS_EFORMAT,
     "width: expected an integer from 0 to 2147483647, found a string"},
    {"{\"objects\":{}}", FUNDUS_EFORMAT, "objects: expected an array, found an object"},
    {"{\"objects\":[1]}", FUNDUS_EFORMAT, "objects[0]: expected an object, found a number"},
    {"{\"objects\":[{\"bbox\":[0,0,1,1]}]}", FUNDUS_EFORMAT, "objects[0].label: missing"},
    {"{\"objects\":[{\"label\":\"\",\"bbox\":[0,0,1,1]}]}", FUNDUS_EFORMAT,
     "objects[0].label: expected a non-empty string"},
    {"{\"objects\":[{\"label\":7,\"bbox\":[0,0,1,1]}]}", FUNDUS_EFORMAT,
     "objects[0].label: expected a non-empty string, found a number"},
    {"{\"objects\":[{\"label\":\"d\"}]}", FUNDUS_EFORMAT, "objects[0].bbox: missing"},
    {"{\"objects\":[{\"label\":\"d\",\"bbox\":[0,0,1,1]},{\"label\":\"d\",\"bbox\":[0,0,1,1]},"
     "{\"label\":\"d\",\"bbox\":[0,0,1]}]}",
     FUNDUS_EFORMAT,
     "objects[2].bbox: expected an array of 4 numbers [x0, y0, x1, y1], found 3 values"},
    {"{\"objects\":[{\"label\":\"d\",\"bbox\":[0,0,1,1,1]}]}", FUNDUS_EFORMAT,
     "objects[0].bbox: expected an array of 4 numbers [x0, y0, x1, y1], found 5 values"},
    {"{\"objects\":[{\"label\":\"d\",\"bbox\":[0,\"0\",1,1]}]}", FUNDUS_EFORMAT,
     "objects[0].bbox: expected an array of 4 numbers [x0, y0, x1, y1], found a string at index 1"},
    {"{\"objects\":[{\"label\":\"d\",\"bbox\":\"0,0,1,1\"}]}", FUNDUS_EFORMAT,
     "objects[0].bbox: expected an array of 4 numbers"},
    {"{\"objects\":[{\"label\":\"d\",\"bbox\":[0,0,1,1],\"score\":\"high\"}]}", FUNDUS_EFORMAT,
     "objects[0].score: expected a number, found a string"},
    {"{\"objects\":[{\"label\":\"d\",\"bbox\":[0,0,1,1],\"by\":1}]}", FUNDUS_EFORMAT,
     "objects[0].by: expected a string, found a number"},
    {"{\"source\":[]}", FUNDUS_EFORMAT, "source: expected an object, found an array"},
    {"{\"meta\":\"R\"}", FUNDUS_EFORMAT, "meta: expected an object, found a string"},
    {"{\"answers\":3}", FUNDUS_EFORMAT, "answers: expected an object, found a number"},
    {"{\"image\":\"a\"} x", FUNDUS_EFORMAT, "column 15: unexpected text after the JSON value"},
    {"{\"image\":\"a\"} {}", FUNDUS_EFORMAT, "column 15: unexpected text after the JSON value"},
    {"{\"image\":\"a\",\"objects\":[", FUNDUS_EFORMAT, "column 25: unexpected end of line"},
    {"{\"image\":\"a", FUNDUS_EFORMAT, "column 10: unterminated string"},
    {"{\"image\" \"a\"}", FUNDUS_EFORMAT, "column 10: invalid JSON"},
    {"{\"image\":\"a\",}", FUNDUS_EFORMAT, "column 14: invalid JSON"},
    {"{\"image\":tru}", FUNDUS_EFORMAT, "column 10: invalid JSON"},
    {"{'image':1}", FUNDUS_EFORMAT, "column 2: unexpected character '''"},
    {"{\"width\":01}", FUNDUS_EFORMAT, "column 10: invalid number"},
    {"{\"width\":-.5}", FUNDUS_EFORMAT, "column 10: invalid number"},
    {"{\"width\":1.}", FUNDUS_EFORMAT, "column 10: invalid number"},
    {"{\"image\":\"a\",\"image\":\"b\"}", FUNDUS_EFORMAT, "duplicate key \"image\""},
    {"{\"meta\":{\"x\":1,\"y\":2,\"x\":3}}", FUNDUS_EFORMAT, "meta: duplicate key \"x\""},
    {"{\"objects\":[{\"label\":\"d\",\"bbox\":[0,0,1,1],\"label\":\"e\"}]}", FUNDUS_EFORMAT,
     "objects[0]: duplicate key \"label\""},
    {"{\"v\":2,\"objects\":\"newer shape\"}", FUNDUS_EUNSUPPORTED,
     "record schema version 2 is newer than this fundus (1)"},
    {"{\"v\":\"1\"}", FUNDUS_EFORMAT, "v: expected a positive integer, found a string"},
    {"{\"v\":0}", FUNDUS_EFORMAT, "v: expected a positive integer"},
    {"{\"meta\":{\"x\":[1,1e999]}}", FUNDUS_EFORMAT, "meta.x[1]: number out of range"},
    {"{\"image\":\"a\xff\"}", FUNDUS_EFORMAT, "column 12: invalid UTF-8 in a string"},
    {"{\"image\":\"\xed\xa0\x80\"}", FUNDUS_EFORMAT, "column 11: invalid UTF-8 in a string"},
    {"{\"image\":\"\xc0\xaf\"}", FUNDUS_EFORMAT, "column 11: invalid UTF-8 in a string"},
    {"{\"image\":\"a\tb\"}", FUNDUS_EFORMAT, "column 12: control character in a string"},
    {"{\"image\":\"a\\u0000b\"}", FUNDUS_EUNSUPPORTED,
     "column 12: \\u0000 in a string is not supported"},
    {"{\"image\":\"a\\x\"}", FUNDUS_EFORMAT, "column 12: invalid escape"},
    {"{\"image\":\"a\\u00zz\"}", FUNDUS_EFORMAT, "column 12: invalid \\u escape"},
    {"{\"image\":\"\\udc00\"}", FUNDUS_EFORMAT, "column 11: invalid JSON"},
    {"\xef\xbb\xbf{}", FUNDUS_EFORMAT, "column 1: unexpected byte 0xef"},
    {"{\"meta\":{\"x\":1}\f}", FUNDUS_EFORMAT, "column 16: unexpected byte 0x0c"},
    {"{\"meta\":{\"n\":12345678901234567890123456789012345678901234567890123456789012345}}",
     FUNDUS_EUNSUPPORTED, "column 14: number longer than 63 characters"},
};

/* Reads a good line, the bad one, and a good one: the reader must go on after the error. */
TEST(every_error_names_line_and_field)
{
	for (size_t i = 0; i < sizeof bad_lines / sizeof bad_lines[0]; i++) {
		const struct bad_line *b = &bad_lines[i];
		char text[1024], want[512];
		struct fundus_record_reader *rd;
		struct fundus_record *r;
		FILE *f;
		int rc;

		snprintf(text, sizeof text, "{\"image\":\"first\"}\n%s\n{\"image\":\"third\"}\n",
			 b->text);
		f = fmemopen(text, strlen(text), "r");
		CHECK(f != NULL);
		CHECK_OK(fundus_record_reader_new(&rd, f, NULL));
		CHECK_OK(fundus_record_next(rd, &r));
		CHECK(r != NULL);
		CHECK_STR_EQ(r->image, "first");
		fundus_record_free(r);
		rc = fundus_record_next(rd, &r);
		if (rc != b->code)
			HARNESS_FAIL("%s: returned %d, not %d (%s)", b->text, rc, b->code,
				     fundus_errmsg());
		CHECK(r == NULL);
		snprintf(want, sizeof want, "line 2: %s", b->msg);
		if (strncmp(fundus_errmsg(), want, strlen(want)) != 0)
			HARNESS_FAIL("%s: message \"%s\" does not start with \"%s\"", b->text,
				     fundus_errmsg(), want);
		CHECK_INT_EQ(fundus_record_reader_line(rd), 2);
		CHECK_OK(fundus_record_next(rd, &r));
		CHECK(r != NULL);
		CHECK_STR_EQ(r->image, "third");
		fundus_record_free(r);
		CHECK_OK(fundus_record_next(rd, &r));
		CHECK(r == NULL);
		fundus_record_reader_close(rd);
		fclose(f);
		/* fundus_record_parse gives the same message without the line. */
		CHECK_INT_EQ(fundus_record_parse(b->text, strlen(b->text), NULL, &r), b->code);
		CHECK(r == NULL);
		CHECK_STR_CONTAINS(fundus_errmsg(), b->msg);
	}
}

/* n nested arrays in meta: the record is depth 1, meta 2, so depth n + 2. */
static char *nested(int n)
{
	size_t len = 32 + 2 * (size_t)n;
	char *s = fundus_malloc(len), *p = s;

	p += snprintf(p, len, "{\"meta\":{\"a\":");
	for (int i = 0; i < n; i++)
		*p++ = '[';
	for (int i = 0; i < n; i++)
		*p++ = ']';
	snprintf(p, (size_t)(s + len - p), "}}");
	return s;
}

TEST(limits)
{
	struct fundus_record_limits lim, small = {0};
	struct fundus_record *r;
	char *s;

	fundus_record_limits_default(&lim);
	CHECK_INT_EQ(lim.max_line, 16 << 20);
	CHECK_INT_EQ(lim.max_objects, 100000);
	CHECK_INT_EQ(lim.max_depth, 64);
	/* Depth 64 passes, 65 does not. */
	s = nested(62);
	CHECK_OK(fundus_record_parse(s, strlen(s), NULL, &r));
	fundus_record_free(r);
	fundus_free(s);
	s = nested(63);
	CHECK_INT_EQ(fundus_record_parse(s, strlen(s), NULL, &r), FUNDUS_ELIMIT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "nested deeper than 64 levels");
	CHECK_STR_CONTAINS(fundus_errmsg(), "column 76:");
	fundus_free(s);
	/* Far past cJSON's own limit of 1000: refused before any allocation. */
	s = nested(100000);
	CHECK_INT_EQ(fundus_record_parse(s, strlen(s), NULL, &r), FUNDUS_ELIMIT);
	fundus_free(s);
	/* Zero fields keep their defaults; the others apply. */
	small.max_objects = 2;
	s = "{\"objects\":[{\"label\":\"a\",\"bbox\":[0,0,1,1]},{\"label\":\"b\",\"bbox\":[0,0,1,1]"
	    "}]}";
	CHECK_OK(fundus_record_parse(s, strlen(s), &small, &r));
	CHECK_INT_EQ(r->n_objects, 2);
	fundus_record_free(r);
	s = "{\"objects\":[{\"label\":\"a\",\"bbox\":[0,0,1,1]},{\"label\":\"b\",\"bbox\":[0,0,1,1]"
	    "},"
	    "{\"label\":\"c\",\"bbox\":[0,0,1,1]}]}";
	CHECK_INT_EQ(fundus_record_parse(s, strlen(s), &small, &r), FUNDUS_ELIMIT);
	CHECK_STR_EQ(fundus_errmsg(), "objects: 3 objects, more than the limit of 2");
	small.max_line = 10;
	CHECK_INT_EQ(fundus_record_parse("{\"image\":\"abc\"}", 15, &small, &r), FUNDUS_ELIMIT);
	CHECK_STR_EQ(fundus_errmsg(), "longer than 10 bytes");
	small.max_depth = 1;
	CHECK_OK(fundus_record_parse("{\"x\":1}", 7, &small, &r));
	fundus_record_free(r);
	CHECK_INT_EQ(fundus_record_parse("{\"x\":{}}", 8, &small, &r), FUNDUS_ELIMIT);
}

/* Reads every record of text with the reader; returns the images joined by ',' and errors as '!'.
 */
static const char *read_all(const char *text, size_t len, const struct fundus_record_limits *lim)
{
	static char out[4096];
	struct fundus_record_reader *rd;
	struct fundus_record *r;
	FILE *f = fmemopen((void *)text, len, "r");
	size_t n = 0;

	out[0] = '\0';
	if (f == NULL || fundus_record_reader_new(&rd, f, lim) < 0)
		return "(cannot open)";
	for (int guard = 0; guard < 1000; guard++) {
		int rc = fundus_record_next(rd, &r);

		if (rc < 0) {
			n += (size_t)snprintf(out + n, sizeof out - n, "%s!%d", n ? "," : "", rc);
			continue;
		}
		if (r == NULL)
			break;
		n += (size_t)snprintf(out + n, sizeof out - n, "%s%s", n ? "," : "",
				      r->image ? r->image : "-");
		fundus_record_free(r);
	}
	fundus_record_reader_close(rd);
	fclose(f);
	return out;
}

#define READS(text, lim, want) CHECK_STR_EQ(read_all(text, sizeof(text) - 1, lim), want)

TEST(reader_lines)
{
	struct fundus_record_limits lim = {.max_line = 20};

	/* Blank lines skipped, CRLF, a final line without newline. */
	READS("{\"image\":\"a\"}\n\n  \t \r\n{\"image\":\"b\"}\r\n\n{\"image\":\"c\"}", NULL,
	      "a,b,c");
	/* A byte-order mark at the very start only. */
	READS("\xef\xbb\xbf{\"image\":\"a\"}\n{\"image\":\"b\"}\n", NULL, "a,b");
	READS("\xef\xbb\xbf\n{\"image\":\"a\"}\n", NULL, "a");
	READS("{\"image\":\"a\"}\n\xef\xbb\xbf{\"image\":\"b\"}\n", NULL, "a,!-5");
	READS("", NULL, "");
	READS("\n\n\n", NULL, "");
	/* An error in the middle; reading goes on. */
	READS("{\"image\":\"a\"}\n{bad\n{\"image\":\"c\"}\n", NULL, "a,!-5,c");
	/* Lines over the limit are skipped to their end; CR does not count. */
	READS("{\"image\":\"a\"}\n{\"image\":\"0123456789abcdef\"}\n{\"image\":\"c\"}\n", &lim,
	      "a,!-7,c");
	READS("{\"image\":\"01234567\"}\r\n{\"image\":\"012345678\"}\n", &lim, "01234567,!-7");
	READS("{\"image\":\"012345678\"}", &lim, "!-7");
	/* NUL bytes cannot hide the rest of a line. */
	READS("{\"image\":\"a\"}\0 garbage\n{\"image\":\"b\"}\n", NULL, "!-5,b");
	{
		struct fundus_record_reader *rd;
		struct fundus_record *r;
		char text[] = "{\"image\":\"a\"}\n{\"image\":\"0123456789abcdef\"}\n";
		FILE *f = fmemopen(text, strlen(text), "r");

		CHECK_OK(fundus_record_reader_new(&rd, f, &lim));
		CHECK_INT_EQ(fundus_record_reader_line(rd), 0);
		CHECK_OK(fundus_record_next(rd, &r));
		fundus_record_free(r);
		CHECK_INT_EQ(fundus_record_next(rd, &r), FUNDUS_ELIMIT);
		CHECK_STR_EQ(fundus_errmsg(), "line 2: longer than 20 bytes");
		CHECK_OK(fundus_record_next(rd, &r));
		CHECK(r == NULL);
		CHECK_OK(fundus_record_next(rd, &r));
		CHECK(r == NULL);
		fundus_record_reader_close(rd);
		fclose(f);
	}
}

/* A record with a string of n bytes in meta, as one line with "\n". */
static char *long_line(size_t n, size_t *len)
{
	char *s = fundus_malloc(n + 64);
	size_t k = (size_t)snprintf(s, 64, "{\"image\":\"big\",\"meta\":{\"s\":\"");

	memset(s + k, 'x', n);
	k += n;
	k += (size_t)snprintf(s + k, n + 64 - k, "\"}}\n");
	*len = k;
	return s;
}

TEST(reader_long_lines_and_files)
{
	struct fundus_record_reader *rd;
	struct fundus_record *r;
	size_t len;
	char *big = long_line(1 << 20, &len);
	const char *p = tu_path("records.jsonl");
	FILE *f = fopen(p, "w");

	CHECK(f != NULL);
	fputs("{\"image\":\"a\"}\n", f);
	fwrite(big, 1, len, f);
	fputs("{\"image\":\"c\"}", f);
	fclose(f);
	CHECK_OK(fundus_record_reader_open(&rd, p, NULL));
	CHECK_OK(fundus_record_next(rd, &r));
	CHECK_STR_EQ(r->image, "a");
	fundus_record_free(r);
	CHECK_OK(fundus_record_next(rd, &r));
	CHECK_STR_EQ(r->image, "big");
	CHECK_INT_EQ(strlen(cJSON_GetObjectItemCaseSensitive(r->meta, "s")->valuestring), 1 << 20);
	fundus_record_free(r);
	CHECK_OK(fundus_record_next(rd, &r));
	CHECK_STR_EQ(r->image, "c");
	fundus_record_free(r);
	CHECK_OK(fundus_record_next(rd, &r));
	CHECK(r == NULL);
	CHECK_INT_EQ(fundus_record_reader_line(rd), 3);
	fundus_record_reader_close(rd);
	fundus_free(big);
	CHECK_INT_EQ(fundus_record_reader_open(&rd, tu_path("no-such.jsonl"), NULL), FUNDUS_ENOENT);
	CHECK(rd == NULL);
	CHECK_STR_EQ(fundus_errmsg(), "cannot open: No such file or directory");
	fundus_record_reader_close(NULL);
}

/* Writes lines into a pipe from a child process, as `producer | tool` would. */
TEST(reader_from_pipe)
{
	struct fundus_record_reader *rd;
	struct fundus_record *r;
	int fds[2], status, n = 0;
	size_t big_len;
	char *big = long_line(3 << 20, &big_len);
	pid_t pid;
	FILE *f;

	CHECK(pipe(fds) == 0);
	pid = fork();
	if (pid == 0) {
		FILE *w = fdopen(fds[1], "w");

		close(fds[0]);
		for (int i = 0; i < 1000; i++)
			fprintf(w,
				"{\"image\":\"%d\",\"objects\":[{\"label\":\"d\",\"bbox\":[%d,0,1,"
				"1]}]}\n",
				i, i);
		fwrite(big, 1, big_len, w);
		fputs("\n{\"image\":\"last\"}", w);
		fclose(w);
		_exit(0);
	}
	close(fds[1]);
	f = fdopen(fds[0], "r");
	CHECK_OK(fundus_record_reader_new(&rd, f, NULL));
	for (;;) {
		CHECK_OK(fundus_record_next(rd, &r));
		if (r == NULL)
			break;
		if (n < 1000) {
			char want[16];

			snprintf(want, sizeof want, "%d", n);
			CHECK_STR_EQ(r->image, want);
			CHECK(r->objects[0].bbox.x0 == n);
		}
		n++;
		fundus_record_free(r);
	}
	CHECK_INT_EQ(n, 1002);
	CHECK_INT_EQ(fundus_record_reader_line(rd), 1003);
	fundus_record_reader_close(rd);
	fclose(f);
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	fundus_free(big);
}

TEST(build_dup_and_edit)
{
	struct fundus_record *r, *d;
	struct fundus_box b = {1, 2, 3, 4};
	char *line, *line2;
	size_t len;

	CHECK_OK(fundus_record_new(&r));
	CHECK_OK(fundus_record_format(r, &line, &len));
	CHECK_STR_EQ(line, "{\"objects\":[]}\n");
	CHECK_INT_EQ(len, 15);
	fundus_free(line);
	CHECK_OK(fundus_record_set_string(&r->image, "x.png"));
	CHECK_OK(fundus_record_set_string(&r->image, "y.png"));
	CHECK_OK(fundus_record_set_string(&r->id, "sha256:ab"));
	CHECK_OK(fundus_record_set_string(&r->id, NULL));
	CHECK(r->id == NULL);
	r->width = 640;
	r->meta = cJSON_CreateObject();
	cJSON_AddStringToObject(r->meta, "laterality", "L");
	r->extra = cJSON_CreateObject();
	cJSON_AddNumberToObject(r->extra, "n", 3);
	for (int i = 0; i < 10; i++)
		CHECK_OK(fundus_record_add_object(r, "optic_disc", &b, i % 2 ? 0.5 : NAN,
						  i % 3 ? "model:od" : NULL));
	CHECK_INT_EQ(r->n_objects, 10);
	CHECK_INT_GE(r->cap_objects, 10);
	CHECK_INT_EQ(fundus_record_add_object(r, NULL, &b, NAN, NULL), FUNDUS_EINVAL);
	CHECK_OK(fundus_record_dup(r, &d));
	CHECK_OK(fundus_record_format(r, &line, &len));
	CHECK_OK(fundus_record_format(d, &line2, NULL));
	CHECK_STR_EQ(line, line2);
	CHECK_STR_CONTAINS(line,
			   "{\"image\":\"y.png\",\"width\":640,\"meta\":{\"laterality\":\"L\"},"
			   "\"objects\":[{\"label\":\"optic_disc\",\"bbox\":[1,2,3,4]},");
	CHECK_STR_CONTAINS(line, "{\"label\":\"optic_disc\",\"bbox\":[1,2,3,4],\"score\":0.5,"
				 "\"by\":\"model:od\"}");
	CHECK_STR_CONTAINS(line, "}],\"n\":3}\n");
	fundus_free(line);
	fundus_free(line2);
	/* The copy is independent. */
	fundus_record_clear_objects(r);
	CHECK_INT_EQ(r->n_objects, 0);
	CHECK_INT_EQ(d->n_objects, 10);
	CHECK_OK(fundus_record_format(r, &line, &len));
	CHECK_STR_EQ(line, "{\"image\":\"y.png\",\"width\":640,\"meta\":{\"laterality\":\"L\"},"
			   "\"objects\":[],\"n\":3}\n");
	fundus_free(line);
	CHECK_OK(fundus_record_add_object(r, "cup", &b, 1, NULL));
	CHECK_INT_EQ(r->n_objects, 1);
	fundus_record_free(r);
	fundus_record_free(d);
	fundus_record_free(NULL);
}

/* A record built by code that no reader could take back is refused, with the field named. */
TEST(format_refuses_invalid_records)
{
	struct fundus_record *r;
	struct fundus_box b = {0, 0, 1, 1};
	char *line = (char *)"untouched";
	size_t len;

	CHECK_OK(fundus_record_new(&r));
	CHECK_OK(fundus_record_add_object(r, "d", &b, NAN, NULL));
	r->objects[0].bbox.x1 = INFINITY;
	CHECK_INT_EQ(fundus_record_format(r, &line, &len), FUNDUS_EINVAL);
	CHECK(line == NULL);
	CHECK_STR_EQ(fundus_errmsg(), "objects[0].bbox: not a finite number");
	r->objects[0].bbox.x1 = 1;
	r->objects[0].score = -INFINITY;
	CHECK_INT_EQ(fundus_record_format(r, &line, &len), FUNDUS_EINVAL);
	CHECK_STR_EQ(fundus_errmsg(), "objects[0].score: not a finite number");
	r->objects[0].score = NAN;
	fundus_free(r->objects[0].label);
	r->objects[0].label = fundus_strdup("");
	CHECK_INT_EQ(fundus_record_format(r, &line, &len), FUNDUS_EINVAL);
	CHECK_STR_EQ(fundus_errmsg(), "objects[0].label: missing or empty");
	fundus_record_clear_objects(r);
	r->width = -3;
	CHECK_INT_EQ(fundus_record_format(r, &line, &len), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "width: -3 is not an integer");
	r->width = 0;
	CHECK_OK(fundus_record_set_string(&r->image, "bad\xff.jpg"));
	CHECK_INT_EQ(fundus_record_format(r, &line, &len), FUNDUS_EINVAL);
	CHECK_STR_EQ(fundus_errmsg(), "image: not valid UTF-8");
	CHECK_OK(fundus_record_set_string(&r->image, "ok.jpg"));
	r->extra = cJSON_CreateObject();
	cJSON_AddNumberToObject(r->extra, "image", 1);
	CHECK_INT_EQ(fundus_record_format(r, &line, &len), FUNDUS_EINVAL);
	CHECK_STR_CONTAINS(fundus_errmsg(), "extra field \"image\" has the name of a known field");
	cJSON_Delete(r->extra);
	r->extra = cJSON_CreateObject();
	cJSON_AddNumberToObject(r->extra, "k", 1);
	cJSON_AddNumberToObject(r->extra, "k", 2);
	CHECK_INT_EQ(fundus_record_format(r, &line, &len), FUNDUS_EINVAL);
	CHECK_STR_EQ(fundus_errmsg(), "duplicate key \"k\"");
	cJSON_Delete(r->extra);
	r->extra = NULL;
	r->meta = cJSON_CreateArray();
	CHECK_INT_EQ(fundus_record_format(r, &line, &len), FUNDUS_EINVAL);
	CHECK_STR_EQ(fundus_errmsg(), "meta: expected an object, found an array");
	cJSON_Delete(r->meta);
	r->meta = cJSON_CreateObject();
	cJSON_AddItemToObject(r->meta, "site", cJSON_CreateObject());
	cJSON_AddNumberToObject(cJSON_GetObjectItemCaseSensitive(r->meta, "site"), "nan", NAN);
	CHECK_INT_EQ(fundus_record_format(r, &line, &len), FUNDUS_EINVAL);
	CHECK_STR_EQ(fundus_errmsg(), "meta.site.nan: not a finite number");
	cJSON_Delete(r->meta);
	r->meta = NULL;
	CHECK_OK(fundus_record_format(r, &line, &len));
	CHECK_STR_EQ(line, "{\"image\":\"ok.jpg\",\"objects\":[]}\n");
	fundus_free(line);
	fundus_record_free(r);
}

TEST(write_to_stream)
{
	struct fundus_record *r;
	char buf[256] = {0};
	FILE *f = fmemopen(buf, sizeof buf, "w");

	CHECK_OK(fundus_record_new(&r));
	CHECK_OK(fundus_record_set_string(&r->image, "a.jpg"));
	CHECK_OK(fundus_record_write(f, r));
	CHECK_OK(fundus_record_write(f, r));
	fclose(f);
	CHECK_STR_EQ(
	    buf, "{\"image\":\"a.jpg\",\"objects\":[]}\n{\"image\":\"a.jpg\",\"objects\":[]}\n");
	fundus_record_free(r);
}

/*
 * Processes appending records to one file through buffered streams: every
 * line must come out whole, including lines longer than stdio's buffer.
 */
TEST(concurrent_appenders_never_mix)
{
	const char *p = tu_path("shared.jsonl");
	struct fundus_record_reader *rd;
	struct fundus_record *r;
	pid_t pids[4];
	int n = 0, status;

	for (int w = 0; w < 4; w++) {
		pids[w] = fork();
		if (pids[w] == 0) {
			FILE *f = fopen(p, "a");
			struct fundus_rng g;
			struct fundus_record *rec;
			char *s = malloc(30001);
			int bad = f == NULL || s == NULL || fundus_record_new(&rec) < 0;

			fundus_rng_seed(&g, (uint64_t)w);
			for (int i = 0; i < 100 && !bad; i++) {
				size_t len = 10 + fundus_rng_below(&g, 30000);

				memset(s, 'a' + w, len);
				s[len] = '\0';
				fundus_record_set_string(&rec->image, s);
				bad |= fundus_record_write(f, rec) < 0;
			}
			bad |= fclose(f) != 0;
			_exit(bad);
		}
	}
	for (int w = 0; w < 4; w++) {
		waitpid(pids[w], &status, 0);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	CHECK_OK(fundus_record_reader_open(&rd, p, NULL));
	for (;;) {
		int rc = fundus_record_next(rd, &r);

		if (rc < 0)
			HARNESS_FAIL("%s", fundus_errmsg());
		if (r == NULL)
			break;
		n++;
		for (const char *c = r->image; *c; c++)
			if (*c != r->image[0])
				HARNESS_FAIL("record %d mixes writers", n);
		fundus_record_free(r);
	}
	fundus_record_reader_close(rd);
	CHECK_INT_EQ(n, 400);
}

/*
 * The sample records of fundus-formats(5) read back, and fundus writes
 * them byte for byte as the page shows them.
 */
TEST(man_page_records_are_canonical)
{
	char path[4096], line[4096];
	const char *slash = strrchr(__FILE__, '/');
	int in_block = 0, n = 0;
	FILE *f;

	snprintf(path, sizeof path, "%.*s/../../man/fundus-formats.5",
		 slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
	f = fopen(path, "r");
	if (f == NULL) {
		printf("note: %s not found; sample records not checked\n", path);
		return;
	}
	while (fgets(line, sizeof line, f)) {
		int rc;
		const char *got;

		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, "$ cat records.jsonl") == 0) {
			in_block = 1;
			continue;
		}
		if (!in_block)
			continue;
		if (line[0] != '{')
			break;
		got = reformat(line, &rc);
		if (got == NULL)
			HARNESS_FAIL("%s: %s", line, fundus_errmsg());
		CHECK_STR_EQ(got, line);
		n++;
	}
	fclose(f);
	CHECK_INT_EQ(n, 3);
}

/* The internal JSON layer that other modules use for their own files. */
TEST(json_layer)
{
	cJSON *v, *o;
	char *text;
	size_t len;

	CHECK_OK(fundus__json_parse(" [1, 2.5, \"x\", {\"a\": null}] ", 28, 4, &v));
	CHECK(cJSON_IsArray(v));
	CHECK_OK(fundus__json_print(v, &text, &len));
	CHECK_STR_EQ(text, "[1,2.5,\"x\",{\"a\":null}]");
	CHECK_INT_EQ(len, 22);
	fundus_free(text);
	cJSON_Delete(v);
	CHECK_INT_EQ(fundus__json_parse("[[[]]]", 6, 2, &v), FUNDUS_ELIMIT);
	CHECK(v == NULL);
	CHECK_INT_EQ(fundus__json_parse("   ", 3, 4, &v), FUNDUS_EFORMAT);
	CHECK_STR_EQ(fundus_errmsg(), "column 4: no JSON value");
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "sum", 0.1 + 0.2);
	cJSON_AddNumberToObject(o, "big", 4288);
	cJSON_AddStringToObject(o, "s", "\xe7\x9c\xbc\x01");
	CHECK_OK(fundus__json_print(o, &text, NULL));
	CHECK_STR_EQ(text,
		     "{\"sum\":0.30000000000000004,\"big\":4288,\"s\":\"\xe7\x9c\xbc\\u0001\"}");
	fundus_free(text);
	cJSON_AddItemToObject(o, "raw", cJSON_CreateRaw("1"));
	CHECK_INT_EQ(fundus__json_print(o, &text, NULL), FUNDUS_EINVAL);
	CHECK_STR_EQ(fundus_errmsg(), "raw: raw or invalid cJSON item");
	cJSON_Delete(o);
}

/* Random data for the property test. */

static void rand_string(struct fundus_rng *g, char *s, size_t cap, int nonempty)
{
	size_t n = 0, want = fundus_rng_below(g, 12) + (nonempty ? 1 : 0);

	for (size_t i = 0; i < want && n + 5 < cap; i++) {
		uint32_t cp;

		switch (fundus_rng_below(g, 5)) {
		case 0:
			cp = 1 + (uint32_t)fundus_rng_below(g, 0x7f);
			break; /* ASCII, controls too */
		case 1: cp = 0x80 + (uint32_t)fundus_rng_below(g, 0x780); break;
		case 2:
			cp = 0x800 + (uint32_t)fundus_rng_below(g, 0xf800);
			if (cp >= 0xd800 && cp <= 0xdfff)
				cp = 0xe9;
			break;
		case 3: cp = 0x10000 + (uint32_t)fundus_rng_below(g, 0x100000); break;
		default: cp = (uint32_t) "abcxyz_\"\\/ "[fundus_rng_below(g, 11)]; break;
		}
		if (cp < 0x80) {
			s[n++] = (char)cp;
		} else if (cp < 0x800) {
			s[n++] = (char)(0xc0 | cp >> 6);
			s[n++] = (char)(0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			s[n++] = (char)(0xe0 | cp >> 12);
			s[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			s[n++] = (char)(0x80 | (cp & 0x3f));
		} else {
			s[n++] = (char)(0xf0 | cp >> 18);
			s[n++] = (char)(0x80 | ((cp >> 12) & 0x3f));
			s[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			s[n++] = (char)(0x80 | (cp & 0x3f));
		}
	}
	s[n] = '\0';
}

static double rand_double(struct fundus_rng *g)
{
	uint64_t bits;
	double d;

	switch (fundus_rng_below(g, 4)) {
	case 0: return (double)(int64_t)fundus_rng_below(g, 10000) - 100;
	case 1: return fundus_rng_range(g, -10, 5000);
	case 2: return fundus_rng_below(g, 2) ? 0.0 : -0.0;
	default:
		/* Any finite double, subnormals and extremes included. */
		do {
			bits = fundus_rng_u64(g);
			memcpy(&d, &bits, sizeof d);
		} while (!isfinite(d));
		return d;
	}
}

static cJSON *rand_value(struct fundus_rng *g, int depth);

/* A random object with unique keys, none of them in avoid (NULL-terminated). */
static cJSON *rand_object(struct fundus_rng *g, int depth, const char *const *avoid)
{
	cJSON *o = cJSON_CreateObject();
	size_t n = fundus_rng_below(g, depth > 3 ? 1 : 4);

	for (size_t i = 0; i < n; i++) {
		char key[80];
		int clash = 0;

		rand_string(g, key, sizeof key, 0);
		for (const char *const *a = avoid; a && *a; a++)
			clash |= strcmp(key, *a) == 0;
		if (clash || cJSON_GetObjectItemCaseSensitive(o, key))
			continue;
		cJSON_AddItemToObject(o, key, rand_value(g, depth + 1));
	}
	return o;
}

static cJSON *rand_value(struct fundus_rng *g, int depth)
{
	char s[80];
	cJSON *a;

	switch (fundus_rng_below(g, depth > 3 ? 5 : 7)) {
	case 0: return cJSON_CreateNull();
	case 1: return cJSON_CreateBool(fundus_rng_below(g, 2));
	case 2: return cJSON_CreateNumber(rand_double(g));
	case 3:
	case 4: rand_string(g, s, sizeof s, 0); return cJSON_CreateString(s);
	case 5:
		a = cJSON_CreateArray();
		for (size_t i = fundus_rng_below(g, 4); i > 0; i--)
			cJSON_AddItemToArray(a, rand_value(g, depth + 1));
		return a;
	default: return rand_object(g, depth, NULL);
	}
}

static char *maybe_string(struct fundus_rng *g)
{
	char s[80];

	if (fundus_rng_below(g, 4) == 0)
		return NULL;
	rand_string(g, s, sizeof s, 0);
	return fundus_strdup(s);
}

static struct fundus_record *rand_record(struct fundus_rng *g)
{
	static const char *const top[] = {"image", "id",      "width",   "height", "source",
					  "meta",  "objects", "answers", "v",      NULL};
	static const char *const obj[] = {"label", "bbox", "score", "by", NULL};
	struct fundus_record *r;
	size_t n = fundus_rng_below(g, 5);

	if (fundus_record_new(&r) < 0)
		return NULL;
	r->image = maybe_string(g);
	r->id = maybe_string(g);
	r->width = fundus_rng_below(g, 3) ? (int64_t)fundus_rng_below(g, INT32_MAX) : 0;
	r->height = fundus_rng_below(g, 3) ? (int64_t)fundus_rng_below(g, 5000) : 0;
	r->source = fundus_rng_below(g, 2) ? rand_object(g, 1, NULL) : NULL;
	r->meta = fundus_rng_below(g, 2) ? rand_object(g, 1, NULL) : NULL;
	r->answers = fundus_rng_below(g, 2) ? rand_object(g, 1, NULL) : NULL;
	r->extra = fundus_rng_below(g, 2) ? rand_object(g, 1, top) : NULL;
	for (size_t i = 0; i < n; i++) {
		struct fundus_box b = {rand_double(g), rand_double(g), rand_double(g),
				       rand_double(g)};
		char label[80], *by = maybe_string(g);

		rand_string(g, label, sizeof label, 1);
		fundus_record_add_object(r, label, &b,
					 fundus_rng_below(g, 2) ? rand_double(g) : NAN, by);
		fundus_free(by);
		if (fundus_rng_below(g, 3) == 0)
			r->objects[i].extra = rand_object(g, 2, obj);
	}
	return r;
}

static int same_double(double a, double b)
{
	return memcmp(&a, &b, sizeof a) == 0;
}

static int same_string(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* Empty objects made by code come back as NULL or as {} alike; compare what is written. */
static int same_tree(const cJSON *a, const cJSON *b)
{
	if (a == NULL || b == NULL)
		return (a == NULL || a->child == NULL) && (b == NULL || b->child == NULL);
	return cJSON_Compare(a, b, 1);
}

TEST(property_format_parse_format)
{
	struct fundus_rng g;

	fundus_rng_seed(&g, 20240611);
	for (int iter = 0; iter < 3000; iter++) {
		struct fundus_record *r = rand_record(&g), *back;
		char *line, *again;
		size_t len, len2;
		int rc;

		CHECK(r != NULL);
		rc = fundus_record_format(r, &line, &len);
		if (rc != 0)
			HARNESS_FAIL("record %d: format failed: %s", iter, fundus_errmsg());
		rc = fundus_record_parse(line, len - 1, NULL, &back);
		if (rc != 0)
			HARNESS_FAIL("record %d: parse of %s failed: %s", iter, line,
				     fundus_errmsg());
		CHECK_OK(fundus_record_format(back, &again, &len2));
		if (len != len2 || strcmp(line, again) != 0)
			HARNESS_FAIL("record %d: %s became %s", iter, line, again);
		CHECK(same_string(r->image, back->image));
		CHECK(same_string(r->id, back->id));
		CHECK_INT_EQ(r->width, back->width);
		CHECK_INT_EQ(r->height, back->height);
		CHECK_INT_EQ(r->n_objects, back->n_objects);
		for (size_t i = 0; i < r->n_objects; i++) {
			const struct fundus_object *a = &r->objects[i], *b = &back->objects[i];

			CHECK_STR_EQ(a->label, b->label);
			CHECK(same_double(a->bbox.x0, b->bbox.x0) &&
			      same_double(a->bbox.y0, b->bbox.y0) &&
			      same_double(a->bbox.x1, b->bbox.x1) &&
			      same_double(a->bbox.y1, b->bbox.y1));
			CHECK((isnan(a->score) && isnan(b->score)) ||
			      same_double(a->score, b->score));
			CHECK(same_string(a->by, b->by));
			CHECK(same_tree(a->extra, b->extra));
		}
		CHECK(cJSON_Compare(r->source, back->source, 1) || (!r->source && !back->source));
		CHECK(cJSON_Compare(r->meta, back->meta, 1) || (!r->meta && !back->meta));
		CHECK(cJSON_Compare(r->answers, back->answers, 1) ||
		      (!r->answers && !back->answers));
		CHECK(same_tree(r->extra, back->extra));
		fundus_free(line);
		fundus_free(again);
		fundus_record_free(r);
		fundus_record_free(back);
	}
}

/* Every allocation of parse + format + dup made to fail in turn: ENOMEM each time, no leak. */
TEST(allocation_failures)
{
	static const char line[] =
	    "{\"image\":\"a.jpg\",\"id\":\"sha256:00\",\"width\":4,\"height\":3,"
	    "\"source\":{\"path\":\"p\",\"frame\":0},\"meta\":{\"k\":[1,{\"z\":null}]},"
	    "\"objects\":[{\"label\":\"d\",\"bbox\":[0,0,1,1],\"score\":0.5,\"by\":\"m\","
	    "\"extra\":{\"q\":[true]}},{\"label\":\"e\",\"bbox\":[1,1,2,2]}],"
	    "\"answers\":{\"a\":{\"value\":\"no\",\"by\":\"al\"}},\"x\":1,\"y\":[\"s\"]}";
	char text[sizeof line + 8];
	int succeeded = 0, failures = 0;

	snprintf(text, sizeof text, "\n%s\n", line);
	for (long n = 0; n < 10000 && !succeeded; n++) {
		struct fundus_record *r = NULL, *d = NULL;
		struct fundus_record_reader *rd = NULL;
		char *out = NULL;
		size_t len;
		FILE *f = fmemopen(text, strlen(text), "r");
		int rc;

		CHECK(f != NULL);
		fundus_alloc_fail_after(n);
		rc = fundus_record_parse(line, sizeof line - 1, NULL, &r);
		if (rc == 0)
			rc = fundus_record_format(r, &out, &len);
		if (rc == 0)
			rc = fundus_record_dup(r, &d);
		fundus_record_free(r);
		r = NULL;
		if (rc == 0)
			rc = fundus_record_reader_new(&rd, f, NULL);
		if (rc == 0)
			rc = fundus_record_next(rd, &r);
		fundus_alloc_fail_after(-1);
		if (rc == 0) {
			CHECK(r != NULL);
			succeeded = 1;
		} else {
			failures++;
			if (rc != FUNDUS_ENOMEM)
				HARNESS_FAIL("failing allocation %ld gave %d: %s", n, rc,
					     fundus_errmsg());
			CHECK(r == NULL);
		}
		fundus_free(out);
		fundus_record_free(r);
		fundus_record_free(d);
		fundus_record_reader_close(rd);
		fclose(f);
	}
	CHECK(succeeded);
	CHECK_INT_GT(failures, 30);
}

/* Messages are per thread even though cJSON keeps a global error pointer. */
struct thread_case {
	const char *text, *msg;
};

static void *parse_in_thread(void *arg)
{
	const struct thread_case *c = arg;
	struct fundus_record *r;
	intptr_t ok = 1;

	for (int i = 0; i < 2000; i++) {
		if (fundus_record_parse(c->text, strlen(c->text), NULL, &r) != FUNDUS_EFORMAT ||
		    strcmp(fundus_errmsg(), c->msg) != 0)
			ok = 0;
	}
	return (void *)ok;
}

TEST(threads_keep_their_messages)
{
	static const struct thread_case ca = {"{\"x\" 1}", "column 6: invalid JSON"},
					cb = {"[ 1,[]]  ",
					      "expected a JSON object, found an array"};
	pthread_t a, b;
	void *ra, *rb;

	pthread_create(&a, NULL, parse_in_thread, (void *)&ca);
	pthread_create(&b, NULL, parse_in_thread, (void *)&cb);
	pthread_join(a, &ra);
	pthread_join(b, &rb);
	CHECK(ra == (void *)1);
	CHECK(rb == (void *)1);
}

int main(int argc, char **argv)
{
	RUN(known_fields_in_order);
	RUN(unknown_fields_kept_in_order);
	RUN(unicode_and_escapes);
	RUN(numbers_exact);
	RUN(numbers_ignore_the_locale);
	RUN(objects_empty_or_missing);
	RUN(every_error_names_line_and_field);
	RUN(limits);
	RUN(reader_lines);
	RUN(reader_long_lines_and_files);
	RUN(reader_from_pipe);
	RUN(build_dup_and_edit);
	RUN(format_refuses_invalid_records);
	RUN(write_to_stream);
	RUN(concurrent_appenders_never_mix);
	RUN(man_page_records_are_canonical);
	RUN(json_layer);
	RUN(property_format_parse_format);
	RUN(allocation_failures);
	RUN(threads_keep_their_messages);
	return harness_done();
}

/*
 * The configuration of a workspace: labels and questions, read from and
 * written to workspace.json, or built from command-line specs.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "record/json.h"

/* Colours given to labels that name none, in this order. */
static const struct {
	const char *name;
	uint8_t rgb[3];
} palette[] = {
    {"yellow", {255, 212, 0}}, {"cyan", {0, 220, 255}},    {"magenta", {255, 64, 255}},
    {"green", {64, 255, 64}},  {"orange", {255, 140, 0}},  {"red", {255, 48, 48}},
    {"blue", {80, 120, 255}},  {"white", {255, 255, 255}},
};

static const char *const type_names[] = {"yesno", "choice", "multi", "text"};
static const char *const order_names[] = {"sequential", "shuffle", "active"};

int fundus_workspace_config_new(struct fundus_workspace_config **out)
{
	struct fundus_workspace_config *cfg = fundus_calloc(1, sizeof *cfg);

	*out = NULL;
	if (cfg == NULL)
		return FUNDUS_ENOMEM;
	cfg->overlap = 1;
	cfg->order = FUNDUS_ORDER_SEQUENTIAL;
	cfg->seed = 1;
	cfg->claim_minutes = 30;
	*out = cfg;
	return 0;
}

/* Frees what one question owns. */
static void question_clear(struct fundus_question *q)
{
	fundus_free(q->id);
	fundus_free(q->text);
	for (int c = 0; c < q->n_choices; c++)
		fundus_free(q->choices[c]);
	fundus_free(q->choices);
	memset(q, 0, sizeof *q);
}

void fundus_workspace_config_free(struct fundus_workspace_config *cfg)
{
	if (cfg == NULL)
		return;
	for (int i = 0; i < cfg->n_labels; i++)
		fundus_free(cfg->labels[i].name);
	fundus_free(cfg->labels);
	for (int i = 0; i < cfg->n_questions; i++)
		question_clear(&cfg->questions[i]);
	fundus_free(cfg->questions);
	fundus_free(cfg);
}

int fundus__ws_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > FUNDUS_WORKSPACE_MAX_NAME || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

/* Reads "#rrggbb" or a palette name; returns 0 or -1. */
static int parse_colour(const char *s, size_t n, uint8_t rgb[3])
{
	for (size_t i = 0; i < sizeof palette / sizeof palette[0]; i++) {
		if (strlen(palette[i].name) == n && memcmp(palette[i].name, s, n) == 0) {
			memcpy(rgb, palette[i].rgb, 3);
			return 0;
		}
	}
	if (n != 7 || s[0] != '#')
		return -1;
	for (int c = 0; c < 3; c++) {
		int v = 0;

		for (int d = 0; d < 2; d++) {
			char h = s[1 + 2 * c + d];
			int x = h >= '0' && h <= '9'   ? h - '0'
				: h >= 'a' && h <= 'f' ? h - 'a' + 10
				: h >= 'A' && h <= 'F' ? h - 'A' + 10
						       : -1;

			if (x < 0)
				return -1;
			v = v * 16 + x;
		}
		rgb[c] = (uint8_t)v;
	}
	return 0;
}

/* Whether a hotkey is acceptable: one printable ASCII character but space. */
static int key_ok(int key)
{
	return key > ' ' && key < 127;
}

/* Appends a label (name copied); checks only what needs the other labels. */
static int push_label(struct fundus_workspace_config *cfg, const char *name, size_t n,
		      const uint8_t *rgb, int key)
{
	struct fundus_label *l;

	if (cfg->n_labels >= FUNDUS_WORKSPACE_MAX_LABELS)
		return fundus_error_set(FUNDUS_EINVAL, "more than %d labels",
					FUNDUS_WORKSPACE_MAX_LABELS);
	l = fundus_realloc(cfg->labels, (size_t)(cfg->n_labels + 1) * sizeof *l);
	if (l == NULL)
		return FUNDUS_ENOMEM;
	cfg->labels = l;
	l = &cfg->labels[cfg->n_labels];
	memset(l, 0, sizeof *l);
	if ((l->name = fundus_strndup(name, n)) == NULL)
		return FUNDUS_ENOMEM;
	if (rgb)
		memcpy(l->colour, rgb, 3);
	else
		memcpy(l->colour,
		       palette[(size_t)cfg->n_labels % (sizeof palette / sizeof palette[0])].rgb,
		       3);
	l->key = key;
	cfg->n_labels++;
	return 0;
}

int fundus_workspace_config_add_label(struct fundus_workspace_config *cfg, const char *spec)
{
	const char *colon = strchr(spec, ':');
	size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
	uint8_t rgb[3];
	int have_rgb = 0, key = 0, rc;
	char name[FUNDUS_WORKSPACE_MAX_NAME + 1];

	if (n == 0 || n > FUNDUS_WORKSPACE_MAX_NAME)
		return fundus_error_set(FUNDUS_EINVAL, "label '%s': expected NAME[:COLOUR][:KEY]",
					spec);
	memcpy(name, spec, n);
	name[n] = '\0';
	/* The parts after the name: a colour has more than one character, a key one. */
	while (colon) {
		const char *part = colon + 1, *next = strchr(part, ':');
		size_t pn = next ? (size_t)(next - part) : strlen(part);

		if (pn == 1 && key == 0 && key_ok((unsigned char)part[0])) {
			key = (unsigned char)part[0];
		} else if (pn > 1 && !have_rgb && parse_colour(part, pn, rgb) == 0) {
			have_rgb = 1;
		} else {
			return fundus_error_set(FUNDUS_EINVAL,
						"label '%s': '%.*s' is neither a colour (#rrggbb, "
						"yellow, cyan, ...) nor a key (one character)",
						spec, (int)pn, part);
		}
		colon = next;
	}
	rc = push_label(cfg, name, n, have_rgb ? rgb : NULL, key);
	if (rc == 0 && (rc = fundus_workspace_config_check(cfg)) < 0) {
		cfg->n_labels--;
		fundus_free(cfg->labels[cfg->n_labels].name);
	}
	return rc;
}

/* Splits s[0..n) at commas into new strings. */
static int split_choices(struct fundus_question *q, const char *s, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != ',')
			continue;
		if (q->n_choices >= FUNDUS_WORKSPACE_MAX_CHOICES)
			return fundus_error_set(FUNDUS_EINVAL, "more than %d choices",
						FUNDUS_WORKSPACE_MAX_CHOICES);
		char **c = fundus_realloc(q->choices, (size_t)(q->n_choices + 1) * sizeof *c);

		if (c == NULL)
			return FUNDUS_ENOMEM;
		q->choices = c;
		if ((c[q->n_choices] = fundus_strndup(s + start, i - start)) == NULL)
			return FUNDUS_ENOMEM;
		q->n_choices++;
		start = i + 1;
	}
	return 0;
}

/* Appends a question (taking what q owns, even on failure). */
static int push_question(struct fundus_workspace_config *cfg, struct fundus_question *q)
{
	struct fundus_question *qs;

	if (cfg->n_questions >= FUNDUS_WORKSPACE_MAX_QUESTIONS) {
		question_clear(q);
		return fundus_error_set(FUNDUS_EINVAL, "more than %d questions",
					FUNDUS_WORKSPACE_MAX_QUESTIONS);
	}
	qs = fundus_realloc(cfg->questions, (size_t)(cfg->n_questions + 1) * sizeof *qs);
	if (qs == NULL) {
		question_clear(q);
		return FUNDUS_ENOMEM;
	}
	cfg->questions = qs;
	qs[cfg->n_questions++] = *q;
	return 0;
}

int fundus_workspace_config_add_question(struct fundus_workspace_config *cfg, const char *spec)
{
	struct fundus_question q = {0};
	const char *parts[4];
	size_t lens[4];
	int np = 0, rc, t;
	const char *p = spec;

	for (;;) {
		const char *c = strchr(p, ':');

		if (np == 4)
			goto bad;
		parts[np] = p;
		lens[np] = c ? (size_t)(c - p) : strlen(p);
		np++;
		if (c == NULL)
			break;
		p = c + 1;
	}
	if (np < 2)
		goto bad;
	if (np >= 3 && lens[np - 1] == 3 && memcmp(parts[np - 1], "box", 3) == 0) {
		q.scope = FUNDUS_SCOPE_BOX;
		np--;
	}
	for (t = 0; t < 4; t++)
		if (strlen(type_names[t]) == lens[1] &&
		    memcmp(type_names[t], parts[1], lens[1]) == 0)
			break;
	if (t == 4)
		goto bad;
	q.type = (enum fundus_question_type)t;
	if ((q.type == FUNDUS_QUESTION_CHOICE || q.type == FUNDUS_QUESTION_MULTI) != (np == 3))
		goto bad;
	if ((q.id = fundus_strndup(parts[0], lens[0])) == NULL ||
	    (q.text = fundus_strndup(parts[0], lens[0])) == NULL) {
		question_clear(&q);
		return FUNDUS_ENOMEM;
	}
	if (np == 3 && (rc = split_choices(&q, parts[2], lens[2])) < 0) {
		question_clear(&q);
		return rc;
	}
	if ((rc = push_question(cfg, &q)) < 0)
		return rc;
	if ((rc = fundus_workspace_config_check(cfg)) < 0)
		question_clear(&cfg->questions[--cfg->n_questions]);
	return rc;
bad:
	return fundus_error_set(FUNDUS_EINVAL,
				"question '%s': expected ID:yesno, ID:text, ID:choice:A,B,... or "
				"ID:multi:A,B,..., optionally followed by :box",
				spec);
}

int fundus_workspace_config_check(const struct fundus_workspace_config *cfg)
{
	if (cfg->n_labels < 1)
		return fundus_error_set(FUNDUS_EINVAL, "no label: a workspace needs at least one");
	if (cfg->n_labels > FUNDUS_WORKSPACE_MAX_LABELS)
		return fundus_error_set(FUNDUS_EINVAL, "more than %d labels",
					FUNDUS_WORKSPACE_MAX_LABELS);
	for (int i = 0; i < cfg->n_labels; i++) {
		const struct fundus_label *l = &cfg->labels[i];

		if (!fundus__ws_name_ok(l->name))
			return fundus_error_set(FUNDUS_EINVAL,
						"label '%s': use 1 to %d letters, digits, '_', '-' "
						"or '.' (not first)",
						l->name ? l->name : "", FUNDUS_WORKSPACE_MAX_NAME);
		if (l->key != 0 && !key_ok(l->key))
			return fundus_error_set(FUNDUS_EINVAL, "label '%s': bad key", l->name);
		for (int j = 0; j < i; j++) {
			if (strcmp(cfg->labels[j].name, l->name) == 0)
				return fundus_error_set(FUNDUS_EINVAL, "label '%s' given twice",
							l->name);
			if (l->key && cfg->labels[j].key == l->key)
				return fundus_error_set(
				    FUNDUS_EINVAL, "labels '%s' and '%s' have the same key '%c'",
				    cfg->labels[j].name, l->name, l->key);
		}
	}
	if (cfg->n_questions < 0 || cfg->n_questions > FUNDUS_WORKSPACE_MAX_QUESTIONS)
		return fundus_error_set(FUNDUS_EINVAL, "more than %d questions",
					FUNDUS_WORKSPACE_MAX_QUESTIONS);
	for (int i = 0; i < cfg->n_questions; i++) {
		const struct fundus_question *q = &cfg->questions[i];
		int want = q->type == FUNDUS_QUESTION_CHOICE || q->type == FUNDUS_QUESTION_MULTI;

		if (!fundus__ws_name_ok(q->id))
			return fundus_error_set(FUNDUS_EINVAL,
						"question '%s': use 1 to %d letters, digits, '_', "
						"'-' or '.' (not first) for an id",
						q->id ? q->id : "", FUNDUS_WORKSPACE_MAX_NAME);
		if ((unsigned)q->type > FUNDUS_QUESTION_TEXT ||
		    (unsigned)q->scope > FUNDUS_SCOPE_BOX)
			return fundus_error_set(FUNDUS_EINVAL, "question '%s': bad type or scope",
						q->id);
		if (q->text == NULL || q->text[0] == '\0')
			return fundus_error_set(FUNDUS_EINVAL, "question '%s': empty text", q->id);
		if (want && (q->n_choices < 2 || q->n_choices > FUNDUS_WORKSPACE_MAX_CHOICES))
			return fundus_error_set(FUNDUS_EINVAL,
						"question '%s': needs 2 to %d choices", q->id,
						FUNDUS_WORKSPACE_MAX_CHOICES);
		if (!want && q->n_choices != 0)
			return fundus_error_set(FUNDUS_EINVAL,
						"question '%s': only choice and multi questions "
						"have choices",
						q->id);
		for (int c = 0; c < q->n_choices; c++) {
			if (q->choices[c] == NULL || q->choices[c][0] == '\0' ||
			    strlen(q->choices[c]) > FUNDUS_WORKSPACE_MAX_NAME)
				return fundus_error_set(FUNDUS_EINVAL,
							"question '%s': choice %d is empty or "
							"longer than %d bytes",
							q->id, c + 1, FUNDUS_WORKSPACE_MAX_NAME);
			for (int d = 0; d < c; d++)
				if (strcmp(q->choices[c], q->choices[d]) == 0)
					return fundus_error_set(FUNDUS_EINVAL,
								"question '%s': choice '%s' "
								"given twice",
								q->id, q->choices[c]);
		}
		for (int j = 0; j < i; j++)
			if (strcmp(cfg->questions[j].id, q->id) == 0)
				return fundus_error_set(FUNDUS_EINVAL, "question '%s' given twice",
							q->id);
	}
	if (cfg->overlap < 1 || cfg->overlap > 64)
		return fundus_error_set(FUNDUS_EINVAL, "overlap %d: expected 1 to 64",
					cfg->overlap);
	if ((unsigned)cfg->order > FUNDUS_ORDER_ACTIVE)
		return fundus_error_set(FUNDUS_EINVAL, "bad order");
	if (cfg->seed > (UINT64_C(1) << 53) - 1)
		return fundus_error_set(FUNDUS_EINVAL, "seed: expected 0 to 2^53-1");
	if (cfg->claim_minutes < 1 || cfg->claim_minutes > 100000)
		return fundus_error_set(FUNDUS_EINVAL, "claim_minutes %d: expected 1 to 100000",
					cfg->claim_minutes);
	return 0;
}

/* Turns "column N: ..." from the JSON parser into "line L, column C: ...". */
static int locate_error(int rc, const char *text, size_t len)
{
	const char *m = fundus_errmsg();
	char *end;
	unsigned long long col;
	size_t line = 1, at, last_nl = 0;
	char rest[200];

	if (strncmp(m, "column ", 7) != 0)
		return rc;
	errno = 0;
	col = strtoull(m + 7, &end, 10);
	if (errno || end == m + 7 || end[0] != ':' || col == 0)
		return rc;
	at = (size_t)col - 1;
	for (size_t i = 0; i < at && i < len; i++)
		if (text[i] == '\n') {
			line++;
			last_nl = i + 1;
		}
	snprintf(rest, sizeof rest, "%s", end + 2);
	return fundus_error_set(rc, "line %zu, column %zu: %s", line, at - last_nl + 1, rest);
}

/* The member name of a JSON value for messages: "questions[2].type". */
static int member_error(const char *where, int i, const char *what)
{
	if (i >= 0)
		return fundus_error_set(FUNDUS_EFORMAT, "%s[%d]%s", where, i, what);
	return fundus_error_set(FUNDUS_EFORMAT, "%s%s", where, what);
}

/* Reads an integer member in [lo, hi]; absent leaves *v. */
static int get_int(const cJSON *obj, const char *key, double lo, double hi, double *v)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (m == NULL)
		return 0;
	if (!cJSON_IsNumber(m) || m->valuedouble != floor(m->valuedouble) || m->valuedouble < lo ||
	    m->valuedouble > hi)
		return fundus_error_set(
		    FUNDUS_EFORMAT, "%s: expected a whole number from %.0f to %.0f", key, lo, hi);
	*v = m->valuedouble;
	return 0;
}

/* Checks that obj has only members from the NULL-terminated list allowed. */
static int only_members(const cJSON *obj, const char *where, int i, const char *const *allowed)
{
	const cJSON *m;

	cJSON_ArrayForEach(m, obj)
	{
		int ok = 0;

		for (const char *const *a = allowed; *a && !ok; a++)
			ok = strcmp(*a, m->string) == 0;
		if (!ok) {
			char what[120];

			snprintf(what, sizeof what, ": unknown member \"%.60s\"", m->string);
			return member_error(where, i, what);
		}
	}
	return 0;
}

/* Reads the labels array. */
static int parse_labels(struct fundus_workspace_config *cfg, const cJSON *arr)
{
	static const char *const allowed[] = {"name", "colour", "key", NULL};
	const cJSON *l;
	int i = 0, rc;

	if (!cJSON_IsArray(arr))
		return fundus_error_set(FUNDUS_EFORMAT, "labels: expected an array of objects");
	cJSON_ArrayForEach(l, arr)
	{
		const cJSON *name, *colour, *key;
		uint8_t rgb[3];
		int k = 0;

		if (!cJSON_IsObject(l))
			return member_error("labels", i, ": expected an object");
		if ((rc = only_members(l, "labels", i, allowed)) < 0)
			return rc;
		name = cJSON_GetObjectItemCaseSensitive(l, "name");
		colour = cJSON_GetObjectItemCaseSensitive(l, "colour");
		key = cJSON_GetObjectItemCaseSensitive(l, "key");
		if (!cJSON_IsString(name))
			return member_error("labels", i, ".name: expected a string");
		if (colour &&
		    (!cJSON_IsString(colour) ||
		     parse_colour(colour->valuestring, strlen(colour->valuestring), rgb) < 0))
			return member_error("labels", i,
					    ".colour: expected \"#rrggbb\" or a colour name");
		if (key) {
			if (!cJSON_IsString(key) || strlen(key->valuestring) != 1 ||
			    !key_ok((unsigned char)key->valuestring[0]))
				return member_error("labels", i,
						    ".key: expected one printable character");
			k = (unsigned char)key->valuestring[0];
		}
		rc = push_label(cfg, name->valuestring, strlen(name->valuestring),
				colour ? rgb : NULL, k);
		if (rc < 0)
			return rc;
		i++;
	}
	return 0;
}

/* Reads one question object into q (which it owns even on failure). */
static int parse_question(struct fundus_question *q, const cJSON *o, int i)
{
	static const char *const allowed[] = {"id", "text", "type", "scope", "choices", NULL};
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(o, "text");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
	const cJSON *scope = cJSON_GetObjectItemCaseSensitive(o, "scope");
	const cJSON *choices = cJSON_GetObjectItemCaseSensitive(o, "choices");
	const cJSON *c;
	int rc, t;

	if ((rc = only_members(o, "questions", i, allowed)) < 0)
		return rc;
	if (!cJSON_IsString(id))
		return member_error("questions", i, ".id: expected a string");
	if (text && !cJSON_IsString(text))
		return member_error("questions", i, ".text: expected a string");
	if (!cJSON_IsString(type))
		return member_error("questions", i,
				    ".type: expected \"yesno\", \"choice\", \"multi\" or \"text\"");
	for (t = 0; t < 4; t++)
		if (strcmp(type->valuestring, type_names[t]) == 0)
			break;
	if (t == 4)
		return member_error("questions", i,
				    ".type: expected \"yesno\", \"choice\", \"multi\" or \"text\"");
	q->type = (enum fundus_question_type)t;
	if (scope) {
		if (cJSON_IsString(scope) && strcmp(scope->valuestring, "image") == 0)
			q->scope = FUNDUS_SCOPE_IMAGE;
		else if (cJSON_IsString(scope) && strcmp(scope->valuestring, "box") == 0)
			q->scope = FUNDUS_SCOPE_BOX;
		else
			return member_error("questions", i,
					    ".scope: expected \"image\" or \"box\"");
	}
	if ((q->id = fundus_strdup(id->valuestring)) == NULL ||
	    (q->text = fundus_strdup(text ? text->valuestring : id->valuestring)) == NULL)
		return FUNDUS_ENOMEM;
	if (choices) {
		if (!cJSON_IsArray(choices))
			return member_error("questions", i,
					    ".choices: expected an array of strings");
		q->choices = fundus_calloc(FUNDUS_WORKSPACE_MAX_CHOICES, sizeof *q->choices);
		if (q->choices == NULL)
			return FUNDUS_ENOMEM;
		cJSON_ArrayForEach(c, choices)
		{
			if (!cJSON_IsString(c) || q->n_choices == FUNDUS_WORKSPACE_MAX_CHOICES)
				return member_error(
				    "questions", i,
				    ".choices: expected an array of 2 to 9 strings");
			if ((q->choices[q->n_choices] = fundus_strdup(c->valuestring)) == NULL)
				return FUNDUS_ENOMEM;
			q->n_choices++;
		}
	}
	return 0;
}

int fundus_workspace_config_parse(const char *text, size_t len,
				  struct fundus_workspace_config **out)
{
	static const char *const allowed[] = {"fundus_workspace", "labels", "questions",
					      "overlap",          "order",  "seed",
					      "claim_minutes",    NULL};
	struct fundus_workspace_config *cfg = NULL;
	const cJSON *m, *q;
	cJSON *root = NULL;
	double v;
	int rc, i;

	*out = NULL;
	rc = fundus__json_parse(text, len, 16, &root);
	if (rc < 0)
		return locate_error(rc, text, len);
	if (!cJSON_IsObject(root)) {
		rc = fundus_error_set(FUNDUS_EFORMAT, "expected a JSON object");
		goto done;
	}
	if ((rc = fundus_workspace_config_new(&cfg)) < 0)
		goto done;
	if ((rc = only_members(root, "", -1, allowed)) < 0)
		goto done;
	v = FUNDUS_WORKSPACE_VERSION;
	if ((rc = get_int(root, "fundus_workspace", 1, 1e6, &v)) < 0)
		goto done;
	if (v > FUNDUS_WORKSPACE_VERSION) {
		rc = fundus_error_set(FUNDUS_EUNSUPPORTED,
				      "workspace version %.0f is newer than this fundus (%d)", v,
				      FUNDUS_WORKSPACE_VERSION);
		goto done;
	}
	m = cJSON_GetObjectItemCaseSensitive(root, "labels");
	if (m == NULL) {
		rc = fundus_error_set(FUNDUS_EFORMAT, "labels: missing");
		goto done;
	}
	if ((rc = parse_labels(cfg, m)) < 0)
		goto done;
	m = cJSON_GetObjectItemCaseSensitive(root, "questions");
	if (m && !cJSON_IsArray(m)) {
		rc = fundus_error_set(FUNDUS_EFORMAT, "questions: expected an array of objects");
		goto done;
	}
	i = 0;
	cJSON_ArrayForEach(q, m)
	{
		struct fundus_question one = {0};

		if (!cJSON_IsObject(q)) {
			rc = member_error("questions", i, ": expected an object");
			goto done;
		}
		if ((rc = parse_question(&one, q, i)) < 0) {
			question_clear(&one);
			goto done;
		}
		if ((rc = push_question(cfg, &one)) < 0)
			goto done;
		i++;
	}
	v = cfg->overlap;
	if ((rc = get_int(root, "overlap", 1, 64, &v)) < 0)
		goto done;
	cfg->overlap = (int)v;
	v = (double)cfg->seed;
	if ((rc = get_int(root, "seed", 0, 9007199254740991.0, &v)) < 0)
		goto done;
	cfg->seed = (uint64_t)v;
	v = cfg->claim_minutes;
	if ((rc = get_int(root, "claim_minutes", 1, 100000, &v)) < 0)
		goto done;
	cfg->claim_minutes = (int)v;
	m = cJSON_GetObjectItemCaseSensitive(root, "order");
	if (m) {
		int o;

		for (o = 0; o < 3; o++)
			if (cJSON_IsString(m) && strcmp(m->valuestring, order_names[o]) == 0)
				break;
		if (o == 3) {
			rc = fundus_error_set(FUNDUS_EFORMAT,
					      "order: expected \"sequential\", \"shuffle\" or "
					      "\"active\"");
			goto done;
		}
		cfg->order = (enum fundus_order)o;
	}
	if ((rc = fundus_workspace_config_check(cfg)) < 0)
		rc = fundus__ws_error_prefix(FUNDUS_EFORMAT, "");
done:
	cJSON_Delete(root);
	if (rc < 0) {
		fundus_workspace_config_free(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

/* Appends an array of compact objects, one per line, as a member of the top level. */
static int put_array(struct fundus__jbuf *b, const char *key, cJSON *arr)
{
	struct fundus__jpath path = {{0}, 0};
	const cJSON *e;
	int rc;

	if ((rc = fundus__jbuf_put(b, "  \"", 3)) < 0 ||
	    (rc = fundus__jbuf_put(b, key, strlen(key))) < 0 ||
	    (rc = fundus__jbuf_put(b, "\": [", 4)) < 0)
		return rc;
	cJSON_ArrayForEach(e, arr)
	{
		if ((rc = fundus__jbuf_put(b, "\n    ", 5)) < 0 ||
		    (rc = fundus__json_write_value(b, e, &path)) < 0 ||
		    (e->next && (rc = fundus__jbuf_put(b, ",", 1)) < 0))
			return rc;
	}
	if (arr->child)
		return fundus__jbuf_put(b, "\n  ],\n", 6);
	return fundus__jbuf_put(b, "],\n", 3);
}

int fundus_workspace_config_format(const struct fundus_workspace_config *cfg, char **text)
{
	static const char head[] = "{\n  \"fundus_workspace\": 1,\n";
	struct fundus__jbuf b = {0};
	cJSON *labels = NULL, *questions = NULL;
	char tail[300];
	int rc;

	*text = NULL;
	if ((rc = fundus_workspace_config_check(cfg)) < 0)
		return rc;
	fundus__json_init();
	labels = cJSON_CreateArray();
	questions = cJSON_CreateArray();
	if (labels == NULL || questions == NULL)
		goto nomem;
	for (int i = 0; i < cfg->n_labels; i++) {
		const struct fundus_label *l = &cfg->labels[i];
		cJSON *o = cJSON_CreateObject();
		char hex[8], key[2] = {(char)l->key, 0};

		snprintf(hex, sizeof hex, "#%02x%02x%02x", l->colour[0], l->colour[1],
			 l->colour[2]);
		if (o == NULL || !cJSON_AddItemToArray(labels, o) ||
		    !cJSON_AddStringToObject(o, "name", l->name) ||
		    !cJSON_AddStringToObject(o, "colour", hex) ||
		    (l->key && !cJSON_AddStringToObject(o, "key", key)))
			goto nomem;
	}
	for (int i = 0; i < cfg->n_questions; i++) {
		const struct fundus_question *q = &cfg->questions[i];
		cJSON *o = cJSON_CreateObject(), *ch;

		if (o == NULL || !cJSON_AddItemToArray(questions, o) ||
		    !cJSON_AddStringToObject(o, "id", q->id) ||
		    !cJSON_AddStringToObject(o, "text", q->text) ||
		    !cJSON_AddStringToObject(o, "type", type_names[q->type]) ||
		    !cJSON_AddStringToObject(o, "scope",
					     q->scope == FUNDUS_SCOPE_BOX ? "box" : "image"))
			goto nomem;
		if (q->n_choices) {
			if ((ch = cJSON_AddArrayToObject(o, "choices")) == NULL)
				goto nomem;
			for (int c = 0; c < q->n_choices; c++) {
				cJSON *str = cJSON_CreateString(q->choices[c]);

				if (str == NULL || !cJSON_AddItemToArray(ch, str))
					goto nomem;
			}
		}
	}
	/* Indented by hand, one label or question per line: people edit this file. */
	snprintf(tail, sizeof tail,
		 "  \"overlap\": %d,\n  \"order\": \"%s\",\n  \"seed\": %llu,\n"
		 "  \"claim_minutes\": %d\n}\n",
		 cfg->overlap, order_names[cfg->order], (unsigned long long)cfg->seed,
		 cfg->claim_minutes);
	if ((rc = fundus__jbuf_put(&b, head, sizeof head - 1)) < 0 ||
	    (rc = put_array(&b, "labels", labels)) < 0 ||
	    (rc = put_array(&b, "questions", questions)) < 0 ||
	    (rc = fundus__jbuf_put(&b, tail, strlen(tail))) < 0) {
		cJSON_Delete(labels);
		cJSON_Delete(questions);
		fundus_free(b.data);
		return rc;
	}
	cJSON_Delete(labels);
	cJSON_Delete(questions);
	*text = b.data;
	return 0;
nomem:
	cJSON_Delete(labels);
	cJSON_Delete(questions);
	return fundus_error_set(FUNDUS_ENOMEM, "out of memory");
}

const struct fundus_question *
fundus_workspace_config_question(const struct fundus_workspace_config *cfg, const char *id)
{
	for (int i = 0; i < cfg->n_questions; i++)
		if (strcmp(cfg->questions[i].id, id) == 0)
			return &cfg->questions[i];
	return NULL;
}

const struct fundus_question *fundus__ws_question(const struct fundus_workspace_config *cfg,
						  const char *id, enum fundus_question_scope scope)
{
	const struct fundus_question *q = fundus_workspace_config_question(cfg, id);

	return q && q->scope == scope ? q : NULL;
}

const struct fundus_label *fundus_workspace_config_label(const struct fundus_workspace_config *cfg,
							 const char *name)
{
	for (int i = 0; i < cfg->n_labels; i++)
		if (strcmp(cfg->labels[i].name, name) == 0)
			return &cfg->labels[i];
	return NULL;
}

/* The index of choice s of q, or -1. */
static int choice_index(const struct fundus_question *q, const char *s)
{
	for (int c = 0; c < q->n_choices; c++)
		if (strcmp(q->choices[c], s) == 0)
			return c;
	return -1;
}

int fundus_question_check_value(const struct fundus_question *q, const cJSON *v)
{
	const cJSON *e;
	unsigned seen = 0;

	switch (q->type) {
	case FUNDUS_QUESTION_YESNO:
		if (cJSON_IsString(v) &&
		    (strcmp(v->valuestring, "yes") == 0 || strcmp(v->valuestring, "no") == 0))
			return 0;
		return fundus_error_set(FUNDUS_EINVAL, "%s: expected \"yes\" or \"no\"", q->id);
	case FUNDUS_QUESTION_CHOICE:
		if (cJSON_IsString(v) && choice_index(q, v->valuestring) >= 0)
			return 0;
		return fundus_error_set(FUNDUS_EINVAL, "%s: expected one of its choices", q->id);
	case FUNDUS_QUESTION_MULTI:
		if (!cJSON_IsArray(v))
			return fundus_error_set(FUNDUS_EINVAL, "%s: expected an array of choices",
						q->id);
		cJSON_ArrayForEach(e, v)
		{
			int c = cJSON_IsString(e) ? choice_index(q, e->valuestring) : -1;

			if (c < 0 || (seen & (1u << c)))
				return fundus_error_set(FUNDUS_EINVAL,
							"%s: expected an array of distinct choices",
							q->id);
			seen |= 1u << c;
		}
		return 0;
	case FUNDUS_QUESTION_TEXT:
		if (cJSON_IsString(v) && strlen(v->valuestring) <= 1000)
			return 0;
		return fundus_error_set(FUNDUS_EINVAL,
					"%s: expected a string of at most 1000 bytes", q->id);
	}
	return fundus_error_set(FUNDUS_EINVAL, "%s: bad question type", q->id);
}

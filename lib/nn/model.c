/*
 * Model files (fundus-model(5)). Every number is written byte by byte in
 * little-endian order, never by dumping a struct, and every chunk carries
 * a CRC-32, so a file written on one machine loads on any other and damage
 * is found before anything is built from it.
 *
 *   header  8 bytes magic 89 46 4e 4e 0d 0a 1a 0a, u32 version, u32 CRC of those 12
 *   chunks  u32 type, u32 length, payload, u32 CRC of type, length and payload:
 *           DESC (the description), INPT (input size and normalisation),
 *           LABL (labels), TENS (one per tensor), END (the tensor count)
 *
 * The loader trusts nothing: every length is checked against what is left
 * before it is used, and the tensors must be exactly the network's, with
 * the network's shapes.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fundus/file.h"
#include "nn/internal.h"

static const uint8_t magic[8] = {0x89, 'F', 'N', 'N', '\r', '\n', 0x1a, '\n'};

#define MAX_DESC ((uint32_t)1 << 20)

/* A growing output buffer; the first failure sticks. */
struct out {
	uint8_t *p;
	size_t len, cap;
	int rc;
};

/* Makes room for n more bytes. */
static int reserve(struct out *o, size_t n)
{
	size_t need, cap;
	uint8_t *p;

	if (o->rc < 0)
		return o->rc;
	if (fundus_size_add(&need, o->len, n) < 0)
		return o->rc = FUNDUS_EOVERFLOW;
	if (need <= o->cap)
		return 0;
	cap = o->cap ? o->cap : 4096;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = fundus_realloc(o->p, cap);
	if (p == NULL)
		return o->rc = FUNDUS_ENOMEM;
	o->p = p;
	o->cap = cap;
	return 0;
}

/* Appends n bytes. */
static void put_bytes(struct out *o, const void *data, size_t n)
{
	if (reserve(o, n) == 0) {
		memcpy(o->p + o->len, data, n);
		o->len += n;
	}
}

/* Writes v as 4 little-endian bytes at q. */
static void le32(uint8_t *q, uint32_t v)
{
	q[0] = (uint8_t)v;
	q[1] = (uint8_t)(v >> 8);
	q[2] = (uint8_t)(v >> 16);
	q[3] = (uint8_t)(v >> 24);
}

/* Appends a little-endian u32. */
static void put_u32(struct out *o, uint32_t v)
{
	uint8_t b[4];

	le32(b, v);
	put_bytes(o, b, 4);
}

/* Appends a float as its little-endian bits. */
static void put_f32(struct out *o, float f)
{
	uint32_t v;

	memcpy(&v, &f, 4);
	put_u32(o, v);
}

/* Reads a little-endian u32. */
static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Reads a float from its little-endian bits. */
static float get_f32(const uint8_t *p)
{
	uint32_t v = get_u32(p);
	float f;

	memcpy(&f, &v, 4);
	return f;
}

/* Starts a chunk; returns where it starts, for end_chunk(). */
static size_t begin_chunk(struct out *o, const char *type)
{
	size_t at = o->len;

	put_bytes(o, type, 4);
	put_u32(o, 0);
	return at;
}

/* Writes the chunk's length and appends its CRC. */
static void end_chunk(struct out *o, size_t at)
{
	size_t n;

	if (o->rc < 0)
		return;
	n = o->len - at - 8;
	if (n > UINT32_MAX) {
		o->rc = fundus_error_set(FUNDUS_ELIMIT, "a chunk of %zu bytes", n);
		return;
	}
	o->p[at + 4] = (uint8_t)n;
	o->p[at + 5] = (uint8_t)(n >> 8);
	o->p[at + 6] = (uint8_t)(n >> 16);
	o->p[at + 7] = (uint8_t)(n >> 24);
	put_u32(o, fundus__crc32(0, o->p + at, n + 8));
}

int fundus_net_save_buffer(const struct fundus_net *net, uint8_t **data, size_t *len)
{
	struct out o = {0};
	size_t at;

	*data = NULL;
	*len = 0;
	put_bytes(&o, magic, sizeof magic);
	put_u32(&o, FUNDUS_MODEL_VERSION);
	if (o.rc == 0)
		put_u32(&o, fundus__crc32(0, o.p, 12));

	at = begin_chunk(&o, "DESC");
	put_bytes(&o, net->desc, net->desc_len);
	end_chunk(&o, at);

	at = begin_chunk(&o, "INPT");
	put_u32(&o, (uint32_t)net->input.width);
	put_u32(&o, (uint32_t)net->input.height);
	put_u32(&o, (uint32_t)net->input.channels);
	for (int c = 0; c < 4; c++)
		put_f32(&o, net->input.mean[c]);
	for (int c = 0; c < 4; c++)
		put_f32(&o, net->input.std[c]);
	end_chunk(&o, at);

	at = begin_chunk(&o, "LABL");
	put_u32(&o, (uint32_t)net->nlabels);
	for (int i = 0; i < net->nlabels; i++) {
		size_t n = strlen(net->labels[i]);

		put_u32(&o, (uint32_t)n);
		put_bytes(&o, net->labels[i], n);
	}
	end_chunk(&o, at);

	for (int i = 0; i < net->ntensors; i++) {
		const struct fundus__tensor *t = &net->tensors[i];
		size_t n = strlen(t->name);

		at = begin_chunk(&o, "TENS");
		put_u32(&o, (uint32_t)n);
		put_bytes(&o, t->name, n);
		put_u32(&o, 1); /* float32, little-endian */
		put_u32(&o, (uint32_t)t->ndim);
		for (int d = 0; d < t->ndim; d++)
			put_u32(&o, (uint32_t)t->dims[d]);
		if (reserve(&o, t->count * 4) == 0) {
			uint8_t *q = o.p + o.len;

			/* In place, not put_f32() per value; little-endian on any machine. */
			for (size_t k = 0; k < t->count; k++, q += 4) {
				uint32_t v;

				memcpy(&v, &t->data[k], 4);
				le32(q, v);
			}
			o.len += t->count * 4;
		}
		end_chunk(&o, at);
	}

	at = begin_chunk(&o, "END ");
	put_u32(&o, (uint32_t)net->ntensors);
	end_chunk(&o, at);

	if (o.rc < 0) {
		fundus_free(o.p);
		return o.rc;
	}
	*data = o.p;
	*len = o.len;
	return 0;
}

int fundus_net_save(const struct fundus_net *net, const char *path)
{
	uint8_t *buf;
	size_t len;
	int rc = fundus_net_save_buffer(net, &buf, &len);

	if (rc < 0)
		return rc;
	rc = fundus_file_write_atomic(path, buf, len);
	fundus_free(buf);
	return rc;
}

/* A chunk type fit to print: its four bytes, with '?' for the unprintable. */
static void type_name(const uint8_t *p, char out[5])
{
	for (int i = 0; i < 4; i++)
		out[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	out[4] = '\0';
}

/* Well-formed UTF-8 without control characters. */
static int good_text(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = s[i];
		size_t k;
		uint32_t cp;

		if (c < 0x20 || c == 0x7f)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			k = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			k = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 3, cp = c & 0x07;
		else
			return 0;
		if (n - i <= k)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return 0;
		i += k + 1;
	}
	return 1;
}

/* Writes "16x3x3x3" into buf. */
static void shape_text(char *buf, size_t size, int ndim, const uint32_t *dims)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int d = 0; d < ndim && used < size; d++)
		used += (size_t)snprintf(buf + used, size - used, d ? "x%u" : "%u", dims[d]);
}

/* Reads the INPT chunk. */
static int read_input(struct fundus_net *net, const uint8_t *p, uint32_t n)
{
	struct fundus_net_input in;
	uint32_t w, h, c;

	if (n != 44)
		return fundus_error_set(FUNDUS_EFORMAT, "chunk INPT: %u bytes, expected 44", n);
	w = get_u32(p);
	h = get_u32(p + 4);
	c = get_u32(p + 8);
	if (w < 1 || h < 1 || w > FUNDUS_NET_MAX_SIZE || h > FUNDUS_NET_MAX_SIZE)
		return fundus_error_set(FUNDUS_EFORMAT, "chunk INPT: bad input size %ux%u", w, h);
	if (c != (uint32_t)net->input.channels)
		return fundus_error_set(FUNDUS_EFORMAT,
					"chunk INPT: %u channels, the network takes %d", c,
					net->input.channels);
	in.width = (int)w;
	in.height = (int)h;
	in.channels = (int)c;
	for (int k = 0; k < 4; k++) {
		in.mean[k] = get_f32(p + 12 + 4 * k);
		in.std[k] = get_f32(p + 28 + 4 * k);
		if (!isfinite(in.mean[k]) || !isfinite(in.std[k]) || in.std[k] == 0)
			return fundus_error_set(FUNDUS_EFORMAT,
						"chunk INPT: bad normalisation of channel %d", k);
	}
	net->input = in;
	return 0;
}

/* Reads the LABL chunk. */
static int read_labels(struct fundus_net *net, const uint8_t *p, uint32_t n)
{
	uint32_t count, at = 4;

	if (n < 4)
		return fundus_error_set(FUNDUS_EFORMAT, "chunk LABL: too short");
	count = get_u32(p);
	if (count > FUNDUS_NET_MAX_LABELS)
		return fundus_error_set(FUNDUS_EFORMAT, "chunk LABL: %u labels (at most %d)", count,
					FUNDUS_NET_MAX_LABELS);
	net->labels = fundus_calloc(count ? count : 1, sizeof *net->labels);
	if (net->labels == NULL)
		return FUNDUS_ENOMEM;
	for (uint32_t i = 0; i < count; i++) {
		uint32_t len;

		if (n - at < 4)
			return fundus_error_set(FUNDUS_EFORMAT, "chunk LABL: label %u is cut off",
						i);
		len = get_u32(p + at);
		at += 4;
		if (len < 1 || len > 255 || n - at < len)
			return fundus_error_set(
			    FUNDUS_EFORMAT, "chunk LABL: label %u has a bad length (%u)", i, len);
		if (!good_text(p + at, len))
			return fundus_error_set(FUNDUS_EFORMAT,
						"chunk LABL: label %u is not printable UTF-8", i);
		net->labels[i] = fundus_strndup((const char *)p + at, len);
		if (net->labels[i] == NULL)
			return FUNDUS_ENOMEM;
		net->nlabels++;
		at += len;
	}
	if (at != n)
		return fundus_error_set(FUNDUS_EFORMAT, "chunk LABL: %u bytes after the labels",
					n - at);
	return 0;
}

/* Reads one TENS chunk into the network's tensor of that name. */
static int read_tensor(struct fundus_net *net, const uint8_t *p, uint32_t n, uint8_t *seen)
{
	char name[FUNDUS_NET_MAX_NAME], have[96], want[96];
	uint32_t nlen, dtype, ndim, dims[4], at;
	struct fundus__tensor *t;
	int i, same;

	if (n < 4 || (nlen = get_u32(p)) < 1 || nlen >= FUNDUS_NET_MAX_NAME || n - 4 < nlen)
		return fundus_error_set(FUNDUS_EFORMAT, "chunk TENS: bad name length");
	memcpy(name, p + 4, nlen);
	name[nlen] = '\0';
	if (!good_text(p + 4, nlen))
		return fundus_error_set(FUNDUS_EFORMAT, "chunk TENS: the name is not printable");
	at = 4 + nlen;
	if (n - at < 8)
		return fundus_error_set(FUNDUS_EFORMAT, "tensor %s: header cut off", name);
	dtype = get_u32(p + at);
	ndim = get_u32(p + at + 4);
	at += 8;
	if (dtype != 1)
		return fundus_error_set(FUNDUS_EFORMAT, "tensor %s: unknown data type %u", name,
					dtype);
	if (ndim < 1 || ndim > 4 || n - at < 4 * ndim)
		return fundus_error_set(FUNDUS_EFORMAT, "tensor %s: bad dimension count %u", name,
					ndim);
	for (uint32_t d = 0; d < ndim; d++)
		dims[d] = get_u32(p + at + 4 * d);
	at += 4 * ndim;
	i = fundus_net_find_tensor(net, name);
	if (i < 0)
		return fundus_error_set(FUNDUS_EFORMAT, "tensor %s: not in the network", name);
	if (seen[i])
		return fundus_error_set(FUNDUS_EFORMAT, "tensor %s: given twice", name);
	t = &net->tensors[i];
	same = (int)ndim == t->ndim;
	for (uint32_t d = 0; d < ndim && same; d++)
		same = dims[d] == (uint32_t)t->dims[d];
	if (!same) {
		uint32_t td[4];

		for (int d = 0; d < t->ndim; d++)
			td[d] = (uint32_t)t->dims[d];
		shape_text(have, sizeof have, (int)ndim, dims);
		shape_text(want, sizeof want, t->ndim, td);
		return fundus_error_set(FUNDUS_EFORMAT,
					"tensor %s: shape %s does not match the network (%s)", name,
					have, want);
	}
	if ((size_t)(n - at) != t->count * 4)
		return fundus_error_set(FUNDUS_EFORMAT, "tensor %s: %u bytes of data, expected %zu",
					name, n - at, t->count * 4);
	for (size_t k = 0; k < t->count; k++) {
		float v = get_f32(p + at + 4 * k);

		if (!isfinite(v))
			return fundus_error_set(
			    FUNDUS_EFORMAT, "tensor %s: value %zu is not a finite number", name, k);
		t->data[k] = v;
	}
	seen[i] = 1;
	return 0;
}

/* Builds the network from the DESC chunk, with "description: " before any error. */
static int read_desc(struct fundus_net **net, const uint8_t *p, uint32_t n)
{
	char msg[512];
	int rc;

	if (n > MAX_DESC)
		return fundus_error_set(FUNDUS_EFORMAT, "chunk DESC: %u bytes (at most %u)", n,
					MAX_DESC);
	rc = fundus__net_build(net, (const char *)p, n);
	if (rc < 0 && rc != FUNDUS_ENOMEM) {
		snprintf(msg, sizeof msg, "%s", fundus_errmsg());
		return fundus_error_set(rc == FUNDUS_ELIMIT ? rc : FUNDUS_EFORMAT,
					"description: %s", msg);
	}
	return rc;
}

int fundus_net_load_buffer(struct fundus_net **out, const void *data, size_t len)
{
	static const char *const order[] = {"DESC", "INPT", "LABL"};
	const uint8_t *p = data;
	struct fundus_net *net = NULL;
	uint8_t *seen = NULL;
	size_t pos = 16;
	uint32_t version;
	int rc = 0, nchunks = 0, ended = 0;

	*out = NULL;
	if (len < 8 || memcmp(p, magic, 8) != 0)
		return fundus_error_set(FUNDUS_EFORMAT, "not a fundus model (bad magic)");
	if (len < 16)
		return fundus_error_set(FUNDUS_EFORMAT, "truncated in the header");
	if (len > FUNDUS_MODEL_MAX_BYTES)
		return fundus_error_set(FUNDUS_ELIMIT, "larger than %zu bytes",
					FUNDUS_MODEL_MAX_BYTES);
	if (fundus__crc32(0, p, 12) != get_u32(p + 12))
		return fundus_error_set(FUNDUS_EFORMAT, "header checksum mismatch");
	version = get_u32(p + 8);
	if (version > FUNDUS_MODEL_VERSION)
		return fundus_error_set(FUNDUS_EUNSUPPORTED,
					"model version %u is newer than this library reads (%d)",
					version, FUNDUS_MODEL_VERSION);
	if (version < 1)
		return fundus_error_set(FUNDUS_EFORMAT, "bad model version %u", version);
	while (rc == 0 && !ended) {
		char type[5];
		uint32_t n;
		const uint8_t *payload;

		if (len - pos < 8) {
			rc = fundus_error_set(FUNDUS_EFORMAT,
					      "truncated at byte %zu: the end marker is missing",
					      len);
			break;
		}
		type_name(p + pos, type);
		n = get_u32(p + pos + 4);
		if (len - pos - 8 < 4 || n > len - pos - 12) {
			rc = fundus_error_set(FUNDUS_EFORMAT,
					      "truncated: chunk %s at byte %zu needs %u bytes, %zu "
					      "are left",
					      type, pos, n, len - pos - 8 < 4 ? 0 : len - pos - 12);
			break;
		}
		if (fundus__crc32(0, p + pos, (size_t)n + 8) != get_u32(p + pos + 8 + n)) {
			rc = fundus_error_set(FUNDUS_EFORMAT,
					      "chunk %s at byte %zu: checksum mismatch", type, pos);
			break;
		}
		payload = p + pos + 8;
		if (nchunks < 3) {
			if (memcmp(p + pos, order[nchunks], 4) != 0) {
				rc = fundus_error_set(FUNDUS_EFORMAT,
						      "chunk %s at byte %zu: expected %s", type,
						      pos, order[nchunks]);
				break;
			}
			if (nchunks == 0) {
				rc = read_desc(&net, payload, n);
				if (rc == 0) {
					seen = fundus_calloc((size_t)net->ntensors + 1, 1);
					if (seen == NULL)
						rc = FUNDUS_ENOMEM;
				}
			} else if (nchunks == 1) {
				rc = read_input(net, payload, n);
			} else {
				rc = read_labels(net, payload, n);
			}
		} else if (memcmp(p + pos, "TENS", 4) == 0) {
			rc = read_tensor(net, payload, n, seen);
		} else if (memcmp(p + pos, "END ", 4) == 0) {
			if (n != 4 || get_u32(payload) != (uint32_t)net->ntensors)
				rc = fundus_error_set(
				    FUNDUS_EFORMAT, "chunk END at byte %zu: bad tensor count", pos);
			ended = 1;
		} else {
			rc = fundus_error_set(FUNDUS_EFORMAT, "unknown chunk %s at byte %zu", type,
					      pos);
		}
		pos += (size_t)n + 12;
		nchunks++;
	}
	if (rc == 0 && pos != len)
		rc = fundus_error_set(FUNDUS_EFORMAT, "%zu bytes after the end marker", len - pos);
	for (int i = 0; rc == 0 && i < net->ntensors; i++)
		if (!seen[i])
			rc = fundus_error_set(FUNDUS_EFORMAT, "tensor %s is missing",
					      net->tensors[i].name);
	fundus_free(seen);
	if (rc < 0) {
		fundus_net_free(net);
		return rc;
	}
	*out = net;
	return 0;
}

int fundus_net_load(struct fundus_net **out, const char *path)
{
	struct fundus_file_map *map;
	int rc;

	*out = NULL;
	rc = fundus_file_map(path, &map);
	if (rc < 0)
		return rc;
	rc = fundus_net_load_buffer(out, map->data, map->size);
	fundus_file_unmap(map);
	return rc;
}

/*
 * Networks: building one from its description (sections to layers, inputs
 * resolved, shapes checked, tensors declared and initialised), and what
 * can be asked of it afterwards.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/internal.h"

const struct fundus__layer_type *const fundus__layer_types[] = {
    &fundus__conv_type,
    &fundus__batchnorm_type,
    &fundus__activation_type,
    &fundus__maxpool_type,
    &fundus__avgpool_type,
    &fundus__gap_type,
    &fundus__upsample_type,
    &fundus__route_type,
    &fundus__shortcut_type,
    &fundus__yolo_type,
    &fundus__centre_type,
    NULL,
};

/* The keys of the [net] section. */
struct net_spec {
	int width, height, channels;
	int preprocess;
	float lcn_sigma;
};

/* How the programs that feed a network prepare its input (fundus/detect.h). */
static const char *const preprocess_names[] = {"none", "lcn", NULL};
static const int preprocess_values[] = {0, 1};

static const struct fundus__key net_keys[] = {
    FUNDUS__K_INT("width", struct net_spec, width, 1, 0, 1, FUNDUS_NET_MAX_SIZE),
    FUNDUS__K_INT("height", struct net_spec, height, 1, 0, 1, FUNDUS_NET_MAX_SIZE),
    FUNDUS__K_INT("channels", struct net_spec, channels, 0, 3, 1, FUNDUS_NET_MAX_CHANNELS),
    FUNDUS__K_ENUM("preprocess", struct net_spec, preprocess, 0, 0, preprocess_names,
		   preprocess_values),
    FUNDUS__K_FLOAT("lcn_sigma", struct net_spec, lcn_sigma, 0, 0.1, 0.001, 1),
    FUNDUS__K_END,
};

void fundus_net_defaults(struct fundus_net_params *p)
{
	memset(p, 0, sizeof *p);
	p->seed = 1;
}

const char *fundus_net_builtin(const char *name)
{
	for (int i = 0; fundus__builtin_nets[i].name; i++)
		if (strcmp(fundus__builtin_nets[i].name, name) == 0)
			return fundus__builtin_nets[i].text;
	return NULL;
}

const char *fundus_net_builtin_name(int i)
{
	for (int j = 0; fundus__builtin_nets[j].name; j++)
		if (j == i)
			return fundus__builtin_nets[j].name;
	return NULL;
}

/* Frees the key = value options of a section. */
static void free_options(struct fundus__option *opts, int n)
{
	for (int j = 0; j < n; j++) {
		fundus_free(opts[j].key);
		fundus_free(opts[j].value);
	}
	fundus_free(opts);
}

void fundus_net_free(struct fundus_net *net)
{
	if (net == NULL)
		return;
	free_options(net->opts, net->nopts);
	for (int i = 0; i < net->nlayers; i++) {
		struct fundus__layer *l = &net->layers[i];

		free_options(l->opts, l->nopts);
		fundus_free(l->spec);
		if (net->fold_w)
			fundus_free(net->fold_w[i]);
		if (net->fold_b)
			fundus_free(net->fold_b[i]);
	}
	for (int i = 0; i < net->ntensors; i++)
		fundus_free(net->tensors[i].data);
	for (int i = 0; i < net->nlabels; i++)
		fundus_free(net->labels[i]);
	fundus_free(net->labels);
	fundus_free(net->fold_w);
	fundus_free(net->fold_b);
	fundus_free(net->tensors);
	fundus_free(net->layers);
	fundus_free(net->outputs);
	fundus_free(net->desc);
	pthread_mutex_destroy(&net->fold_mu);
	fundus_free(net);
}

int fundus__layer_ref(const struct fundus__layer *l, int ref, int *out)
{
	int j = ref < 0 ? l->index + ref : ref;

	if (j < 0 || j >= l->index)
		return fundus_error_set(FUNDUS_EFORMAT,
					"line %d: [%s]: layer %d does not come before this one "
					"(layer %d)",
					l->line, l->type->name, ref, l->index);
	*out = j;
	return 0;
}

int fundus__layer_add_tensor(struct fundus_net *net, struct fundus__layer *l, const char *suffix,
			     int ndim, const int *dims, int trainable, int decay, int init,
			     int fan_in)
{
	struct fundus__tensor *t;
	size_t count = 1;

	if (l->ntensors >= FUNDUS__MAX_TENSORS)
		return fundus_error_set(FUNDUS_EINVAL, "too many tensors in one layer");
	for (int i = 0; i < ndim; i++)
		if (fundus_size_mul(&count, count, (size_t)dims[i]) < 0)
			return FUNDUS_EOVERFLOW;
	if (net->ntensors == net->tensors_cap) {
		int cap = net->tensors_cap ? 2 * net->tensors_cap : 16;

		t = fundus_realloc(net->tensors, (size_t)cap * sizeof *t);
		if (t == NULL)
			return FUNDUS_ENOMEM;
		net->tensors = t;
		net->tensors_cap = cap;
	}
	if (l->ntensors == 0)
		l->tensor0 = net->ntensors;
	t = &net->tensors[net->ntensors];
	memset(t, 0, sizeof *t);
	snprintf(t->name, sizeof t->name, "%s%d.%s", l->type->prefix, l->index, suffix);
	t->ndim = ndim;
	for (int i = 0; i < 4; i++)
		t->dims[i] = i < ndim ? dims[i] : 1;
	t->count = count;
	t->trainable = trainable;
	t->decay = decay;
	t->layer = l->index;
	t->init = init;
	t->fan_in = fan_in;
	net->ntensors++;
	l->ntensors++;
	return 0;
}

int fundus__net_shapes(const struct fundus_net *net, int h, int w, int *hs, int *ws)
{
	for (int i = 0; i < net->nlayers; i++) {
		const struct fundus__layer *l = &net->layers[i];
		int ih[FUNDUS__MAX_INPUTS], iw[FUNDUS__MAX_INPUTS], rc;

		for (int j = 0; j < l->ninputs; j++) {
			int k = l->inputs[j];

			ih[j] = k < 0 ? h : hs[k];
			iw[j] = k < 0 ? w : ws[k];
		}
		rc = l->type->shape(net, l, ih, iw, &hs[i], &ws[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Gives every tensor its initial values: He-uniform weights, ones, zeros. */
static void init_tensors(struct fundus_net *net, uint64_t seed)
{
	struct fundus_rng rng;

	fundus_rng_seed(&rng, seed);
	for (int i = 0; i < net->ntensors; i++) {
		struct fundus__tensor *t = &net->tensors[i];
		/* Each tensor its own stream: adding a layer leaves the others' values. */
		struct fundus_rng r = fundus_rng_split(&rng, (uint64_t)i);
		double bound = t->fan_in > 0 ? sqrt(6.0 / t->fan_in) : 0;

		for (size_t j = 0; j < t->count; j++)
			t->data[j] = t->init == FUNDUS__INIT_ONE ? 1.0f
				     : t->init == FUNDUS__INIT_HE
					 ? (float)fundus_rng_range(&r, -bound, bound)
					 : 0.0f;
	}
}

/* Builds the layers from the sections after [net]. */
static int build_layers(struct fundus_net *net, struct fundus__section *secs, int nsecs)
{
	net->layers = fundus_calloc((size_t)(nsecs > 1 ? nsecs - 1 : 1), sizeof *net->layers);
	if (net->layers == NULL)
		return FUNDUS_ENOMEM;
	for (int i = 1; i < nsecs; i++) {
		struct fundus__section *sec = &secs[i];
		struct fundus__layer *l = &net->layers[net->nlayers];
		const struct fundus__layer_type *type = NULL;
		char what[32];
		int rc;

		for (int k = 0; fundus__layer_types[k]; k++)
			if (strcmp(fundus__layer_types[k]->name, sec->name) == 0)
				type = fundus__layer_types[k];
		if (type == NULL) {
			if (strcmp(sec->name, "net") == 0 || strcmp(sec->name, "network") == 0)
				return fundus_error_set(FUNDUS_EFORMAT, "line %d: [%s] given twice",
							sec->line, sec->name);
			return fundus_error_set(FUNDUS_EFORMAT, "line %d: unknown section [%s]",
						sec->line, sec->name);
		}
		l->type = type;
		l->index = net->nlayers;
		l->line = sec->line;
		/* Take the options: they answer fundus_net_layer_option(). */
		l->opts = sec->opts;
		l->nopts = sec->nopts;
		sec->opts = NULL;
		sec->nopts = 0;
		net->nlayers++;
		l->spec = fundus_calloc(1, type->spec_size ? type->spec_size : 1);
		if (l->spec == NULL)
			return FUNDUS_ENOMEM;
		snprintf(what, sizeof what, "(layer %d)", l->index);
		{
			struct fundus__section view = {.name = (char *)type->name,
						       .line = l->line,
						       .opts = l->opts,
						       .nopts = l->nopts};

			rc = fundus__parse_keys(&view, what, type->keys, l->spec);
		}
		if (rc < 0)
			return rc;
		/* The previous layer, unless build() says otherwise. */
		l->ninputs = 1;
		l->inputs[0] = l->index - 1;
		rc = type->build(net, l);
		if (rc < 0)
			return rc;
		if (l->channels < 1 || l->channels > FUNDUS_NET_MAX_CHANNELS)
			return fundus_error_set(
			    FUNDUS_ELIMIT, "line %d: [%s]: %d output channels (at most %d)",
			    l->line, type->name, l->channels, FUNDUS_NET_MAX_CHANNELS);
	}
	if (net->nlayers == 0)
		return fundus_error_set(FUNDUS_EFORMAT, "the description has no layers");
	return 0;
}

/* Lists the outputs: the heads, or the last layer. */
static int find_outputs(struct fundus_net *net)
{
	int n = 0;

	net->outputs = fundus_calloc((size_t)net->nlayers, sizeof *net->outputs);
	if (net->outputs == NULL)
		return FUNDUS_ENOMEM;
	for (int i = 0; i < net->nlayers; i++)
		if (net->layers[i].type->is_head)
			net->outputs[n++] = i;
	if (n == 0)
		net->outputs[n++] = net->nlayers - 1;
	net->noutputs = n;
	return 0;
}

/* Parses and builds; weights are allocated but not initialised. */
static int net_build(struct fundus_net **out, const char *desc, size_t len)
{
	struct fundus__section *secs = NULL;
	struct fundus_net *net;
	struct net_spec ns;
	size_t total = 0;
	int nsecs = 0, rc, *hs = NULL, *ws = NULL;

	*out = NULL;
	net = fundus_calloc(1, sizeof *net);
	if (net == NULL)
		return FUNDUS_ENOMEM;
	pthread_mutex_init(&net->fold_mu, NULL);
	net->version = 1;
	net->desc = fundus_strndup(desc, len);
	net->desc_len = len;
	if (net->desc == NULL) {
		rc = FUNDUS_ENOMEM;
		goto fail;
	}
	rc = fundus__parse_sections(desc, len, &secs, &nsecs);
	if (rc < 0)
		goto fail;
	if (nsecs == 0 || (strcmp(secs[0].name, "net") != 0 && strcmp(secs[0].name, "network"))) {
		rc = fundus_error_set(FUNDUS_EFORMAT, "line %d: the first section must be [net]",
				      nsecs ? secs[0].line : 1);
		goto fail;
	}
	rc = fundus__parse_keys(&secs[0], NULL, net_keys, &ns);
	if (rc < 0)
		goto fail;
	/* Keep the options: they answer fundus_net_layer_option(net, -1, key). */
	net->opts = secs[0].opts;
	net->nopts = secs[0].nopts;
	secs[0].opts = NULL;
	secs[0].nopts = 0;
	net->input.width = ns.width;
	net->input.height = ns.height;
	net->input.channels = ns.channels;
	for (int c = 0; c < 4; c++)
		net->input.std[c] = 1.0f;
	rc = build_layers(net, secs, nsecs);
	if (rc < 0)
		goto fail;
	rc = find_outputs(net);
	if (rc < 0)
		goto fail;
	hs = fundus_calloc((size_t)net->nlayers, sizeof *hs);
	ws = fundus_calloc((size_t)net->nlayers, sizeof *ws);
	if (hs == NULL || ws == NULL) {
		rc = FUNDUS_ENOMEM;
		goto fail;
	}
	rc = fundus__net_shapes(net, ns.height, ns.width, hs, ws);
	if (rc < 0)
		goto fail;
	for (int i = 0; i < net->ntensors; i++) {
		if (fundus_size_add(&total, total, net->tensors[i].count) < 0 ||
		    total > FUNDUS_NET_MAX_PARAMS) {
			rc = fundus_error_set(FUNDUS_ELIMIT, "more than %zu weights",
					      FUNDUS_NET_MAX_PARAMS);
			goto fail;
		}
	}
	for (int i = 0; i < net->ntensors; i++) {
		net->tensors[i].data = fundus_malloc(net->tensors[i].count * sizeof(float));
		if (net->tensors[i].data == NULL) {
			rc = FUNDUS_ENOMEM;
			goto fail;
		}
	}
	net->fold_w = fundus_calloc((size_t)net->nlayers, sizeof *net->fold_w);
	net->fold_b = fundus_calloc((size_t)net->nlayers, sizeof *net->fold_b);
	if (net->fold_w == NULL || net->fold_b == NULL) {
		rc = FUNDUS_ENOMEM;
		goto fail;
	}
	fundus_free(hs);
	fundus_free(ws);
	fundus__free_sections(secs, nsecs);
	*out = net;
	return 0;
fail:
	fundus_free(hs);
	fundus_free(ws);
	fundus__free_sections(secs, nsecs);
	fundus_net_free(net);
	return rc;
}

int fundus__net_build(struct fundus_net **out, const char *desc, size_t len)
{
	return net_build(out, desc, len);
}

int fundus_net_new(struct fundus_net **out, const char *desc, size_t len,
		   const struct fundus_net_params *p)
{
	struct fundus_net_params def;
	int rc;

	if (p == NULL) {
		fundus_net_defaults(&def);
		p = &def;
	}
	rc = net_build(out, desc, len);
	if (rc == 0)
		init_tensors(*out, p->seed);
	return rc;
}

int fundus_net_dup(const struct fundus_net *net, struct fundus_net **out)
{
	uint8_t *buf;
	size_t len;
	int rc;

	*out = NULL;
	rc = fundus_net_save_buffer(net, &buf, &len);
	if (rc < 0)
		return rc;
	rc = fundus_net_load_buffer(out, buf, len);
	fundus_free(buf);
	return rc;
}

const char *fundus_net_description(const struct fundus_net *net)
{
	return net->desc;
}

void fundus_net_get_input(const struct fundus_net *net, struct fundus_net_input *in)
{
	*in = net->input;
}

int fundus_net_set_input(struct fundus_net *net, const struct fundus_net_input *in)
{
	if (in->channels != net->input.channels)
		return fundus_error_set(FUNDUS_EINVAL, "the network takes %d channels, not %d",
					net->input.channels, in->channels);
	if (in->width < 1 || in->height < 1 || in->width > FUNDUS_NET_MAX_SIZE ||
	    in->height > FUNDUS_NET_MAX_SIZE)
		return fundus_error_set(FUNDUS_EINVAL, "bad input size %dx%d", in->width,
					in->height);
	for (int c = 0; c < 4; c++)
		if (!isfinite(in->mean[c]) || !isfinite(in->std[c]) || in->std[c] == 0)
			return fundus_error_set(FUNDUS_EINVAL, "bad normalisation of channel %d",
						c);
	net->input = *in;
	return 0;
}

int fundus_net_label_count(const struct fundus_net *net)
{
	return net->nlabels;
}

const char *fundus_net_label(const struct fundus_net *net, int i)
{
	return i >= 0 && i < net->nlabels ? net->labels[i] : NULL;
}

int fundus_net_set_labels(struct fundus_net *net, const char *const *labels, int n)
{
	char **copy;

	if (n < 0 || n > FUNDUS_NET_MAX_LABELS)
		return fundus_error_set(FUNDUS_EINVAL, "%d labels (at most %d)", n,
					FUNDUS_NET_MAX_LABELS);
	for (int i = 0; i < n; i++)
		if (labels[i] == NULL || labels[i][0] == '\0' || strlen(labels[i]) > 255)
			return fundus_error_set(FUNDUS_EINVAL,
						"label %d is empty or longer than 255 bytes", i);
	copy = fundus_calloc(n ? (size_t)n : 1, sizeof *copy);
	if (copy == NULL)
		return FUNDUS_ENOMEM;
	for (int i = 0; i < n; i++) {
		copy[i] = fundus_strdup(labels[i]);
		if (copy[i] == NULL) {
			for (int j = 0; j < i; j++)
				fundus_free(copy[j]);
			fundus_free(copy);
			return FUNDUS_ENOMEM;
		}
	}
	for (int i = 0; i < net->nlabels; i++)
		fundus_free(net->labels[i]);
	fundus_free(net->labels);
	net->labels = copy;
	net->nlabels = n;
	return 0;
}

int fundus_net_layer_count(const struct fundus_net *net)
{
	return net->nlayers;
}

const char *fundus_net_layer_type(const struct fundus_net *net, int layer)
{
	return layer >= 0 && layer < net->nlayers ? net->layers[layer].type->name : NULL;
}

int fundus_net_layer_channels(const struct fundus_net *net, int layer)
{
	return layer >= 0 && layer < net->nlayers ? net->layers[layer].channels : -1;
}

const char *fundus_net_layer_option(const struct fundus_net *net, int layer, const char *key)
{
	const struct fundus__option *opts;
	int n;

	if (layer == -1) {
		opts = net->opts;
		n = net->nopts;
	} else if (layer >= 0 && layer < net->nlayers) {
		opts = net->layers[layer].opts;
		n = net->layers[layer].nopts;
	} else {
		return NULL;
	}
	for (int i = 0; i < n; i++)
		if (strcmp(opts[i].key, key) == 0)
			return opts[i].value;
	return NULL;
}

int fundus_net_output_count(const struct fundus_net *net)
{
	return net->noutputs;
}

int fundus_net_output_layer(const struct fundus_net *net, int i)
{
	return i >= 0 && i < net->noutputs ? net->outputs[i] : -1;
}

double fundus_net_flops(const struct fundus_net *net, int width, int height)
{
	int *hs = fundus_calloc((size_t)net->nlayers, sizeof *hs);
	int *ws = fundus_calloc((size_t)net->nlayers, sizeof *ws);
	double sum = 0;

	if (hs && ws && fundus__net_shapes(net, height, width, hs, ws) == 0) {
		for (int i = 0; i < net->nlayers; i++) {
			const struct fundus__layer *l = &net->layers[i];
			int k = l->inputs[0];

			if (l->type->flops)
				sum += l->type->flops(net, l, k < 0 ? height : hs[k],
						      k < 0 ? width : ws[k]);
		}
	} else {
		sum = -1;
	}
	fundus_free(hs);
	fundus_free(ws);
	return sum;
}

int fundus_net_tensor_count(const struct fundus_net *net)
{
	return net->ntensors;
}

int fundus_net_tensor(const struct fundus_net *net, int i, struct fundus_net_tensor *t)
{
	const struct fundus__tensor *s;

	if (i < 0 || i >= net->ntensors)
		return fundus_error_set(FUNDUS_EINVAL, "no tensor %d", i);
	s = &net->tensors[i];
	t->name = s->name;
	t->ndim = s->ndim;
	memcpy(t->dims, s->dims, sizeof t->dims);
	t->count = s->count;
	t->data = s->data;
	t->trainable = s->trainable;
	t->decay = s->decay;
	t->layer = s->layer;
	return 0;
}

int fundus_net_find_tensor(const struct fundus_net *net, const char *name)
{
	for (int i = 0; i < net->ntensors; i++)
		if (strcmp(net->tensors[i].name, name) == 0)
			return i;
	return -1;
}

void fundus_net_touch(struct fundus_net *net)
{
	pthread_mutex_lock(&net->fold_mu);
	net->version++;
	pthread_mutex_unlock(&net->fold_mu);
}

int fundus__net_fold(struct fundus_net *net)
{
	int rc = 0;

	pthread_mutex_lock(&net->fold_mu);
	if (net->fold_version != net->version) {
		for (int i = 0; i < net->nlayers && rc == 0; i++) {
			const struct fundus__layer *l = &net->layers[i];

			if (l->type->fold)
				rc = l->type->fold(net, l, &net->fold_w[i], &net->fold_b[i]);
		}
		if (rc == 0)
			net->fold_version = net->version;
	}
	pthread_mutex_unlock(&net->fold_mu);
	return rc;
}

/* Error codes and the thread-local error message. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fundus/core.h"

#define ERRMSG_MAX 512

static _Thread_local char errmsg[ERRMSG_MAX];

const char *fundus_strerror(int code)
{
	switch (code) {
	case FUNDUS_OK: return "success";
	case FUNDUS_ENOMEM: return "out of memory";
	case FUNDUS_EINVAL: return "invalid argument";
	case FUNDUS_EIO: return "input/output error";
	case FUNDUS_ENOENT: return "no such file";
	case FUNDUS_EFORMAT: return "corrupt or malformed data";
	case FUNDUS_EUNSUPPORTED: return "not supported";
	case FUNDUS_ELIMIT: return "limit exceeded";
	case FUNDUS_EOVERFLOW: return "size overflow";
	case FUNDUS_EBUSY: return "resource busy";
	case FUNDUS_ECANCELED: return "canceled";
	case FUNDUS_EEXIST: return "already exists";
	}
	return "unknown error";
}

const char *fundus_errmsg(void)
{
	return errmsg;
}

void fundus_error_clear(void)
{
	errmsg[0] = '\0';
}

int fundus_error_set(int code, const char *fmt, ...)
{
	va_list ap;

	if (fmt == NULL || fmt[0] == '\0') {
		snprintf(errmsg, sizeof errmsg, "%s", fundus_strerror(code));
		return code;
	}
	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof errmsg, fmt, ap);
	va_end(ap);
	return code;
}

int fundus_error_errno(int code, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof errmsg, fmt, ap);
	va_end(ap);
	n = strlen(errmsg);
	if (n + 2 < sizeof errmsg)
		snprintf(errmsg + n, sizeof errmsg - n, "%s%s", n ? ": " : "", strerror(errnum));
	return code;
}

const char *fundus_version(void)
{
	return FUNDUS_VERSION_STRING;
}

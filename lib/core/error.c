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

/*
 * Both setters format into a scratch buffer first, so that the arguments
 * may include fundus_errmsg() itself ("line %d: %s" around the reason a
 * callee set): vsnprintf into the buffer it reads from is undefined.
 */
int fundus_error_set(int code, const char *fmt, ...)
{
	char msg[ERRMSG_MAX];
	va_list ap;

	if (fmt == NULL || fmt[0] == '\0') {
		snprintf(errmsg, sizeof errmsg, "%s", fundus_strerror(code));
		return code;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	memcpy(errmsg, msg, sizeof errmsg);
	return code;
}

int fundus_error_errno(int code, int errnum, const char *fmt, ...)
{
	char msg[ERRMSG_MAX];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	n = strlen(msg);
	if (n + 2 < sizeof msg)
		snprintf(msg + n, sizeof msg - n, "%s%s", n ? ": " : "", strerror(errnum));
	memcpy(errmsg, msg, sizeof errmsg);
	return code;
}

const char *fundus_version(void)
{
	return FUNDUS_VERSION_STRING;
}

/*
 * The DICOM codec: recognises "DICM" at offset 128 and reads through the
 * GDCM wrapper (dicom.h). Frames are pages.
 *
 * GDCM as Debian builds it keeps its assertions, and a damaged file can
 * make one fire, which would abort the whole program (a fuzzer finds such
 * files in minutes). So GDCM never runs in the caller's process: header()
 * has a child process parse the object, decode every frame (GDCM decodes
 * an object whole) and send the header, the metadata and the pixels back
 * through a pipe; the child then ends at once (no atexit handlers). A
 * child that dies is a damaged file like any other. The child is forked by
 * a single-threaded helper process when one runs (fundus_ingest_run()
 * starts it before its threads), else by the calling thread. The pixels of
 * all frames together are checked against max_pixels before the child
 * decodes them; an object over the limit still opens, and its reads fail
 * with FUNDUS_ELIMIT. A truncated file, the commonest damage, is refused
 * before any fork by a walk of its elements.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "codec.h"
#include "dicom.h"

/* What receive() returns when the child's message ends early (it died). */
#define BROKEN (-1000)

struct dcm {
	struct fundus__dicom_info info;
	cJSON *meta;     /* what fundus__dicom_meta() gives without the patient */
	cJSON *patient;  /* the patient's fields, or NULL */
	uint8_t *pixels; /* every frame, or NULL when decode_rc < 0 */
	size_t frame_bytes;
	int decode_rc; /* why there are no pixels */
	char decode_msg[256];
};

static int dcm_is_a(const uint8_t *data, size_t len)
{
	return len >= 132 && memcmp(data + 128, "DICM", 4) == 0;
}

static uint32_t u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Whether a VR has the long form (two reserved bytes and a 32-bit length). */
static int long_vr(const uint8_t *vr)
{
	static const char *const vrs[] = {"OB", "OW", "OF", "SQ", "UT", "UN", "UC",
					  "UR", "OD", "OL", "OV", "SV", "UV"};

	for (size_t i = 0; i < sizeof vrs / sizeof vrs[0]; i++)
		if (vr[0] == vrs[i][0] && vr[1] == vrs[i][1])
			return 1;
	return 0;
}

#define UNDEFINED 0xffffffffu

/*
 * Walks the elements of a little-endian data set from *pos to end,
 * checking that every value lies inside the file; returns 0, or -1 as soon
 * as one runs past the end. Inside an item of undefined length it stops
 * after the item delimiter.
 */
static int walk(const uint8_t *d, size_t *pos, size_t end, int explicit_vr, int depth)
{
	if (depth > 16)
		return -1;
	while (*pos < end) {
		size_t p = *pos, hdr;
		uint16_t group, elem;
		uint32_t vl;

		if (end - p < 8)
			return -1;
		group = u16(d + p);
		elem = u16(d + p + 2);
		if (group == 0xfffe) {
			*pos = p + 8;
			if (elem == 0xe00d) /* the end of an item of undefined length */
				return 0;
			return -1; /* an item or a delimiter out of place */
		}
		if (explicit_vr && long_vr(d + p + 4)) {
			if (end - p < 12)
				return -1;
			vl = u32(d + p + 8);
			hdr = 12;
		} else if (explicit_vr) {
			vl = u16(d + p + 6);
			hdr = 8;
		} else {
			vl = u32(d + p + 4);
			hdr = 8;
		}
		p += hdr;
		if (vl != UNDEFINED) {
			if (vl > end - p)
				return -1;
			*pos = p + vl;
			continue;
		}
		/* A sequence, or encapsulated pixel data: items up to the delimiter. */
		for (;;) {
			uint32_t il;

			if (end - p < 8 || u16(d + p) != 0xfffe)
				return -1;
			il = u32(d + p + 4);
			p += 8;
			if (u16(d + p - 6) == 0xe0dd)
				break;
			if (u16(d + p - 6) != 0xe000)
				return -1;
			if (il == UNDEFINED) {
				if (walk(d, &p, end, explicit_vr, depth + 1) < 0)
					return -1;
			} else {
				if (il > end - p)
					return -1;
				p += il;
			}
		}
		*pos = p;
	}
	return 0;
}

/*
 * Whether the file is whole: the file meta information and every element
 * of the data set end inside the file. GDCM, as Debian builds it, keeps its
 * assertions, and some fire on a stream that ends early (a truncated file,
 * the commonest damage), which would abort the program; so a truncated
 * file is refused here, before GDCM sees it. Data sets in a deflated or
 * big-endian transfer syntax are left to GDCM.
 */
static int file_whole(const uint8_t *d, size_t len)
{
	size_t pos = 132, ts_len = 0;
	const uint8_t *ts = NULL;
	int explicit_vr = 1;

	/* The meta information: explicit little endian, group 0002. */
	while (pos + 8 <= len && u16(d + pos) == 0x0002) {
		uint32_t vl;
		size_t hdr;

		if (long_vr(d + pos + 4)) {
			if (len - pos < 12)
				return 0;
			vl = u32(d + pos + 8);
			hdr = 12;
		} else {
			vl = u16(d + pos + 6);
			hdr = 8;
		}
		if (vl == UNDEFINED || vl > len - pos - hdr)
			return 0;
		if (u16(d + pos + 2) == 0x0010) {
			ts = d + pos + hdr;
			ts_len = vl;
		}
		pos += hdr + vl;
	}
	if (ts == NULL)
		return pos + 8 <= len; /* no meta information: GDCM's lenient path */
	while (ts_len > 0 && (ts[ts_len - 1] == 0 || ts[ts_len - 1] == ' '))
		ts_len--;
	if ((ts_len == 19 && memcmp(ts, "1.2.840.10008.1.2.2", 19) == 0) ||
	    (ts_len == 22 && memcmp(ts, "1.2.840.10008.1.2.1.99", 22) == 0))
		return 1;
	/*
	 * Explicit or implicit VR from the first element, as GDCM decides too:
	 * private transfer syntaxes (GE's implicit one) exist.
	 */
	if (len - pos >= 8)
		explicit_vr = d[pos + 4] >= 'A' && d[pos + 4] <= 'Z' && d[pos + 5] >= 'A' &&
			      d[pos + 5] <= 'Z';
	return walk(d, &pos, len, explicit_vr, 0) == 0;
}

/* Writes all of buf to fd; 0 or -1. */
static int put_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads exactly n bytes from fd; 0, or -1 at an early end. */
static int get_all(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Sends a code and the thread's message (when the code is negative). */
static int put_code(int fd, int32_t rc)
{
	const char *m = fundus_errmsg();
	uint32_t n = rc < 0 ? (uint32_t)strlen(m) : 0;

	if (put_all(fd, &rc, sizeof rc) < 0 || put_all(fd, &n, sizeof n) < 0)
		return -1;
	return put_all(fd, m, n);
}

/* Sends a JSON value as text (length, then bytes); NULL as length 0. */
static int put_json(int fd, const cJSON *v)
{
	char *t = v ? cJSON_PrintUnformatted(v) : NULL;
	uint32_t n = t ? (uint32_t)strlen(t) : 0;
	int rc = put_all(fd, &n, sizeof n) < 0 || put_all(fd, t, n) < 0 ? -1 : 0;

	cJSON_free(t);
	return rc;
}

/*
 * The child: everything GDCM does, its results down the pipe in order:
 * open code, info, meta, patient, decode code, pixels.
 */
static void child(int fd, const uint8_t *data, size_t len, int max_pages, int64_t max_pixels)
{
	struct fundus__dicom *d = NULL;
	struct fundus__dicom_info info;
	cJSON *meta = cJSON_CreateObject(), *patient;
	int32_t rc;
	uint64_t bytes;

	rc = fundus__dicom_open(data, len, max_pages, &d, &info);
	if (put_code(fd, rc) < 0 || rc < 0 || put_all(fd, &info, sizeof info) < 0)
		return;
	if (meta == NULL || fundus__dicom_meta(d, 1, meta) < 0)
		return;
	patient = cJSON_DetachItemFromObjectCaseSensitive(meta, "patient");
	if (put_json(fd, meta) < 0 || put_json(fd, patient) < 0)
		return;
	bytes = (uint64_t)info.width * (uint64_t)info.height * (uint64_t)info.frames;
	if ((int64_t)bytes > max_pixels)
		rc = fundus_error_set(FUNDUS_ELIMIT,
				      "decoding %d frames of %d x %d pixels is more than the limit "
				      "of %lld pixels",
				      info.frames, info.width, info.height, (long long)max_pixels);
	else
		rc = fundus__dicom_decode(d);
	if (put_code(fd, rc) < 0 || rc < 0)
		return;
	bytes *= (uint64_t)info.channels * (uint64_t)(info.bits / 8);
	if (put_all(fd, &bytes, sizeof bytes) < 0)
		return;
	put_all(fd, fundus__dicom_frame(d, 0), (size_t)bytes);
}

/* Reads a JSON text sent by put_json(); *out NULL for none. */
static int get_json(int fd, cJSON **out)
{
	uint32_t n;
	char *t;

	*out = NULL;
	if (get_all(fd, &n, sizeof n) < 0 || n > (1u << 24))
		return BROKEN;
	if (n == 0)
		return 0;
	t = fundus_malloc((size_t)n + 1);
	if (t == NULL || get_all(fd, t, n) < 0) {
		fundus_free(t);
		return BROKEN;
	}
	t[n] = '\0';
	*out = cJSON_Parse(t);
	fundus_free(t);
	return *out ? 0 : -1;
}

/* Reads a code and its message; *rc gets the code. */
static int get_code(int fd, int32_t *rc, char *msg, size_t size)
{
	uint32_t n;

	msg[0] = '\0';
	if (get_all(fd, rc, sizeof *rc) < 0 || get_all(fd, &n, sizeof n) < 0 || n >= size)
		return BROKEN;
	if (get_all(fd, msg, n) < 0)
		return BROKEN;
	msg[n] = '\0';
	return 0;
}

/* The parent's side of the pipe: what the child sent, in order. */
static int receive(int fd, struct dcm *p)
{
	char msg[512];
	int32_t rc;
	uint64_t bytes;

	if (get_code(fd, &rc, msg, sizeof msg) < 0)
		return BROKEN;
	if (rc < 0)
		return fundus_error_set(rc, "%s", msg);
	if (get_all(fd, &p->info, sizeof p->info) < 0 || get_json(fd, &p->meta) < 0 ||
	    get_json(fd, &p->patient) < 0 || get_code(fd, &rc, msg, sizeof msg) < 0)
		return BROKEN;
	if (rc < 0) {
		p->decode_rc = rc;
		snprintf(p->decode_msg, sizeof p->decode_msg, "%s", msg);
		return 0;
	}
	if (get_all(fd, &bytes, sizeof bytes) < 0 || bytes == 0 || bytes > SIZE_MAX / 2)
		return BROKEN;
	p->pixels = fundus_malloc((size_t)bytes);
	if (p->pixels == NULL)
		return FUNDUS_ENOMEM;
	if (get_all(fd, p->pixels, (size_t)bytes) < 0)
		return BROKEN;
	p->frame_bytes = (size_t)bytes / (size_t)p->info.frames;
	return 0;
}

/* In a child of fork(): only fd (and 0 to 2, on /dev/null) stays open. */
static void child_setup(int keep)
{
	int null = open("/dev/null", O_RDWR);

	/* GDCM's assertions and its codecs' warnings print: not here. */
	if (null >= 0) {
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
	}
	signal(SIGPIPE, SIG_DFL);
	/* Other pipes, inherited, would keep their readers from seeing the end. */
	for (int fd = 3; fd < 1024; fd++)
		if (fd != keep)
			close(fd);
}

/*
 * The helper process ("zygote") of fundus__dicom_helper_start(): forked
 * while the caller is single-threaded, it stays single-threaded and forks
 * one child per request, which is safe where a fork from a threaded
 * process is not (a lock held by another thread, such as a sanitizer's
 * allocator lock, would be held forever in the child). A request is a
 * header, the result pipe's write end (SCM_RIGHTS) and the file's bytes.
 */
struct request {
	uint64_t len;
	int64_t max_pixels;
	int32_t max_pages;
};

static pthread_mutex_t helper_mu = PTHREAD_MUTEX_INITIALIZER;
static int helper_fd = -1, helper_users;
static pid_t helper_pid;

/* Receives a request header and its descriptor; -1 at the end. */
static int recv_request(int sock, struct request *rq, int *fd)
{
	char ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {rq, sizeof *rq};
	struct msghdr mh = {0};
	struct cmsghdr *c;
	ssize_t n;

	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl;
	mh.msg_controllen = sizeof ctl;
	do
		n = recvmsg(sock, &mh, 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -1;
	if ((size_t)n < sizeof *rq && get_all(sock, (uint8_t *)rq + n, sizeof *rq - (size_t)n) < 0)
		return -1;
	c = CMSG_FIRSTHDR(&mh);
	if (c == NULL || c->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(fd, CMSG_DATA(c), sizeof *fd);
	return 0;
}

static void helper_main(int sock)
{
	child_setup(sock);
	signal(SIGCHLD, SIG_IGN); /* children reap themselves */
	for (;;) {
		struct request rq;
		uint8_t *buf;
		int fd;
		pid_t pid;

		if (recv_request(sock, &rq, &fd) < 0 || rq.len > SIZE_MAX / 2)
			return;
		buf = fundus_malloc(rq.len ? (size_t)rq.len : 1);
		if (buf == NULL || get_all(sock, buf, (size_t)rq.len) < 0)
			return;
		pid = fork();
		if (pid == 0) {
			close(sock);
			child(fd, buf, (size_t)rq.len, rq.max_pages, rq.max_pixels);
			_exit(0); /* checksrc: allow (a child of fork(): no atexit, no stdio) */
		}
		close(fd);
		fundus_free(buf);
	}
}

int fundus__dicom_helper_start(void)
{
	int sv[2], rc = 0;
	pid_t pid;

	pthread_mutex_lock(&helper_mu);
	if (helper_users++ > 0)
		goto out;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		rc = fundus_error_errno(FUNDUS_EIO, errno, "cannot make a socket pair");
		helper_users--;
		goto out;
	}
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		helper_main(sv[1]);
		_exit(0); /* checksrc: allow (a child of fork(): no atexit, no stdio) */
	}
	close(sv[1]);
	if (pid < 0) {
		rc = fundus_error_errno(FUNDUS_EIO, errno, "cannot start a process");
		close(sv[0]);
		helper_users--;
		goto out;
	}
	helper_fd = sv[0];
	helper_pid = pid;
out:
	pthread_mutex_unlock(&helper_mu);
	return rc;
}

void fundus__dicom_helper_stop(void)
{
	pthread_mutex_lock(&helper_mu);
	if (helper_users > 0 && --helper_users == 0) {
		close(helper_fd);
		helper_fd = -1;
		while (waitpid(helper_pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	pthread_mutex_unlock(&helper_mu);
}

/* Asks the helper for a child writing to fd; 0, or -1 when there is no helper. */
static int ask_helper(const struct fundus_image_source *src, int fd)
{
	struct request rq = {src->len, src->limits.max_pixels, src->limits.max_pages};
	char ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {&rq, sizeof rq};
	struct msghdr mh = {0};
	struct cmsghdr *c;
	int rc = -1;
	ssize_t n;

	memset(ctl, 0, sizeof ctl);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl;
	mh.msg_controllen = sizeof ctl;
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	pthread_mutex_lock(&helper_mu);
	if (helper_fd >= 0) {
		do
			n = sendmsg(helper_fd, &mh, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n == (ssize_t)sizeof rq && put_all(helper_fd, src->data, src->len) == 0)
			rc = 0;
	}
	pthread_mutex_unlock(&helper_mu);
	return rc;
}

/*
 * Runs GDCM in a child process and takes its results into p: through the
 * helper when one runs (fundus_ingest_run() starts it), else by a fork of
 * this process, which is safe when the caller is single-threaded.
 */
static int run_child(const struct fundus_image_source *src, struct dcm *p)
{
	int fds[2], status = 0, rc;
	pid_t pid = -1;

	if (pipe(fds) != 0)
		return fundus_error_errno(FUNDUS_EIO, errno, "cannot make a pipe");
	if (ask_helper(src, fds[1]) < 0) {
		pid = fork();
		if (pid < 0) {
			rc = errno;
			close(fds[0]);
			close(fds[1]);
			return fundus_error_errno(FUNDUS_EIO, rc, "cannot start a process");
		}
		if (pid == 0) {
			child_setup(fds[1]);
			child(fds[1], src->data, src->len, src->limits.max_pages,
			      src->limits.max_pixels);
			_exit(0); /* checksrc: allow (a child of fork(): no atexit, no stdio) */
		}
	}
	close(fds[1]);
	rc = receive(fds[0], p);
	close(fds[0]);
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc == BROKEN) {
		if (pid > 0 && WIFSIGNALED(status))
			return fundus_error_set(FUNDUS_EFORMAT,
						"damaged DICOM object: the DICOM decoder (GDCM) "
						"failed on it (signal %d)",
						WTERMSIG(status));
		return fundus_error_set(FUNDUS_EFORMAT, "damaged DICOM object: the DICOM "
							"decoder (GDCM) failed on it");
	}
	return rc;
}

static int dcm_header(struct fundus_image_source *src)
{
	struct dcm *p;
	int rc;

	if (!file_whole(src->data, src->len))
		return fundus_error_set(FUNDUS_EFORMAT,
					"truncated DICOM file: an element runs past the end");
	p = fundus_calloc(1, sizeof *p);
	if (p == NULL)
		return FUNDUS_ENOMEM;
	src->priv = p;
	rc = run_child(src, p);
	if (rc < 0)
		return rc;
	rc = fundus__check_dims(src, p->info.width, p->info.height);
	if (rc < 0)
		return rc;
	src->info.width = src->info.level[0].width = p->info.width;
	src->info.height = src->info.level[0].height = p->info.height;
	src->info.level[0].downsample = 1;
	src->info.channels = p->info.channels;
	src->info.bits = p->info.bits;
	src->info.colour = p->info.channels == 1 ? "gray" : "rgb";
	src->info.pages = p->info.frames;
	return 0;
}

static int dcm_read(struct fundus_image_source *src, const struct fundus_read_options *ro,
		    struct fundus_image **out)
{
	struct dcm *p = src->priv;
	struct fundus_image *img;
	const uint8_t *frame;
	size_t px = (size_t)(p->info.bits / 8) * (size_t)p->info.channels;
	int rc;

	if (p->pixels == NULL)
		return fundus_error_set(p->decode_rc < 0 ? p->decode_rc : FUNDUS_EFORMAT, "%s",
					p->decode_msg);
	frame = p->pixels + (size_t)ro->page * p->frame_bytes;
	rc = fundus_image_new(&img, ro->region.w, ro->region.h,
			      fundus__pixfmt_of(p->info.channels, p->info.bits / 8));
	if (rc < 0)
		return rc;
	for (int y = 0; y < ro->region.h; y++)
		memcpy(img->data + (size_t)y * img->stride,
		       frame + ((size_t)(ro->region.y + y) * (size_t)p->info.width +
				(size_t)ro->region.x) *
				   px,
		       (size_t)ro->region.w * px);
	return fundus__image_finish(img, 1, 1, ro, out);
}

static void dcm_close(struct fundus_image_source *src)
{
	struct dcm *p = src->priv;

	if (p) {
		cJSON_Delete(p->meta);
		cJSON_Delete(p->patient);
		fundus_free(p->pixels);
	}
	fundus_free(p);
	src->priv = NULL;
}

/* Adds a copy of item to meta as name; 0 or FUNDUS_ENOMEM. */
static int add_copy(cJSON *meta, const char *name, const cJSON *item)
{
	cJSON *copy = cJSON_Duplicate(item, 1);

	if (copy == NULL || !cJSON_AddItemToObject(meta, name, copy)) {
		cJSON_Delete(copy);
		return FUNDUS_ENOMEM;
	}
	return 0;
}

static int dcm_meta(struct fundus_image_source *src, int page, unsigned flags, struct cJSON *meta)
{
	struct dcm *p = src->priv;
	cJSON *item;

	(void)page;
	cJSON_ArrayForEach(item, p->meta)
	{
		if (add_copy(meta, item->string, item) < 0)
			return FUNDUS_ENOMEM;
	}
	if ((flags & FUNDUS__META_PHI) && p->patient)
		return add_copy(meta, "patient", p->patient);
	return 0;
}

const struct fundus__codec fundus__codec_dicom = {
    .name = "dicom",
    .is_a = dcm_is_a,
    .header = dcm_header,
    .page_info = NULL,
    .read = dcm_read,
    .close = dcm_close,
    .encode = NULL,
    .is_a_path = NULL,
    .meta = dcm_meta,
};

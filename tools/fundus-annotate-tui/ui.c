/*
 * The annotation session: the image on the screen, the keys that draw,
 * move and label boxes, accept proposals and answer questions, undo and
 * redo, and the journal entry written when an image is done.
 *
 * What is saved is saved at once (one synced journal line per image); the
 * work on the image on the screen lives only in memory until then, so a
 * crash loses at most that image, and the next session starts again on it.
 */
#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <locale.h>
#include <langinfo.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "tool.h"
#include "ui.h"

enum { ACT_NONE, ACT_MOVE, ACT_GROW };

/* Sets the status line's message. */
static void say(struct ui *u, const char *fmt, ...) FUNDUS_PRINTF(2, 3);
static void say(struct ui *u, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(u->msg, sizeof u->msg, fmt, ap);
	va_end(ap);
}

int ui_key_clash(const struct fundus_workspace_config *cfg, const char **label)
{
	for (int i = 0; i < cfg->n_labels; i++)
		if (cfg->labels[i].key && strchr(UI_RESERVED_KEYS, cfg->labels[i].key)) {
			*label = cfg->labels[i].name;
			return cfg->labels[i].key;
		}
	return 0;
}

int ui_focus_list(const struct ui *u, int *idx)
{
	int n = 0;

	for (int i = 0; i < u->cfg->n_questions; i++)
		if (u->cfg->questions[i].scope == FUNDUS_SCOPE_IMAGE)
			idx[n++] = i;
	if (u->sel >= 0)
		for (int i = 0; i < u->cfg->n_questions; i++)
			if (u->cfg->questions[i].scope == FUNDUS_SCOPE_BOX)
				idx[n++] = i;
	return n;
}

/* After a box is selected: the digits answer its first question, if it has any. */
static void focus_box_questions(struct ui *u)
{
	int idx[64], n = ui_focus_list(u, idx);

	for (int k = 0; k < n; k++)
		if (u->cfg->questions[idx[k]].scope == FUNDUS_SCOPE_BOX) {
			u->qfocus = k;
			return;
		}
	if (u->qfocus >= n)
		u->qfocus = n > 0 ? n - 1 : 0;
}

/* Forgets the undo and redo steps. */
static void undo_clear(struct ui *u)
{
	for (int k = 0; k < u->n_undo; k++)
		fundus_record_free(u->undo[k].w);
	for (int k = 0; k < u->n_redo; k++)
		fundus_record_free(u->redo[k].w);
	u->n_undo = u->n_redo = 0;
	u->last_action = ACT_NONE;
}

/* A copy of the current work for the undo or redo stack; 0 or -1. */
static int snap_take(struct ui *u, struct snap *sn)
{
	if (fundus_record_dup(u->work, &sn->w) < 0)
		return -1;
	sn->flag = u->flag;
	sn->sel = u->sel;
	return 0;
}

/* Remembers the work before a change (act: a kind of change that merges with the last). */
static void undo_push(struct ui *u, int act)
{
	if (act != ACT_NONE && act == u->last_action)
		return;
	u->last_action = act;
	if (u->n_undo == UI_UNDO_MAX) {
		fundus_record_free(u->undo[0].w);
		memmove(u->undo, u->undo + 1, (UI_UNDO_MAX - 1) * sizeof *u->undo);
		u->n_undo--;
	}
	if (snap_take(u, &u->undo[u->n_undo]) == 0)
		u->n_undo++;
	for (int k = 0; k < u->n_redo; k++)
		fundus_record_free(u->redo[k].w);
	u->n_redo = 0;
	u->dirty = 1;
}

/* Moves one step between the stacks: undo (dir 0) or redo (dir 1). */
static void undo_step(struct ui *u, int redo)
{
	struct snap *from = redo ? u->redo : u->undo, *to = redo ? u->undo : u->redo;
	int *nf = redo ? &u->n_redo : &u->n_undo, *nt = redo ? &u->n_undo : &u->n_redo;
	struct snap cur;

	if (*nf == 0) {
		say(u, "nothing to %s", redo ? "redo" : "undo");
		return;
	}
	if (*nt < UI_UNDO_MAX && snap_take(u, &cur) == 0)
		to[(*nt)++] = cur;
	(*nf)--;
	fundus_record_free(u->work);
	u->work = from[*nf].w;
	u->flag = from[*nf].flag;
	u->sel = from[*nf].sel < (int)u->work->n_objects ? from[*nf].sel : -1;
	u->last_action = ACT_NONE;
	u->dirty = 1;
	say(u, "%s", redo ? "redone" : "undone");
}

/* The fine step in image pixels: one screen pixel, or one image pixel when zoomed past 1:1. */
static double fine_step(const struct ui *u)
{
	return u->view.s >= 1 ? round(u->view.s) : 1;
}

/* Image point of the selected box's active handle. */
static void handle_point(const struct ui *u, double *x, double *y)
{
	const struct fundus_box *b = &u->work->objects[u->sel].bbox;

	if (u->handle == 1) {
		*x = b->x0;
		*y = b->y0;
	} else if (u->handle == 2) {
		*x = b->x1;
		*y = b->y1;
	} else {
		*x = (b->x0 + b->x1) / 2;
		*y = (b->y0 + b->y1) / 2;
	}
}

/* Loads the work of image i: the journal entry if there is one, else nothing drawn. */
static void load_work(struct ui *u, size_t i, const struct fundus_record *from, int flag)
{
	const struct fundus_record *e = from ? from : fundus_session_entry(u->s, i);

	fundus_record_free(u->work);
	u->work = NULL;
	u->flag = 0;
	if (e && fundus_record_dup(e, &u->work) == 0) {
		const cJSON *a =
		    e->extra ? cJSON_GetObjectItemCaseSensitive(e->extra, "annotation") : NULL;

		u->flag = from ? flag : cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "flag"));
		cJSON_Delete(u->work->extra);
		u->work->extra = NULL;
	}
	if (u->work == NULL && fundus_record_new(&u->work) < 0)
		tool_die("out of memory");
}

/* Shows image i with the given work (NULL: from the journal). */
static void show(struct ui *u, size_t i, const struct fundus_record *work, int flag)
{
	const struct fundus_record *rec = fundus_workspace_image(u->ws, i);
	int q[64], nq;

	u->img = i;
	u->have_img = 1;
	load_work(u, i, work, flag);
	undo_clear(u);
	u->dirty = 0;
	u->sel = -1;
	u->handle = 0;
	u->drawing = 0;
	u->armed = 0;
	fundus_record_free(u->props);
	u->props = NULL;
	if (fundus_workspace_proposals(u->ws, i, &u->props) < 0)
		say(u, "proposals: %s", fundus_errmsg());
	u->prop_sel = 0;
	if (picture_open(&u->pic, rec->image) < 0 && rec->width > 0 && rec->height > 0) {
		/* Without pixels the boxes can still be seen and drawn on the record's frame. */
		u->pic.iw = (int)rec->width;
		u->pic.ih = (int)rec->height;
	}
	u->cx = floor(u->pic.iw / 2.0);
	u->cy = floor(u->pic.ih / 2.0);
	if (u->last_w <= 0) {
		u->last_w = u->last_h = round(u->pic.iw / 8.0);
	}
	view_set(&u->view, &u->pic, 0, u->cx, u->cy);
	/* Focus on the first question without an answer. */
	nq = ui_focus_list(u, q);
	u->qfocus = 0;
	for (int k = 0; k < nq; k++) {
		if (u->work->answers == NULL || !cJSON_GetObjectItemCaseSensitive(
						    u->work->answers, u->cfg->questions[q[k]].id)) {
			u->qfocus = k;
			break;
		}
	}
	u->active = 0;
	u->t_last = fundus_now();
	picture_invalidate();
}

/* Claims the next image and shows it, or notes that none is left. */
static void claim_and_show(struct ui *u)
{
	size_t i;
	int found;
	const size_t *h;
	size_t n;

	if (fundus_session_claim_next(u->s, &i, &found) < 0) {
		say(u, "cannot claim an image: %s", fundus_errmsg());
		return;
	}
	fundus_session_history(u->s, &h, &n);
	u->pos = n;
	if (!found) {
		u->have_claim = 0;
		u->have_img = 0;
		u->finished = 1;
		u->dirty = 0;
		u->sel = -1;
		u->drawing = 0;
		undo_clear(u);
		fundus_record_free(u->props);
		u->props = NULL;
		fundus_record_free(u->work);
		u->work = NULL;
		if (fundus_record_new(&u->work) < 0)
			tool_die("out of memory");
		picture_free(&u->pic);
		picture_invalidate();
		return;
	}
	u->finished = 0;
	u->claim = i;
	u->have_claim = 1;
	show(u, i, NULL, 0);
}

/* Goes to history position pos (n_history: the claimed image). */
static void go_to(struct ui *u, size_t pos)
{
	const size_t *h;
	size_t n;

	fundus_session_history(u->s, &h, &n);
	/* Leaving the claimed image keeps its work as a draft. */
	if (u->pos >= n && u->have_img && u->have_claim && u->img == u->claim) {
		fundus_record_free(u->draft);
		u->draft = NULL;
		if (fundus_record_dup(u->work, &u->draft) < 0)
			u->draft = NULL;
		u->draft_flag = u->flag;
	}
	if (pos < n) {
		u->pos = pos;
		show(u, h[pos], NULL, 0);
		say(u, "image %zu of your %zu: Enter saves changes, n goes forward", pos + 1, n);
		return;
	}
	u->pos = n;
	if (u->have_claim && fundus_session_entry(u->s, u->claim) == NULL) {
		show(u, u->claim, u->draft, u->draft_flag);
		fundus_record_free(u->draft);
		u->draft = NULL;
	} else {
		claim_and_show(u);
	}
}

/* Writes the journal entry of the image on the screen and moves on. */
static void save(struct ui *u, enum fundus_entry_status status)
{
	const size_t *h;
	size_t n, nb;
	double secs;

	if (!u->have_img) {
		say(u, "no image to save");
		return;
	}
	secs = u->active + fmin(fundus_now() - u->t_last, 120.0);
	if (fundus_session_save(u->s, u->img, u->work, status, u->flag, secs) < 0) {
		say(u, "cannot save: %s", fundus_errmsg());
		return;
	}
	nb = u->work->n_objects;
	say(u, "%s %s: %zu box%s, %.1f s", status == FUNDUS_ENTRY_DONE ? "saved" : "skipped",
	    fundus_workspace_key(u->ws, u->img), nb, nb == 1 ? "" : "es", secs);
	fundus_session_history(u->s, &h, &n);
	if (u->have_claim && u->img == u->claim) {
		u->have_claim = 0;
		claim_and_show(u);
	} else {
		go_to(u, u->pos + 1);
	}
}

/* The answers object the focused question writes to (created when asked). */
static cJSON *answers_for(struct ui *u, const struct fundus_question *q, int create)
{
	cJSON **where, *a;

	if (q->scope == FUNDUS_SCOPE_BOX) {
		struct fundus_object *o;

		if (u->sel < 0)
			return NULL;
		o = &u->work->objects[u->sel];
		if (o->extra == NULL) {
			if (!create || (o->extra = cJSON_CreateObject()) == NULL)
				return NULL;
		}
		a = cJSON_GetObjectItemCaseSensitive(o->extra, "answers");
		if (a == NULL && create)
			a = cJSON_AddObjectToObject(o->extra, "answers");
		return a;
	}
	where = &u->work->answers;
	if (*where == NULL && create)
		*where = cJSON_CreateObject();
	return *where;
}

/* Sets (or with v NULL removes) the answer to q; takes v. */
static void set_answer(struct ui *u, const struct fundus_question *q, cJSON *v)
{
	cJSON *ans, *one;

	undo_push(u, ACT_NONE);
	ans = answers_for(u, q, v != NULL);
	if (ans)
		cJSON_DeleteItemFromObjectCaseSensitive(ans, q->id);
	if (v == NULL)
		return;
	one = cJSON_CreateObject();
	if (ans == NULL || one == NULL || !cJSON_AddItemToObject(one, "value", v) ||
	    !cJSON_AddItemToObject(ans, q->id, one))
		tool_die("out of memory");
}

/* The current answer to q, or NULL. */
static const cJSON *get_answer(struct ui *u, const struct fundus_question *q)
{
	const cJSON *ans = answers_for(u, q, 0);
	const cJSON *one = ans ? cJSON_GetObjectItemCaseSensitive(ans, q->id) : NULL;

	return one ? cJSON_GetObjectItemCaseSensitive(one, "value") : NULL;
}

/* Answers the focused question with digit d (0 clears). */
static void answer_digit(struct ui *u, int d)
{
	int idx[64], n = ui_focus_list(u, idx);
	const struct fundus_question *q;
	cJSON *v = NULL;

	if (n == 0) {
		say(u, "this workspace asks no question%s", u->sel < 0 ? " of images" : "");
		return;
	}
	if (u->qfocus >= n)
		u->qfocus = n - 1;
	q = &u->cfg->questions[idx[u->qfocus]];
	if (d == 0) {
		set_answer(u, q, NULL);
		say(u, "%s: cleared", q->id);
		return;
	}
	switch (q->type) {
	case FUNDUS_QUESTION_YESNO:
		if (d > 2) {
			say(u, "%s: 1 yes, 2 no", q->id);
			return;
		}
		v = cJSON_CreateString(d == 1 ? "yes" : "no");
		break;
	case FUNDUS_QUESTION_CHOICE:
		if (d > q->n_choices) {
			say(u, "%s: choose 1 to %d", q->id, q->n_choices);
			return;
		}
		v = cJSON_CreateString(q->choices[d - 1]);
		break;
	case FUNDUS_QUESTION_MULTI: {
		const cJSON *old = get_answer(u, q), *e;
		const char *opt;
		int had = 0;

		if (d > q->n_choices) {
			say(u, "%s: toggle 1 to %d, ] for the next question", q->id, q->n_choices);
			return;
		}
		opt = q->choices[d - 1];
		cJSON_ArrayForEach(e, old) had |= strcmp(e->valuestring, opt) == 0;
		if ((v = cJSON_CreateArray()) == NULL)
			tool_die("out of memory");
		/* Keep the choices in their order. */
		for (int c = 0; c < q->n_choices; c++) {
			int in = 0;

			cJSON_ArrayForEach(e, old) in |= strcmp(e->valuestring, q->choices[c]) == 0;
			if (c == d - 1)
				in = !had;
			if (in)
				cJSON_AddItemToArray(v, cJSON_CreateString(q->choices[c]));
		}
		set_answer(u, q, v);
		return; /* several may be chosen: the focus stays */
	}
	case FUNDUS_QUESTION_TEXT:
		u->text_mode = 1;
		u->text_len = 0;
		u->text[0] = '\0';
		{
			const cJSON *old = get_answer(u, q);

			if (cJSON_IsString(old)) {
				snprintf(u->text, sizeof u->text, "%s", old->valuestring);
				u->text_len = strlen(u->text);
			}
		}
		return;
	}
	if (v == NULL)
		tool_die("out of memory");
	set_answer(u, q, v);
	if (u->qfocus + 1 < n)
		u->qfocus++;
}

/* A key while typing a free-text answer. */
static void text_key(struct ui *u, int is_key, wint_t ch)
{
	int idx[64], n = ui_focus_list(u, idx);

	if (!is_key && (ch == L'\n' || ch == L'\r')) {
		u->text_mode = 0;
		if (n > 0 && u->qfocus < n) {
			const struct fundus_question *q = &u->cfg->questions[idx[u->qfocus]];
			cJSON *v = cJSON_CreateString(u->text);

			if (v == NULL)
				tool_die("out of memory");
			set_answer(u, q, v);
			if (u->qfocus + 1 < n)
				u->qfocus++;
		}
		return;
	}
	if (!is_key && ch == 27) {
		u->text_mode = 0;
		say(u, "typing cancelled");
		return;
	}
	if ((is_key && ch == KEY_BACKSPACE) || (!is_key && (ch == 127 || ch == 8))) {
		while (u->text_len > 0) {
			unsigned char c = (unsigned char)u->text[--u->text_len];

			if ((c & 0xc0) != 0x80)
				break;
		}
		u->text[u->text_len] = '\0';
		return;
	}
	if (!is_key && ch >= 32) {
		char mb[MB_LEN_MAX];
		mbstate_t st;
		size_t k;

		memset(&st, 0, sizeof st);
		k = wcrtomb(mb, (wchar_t)ch, &st);
		if (k != (size_t)-1 && u->text_len + k < sizeof u->text - 1) {
			memcpy(u->text + u->text_len, mb, k);
			u->text_len += k;
			u->text[u->text_len] = '\0';
		}
	}
}

/* Adds a box of the current label; selects it. */
static void add_box(struct ui *u, struct fundus_box b, const char *from)
{
	const char *label = u->cfg->labels[u->label].name;

	if (b.x1 - b.x0 < 1 || b.y1 - b.y0 < 1) {
		say(u, "a box needs some width and height");
		return;
	}
	undo_push(u, ACT_NONE);
	if (fundus_record_add_object(u->work, label, &b, NAN, NULL) < 0)
		tool_die("out of memory");
	if (from) {
		struct fundus_object *o = &u->work->objects[u->work->n_objects - 1];

		o->extra = cJSON_CreateObject();
		if (o->extra == NULL || !cJSON_AddStringToObject(o->extra, "from", from))
			tool_die("out of memory");
	}
	u->sel = (int)u->work->n_objects - 1;
	u->handle = 0;
	focus_box_questions(u);
	u->last_w = b.x1 - b.x0;
	u->last_h = b.y1 - b.y0;
	say(u, "box %d: %s [%.0f %.0f %.0f %.0f]", u->sel + 1, label, b.x0, b.y0, b.x1, b.y1);
}

/* The box spanned by the anchor and the cursor. */
static struct fundus_box span(double ax, double ay, double cx, double cy)
{
	struct fundus_box b = {fmin(ax, cx), fmin(ay, cy), fmax(ax, cx), fmax(ay, cy)};

	return b;
}

int ui_proposal_taken(const struct ui *u, int k)
{
	const struct fundus_object *p = &u->props->objects[k];

	for (size_t j = 0; j < u->work->n_objects; j++)
		if (fundus_box_iou(&p->bbox, &u->work->objects[j].bbox) > 0.9)
			return 1;
	return 0;
}

/* Accepts the highlighted proposal as a box. Returns 0, or -1 when there is none. */
static int accept_proposal(struct ui *u)
{
	const struct fundus_object *p;
	const char *from;

	if (u->props == NULL || u->props->n_objects == 0) {
		say(u, "no proposal on this image");
		return -1;
	}
	p = &u->props->objects[u->prop_sel % (int)u->props->n_objects];
	for (int i = 0; i < u->cfg->n_labels; i++)
		if (strcmp(u->cfg->labels[i].name, p->label) == 0)
			u->label = i;
	if (fundus_workspace_config_label(u->cfg, p->label) == NULL) {
		say(u, "proposal label '%s' is not one of this workspace's", p->label);
		return -1;
	}
	from = p->by ? p->by : "proposal";
	add_box(u, p->bbox, from);
	/* Highlight the next proposal not yet taken, for the next a. */
	for (int k = 1; k <= (int)u->props->n_objects; k++) {
		int j = (u->prop_sel + k) % (int)u->props->n_objects;

		if (!ui_proposal_taken(u, j)) {
			u->prop_sel = j;
			break;
		}
	}
	return 0;
}

/* Moves the cursor or the selected box's handle by (dx, dy) image pixels. */
static void move_by(struct ui *u, double dx, double dy)
{
	if (u->sel >= 0) {
		struct fundus_box *b = &u->work->objects[u->sel].bbox;

		undo_push(u, ACT_MOVE);
		if (u->handle == 0 || u->handle == 1) {
			b->x0 += dx;
			b->y0 += dy;
		}
		if (u->handle == 0 || u->handle == 2) {
			b->x1 += dx;
			b->y1 += dy;
		}
		/* A corner cannot pass the other one. */
		if (b->x1 - b->x0 < 1) {
			if (u->handle == 1)
				b->x0 = b->x1 - 1;
			else
				b->x1 = b->x0 + 1;
		}
		if (b->y1 - b->y0 < 1) {
			if (u->handle == 1)
				b->y0 = b->y1 - 1;
			else
				b->y1 = b->y0 + 1;
		}
		handle_point(u, &u->cx, &u->cy);
	} else {
		u->cx = fmin(fmax(u->cx + dx, 0), u->pic.iw);
		u->cy = fmin(fmax(u->cy + dy, 0), u->pic.ih);
	}
	view_follow(&u->view, &u->pic, u->cx, u->cy);
}

/* Grows (or with a negative d shrinks) the selected box by d on every side. */
static void grow(struct ui *u, double d)
{
	struct fundus_box *b;

	if (u->sel < 0) {
		say(u, "select a box first (Tab)");
		return;
	}
	b = &u->work->objects[u->sel].bbox;
	if (b->x1 - b->x0 + 2 * d < 1 || b->y1 - b->y0 + 2 * d < 1)
		return;
	undo_push(u, ACT_GROW);
	b->x0 -= d;
	b->y0 -= d;
	b->x1 += d;
	b->y1 += d;
}

/* Zooms by one step in (+1) or out (-1), about the cursor. */
static void zoom(struct ui *u, int dir)
{
	view_set(&u->view, &u->pic, u->view.zoom + dir, u->cx, u->cy);
	picture_invalidate();
}

/* Image point under a terminal cell (x, y), snapped to whole pixels; 0 or -1 outside. */
static int cell_point(const struct ui *u, int x, int y, double *ix, double *iy)
{
	const struct view *v = &u->view;

	if (x < v->col || y < v->row || x >= v->col + v->cols || y >= v->row + v->rows)
		return -1;
	*ix = round(fmin(fmax(view_x(v, x - v->col) + v->s / 2, 0), u->pic.iw));
	*iy = round(fmin(fmax(view_y(v, 2 * (y - v->row)) + v->s, 0), u->pic.ih));
	return 0;
}

/* The smallest box containing (x, y), or -1. */
static int box_at(const struct ui *u, double x, double y)
{
	int best = -1;
	double area = INFINITY;

	for (size_t k = 0; k < u->work->n_objects; k++) {
		const struct fundus_box *b = &u->work->objects[k].bbox;
		double a = (b->x1 - b->x0) * (b->y1 - b->y0);

		if (x >= b->x0 && x <= b->x1 && y >= b->y0 && y <= b->y1 && a < area) {
			best = (int)k;
			area = a;
		}
	}
	return best;
}

/* A mouse event: a drag draws a box, a click selects a box or moves the cursor. */
static void mouse(struct ui *u)
{
	MEVENT ev;
	double x, y;

	if (getmouse(&ev) != OK || !u->have_img)
		return;
	if (cell_point(u, ev.x, ev.y, &x, &y) < 0 && !u->mouse_down)
		return;
	cell_point(u, ev.x, ev.y, &x, &y);
	if (ev.bstate & BUTTON1_PRESSED) {
		u->mouse_down = 1;
		u->mx = x;
		u->my = y;
		u->drawing = 1;
		u->ax = x;
		u->ay = y;
		u->cx = x;
		u->cy = y;
		return;
	}
	if (u->mouse_down && (ev.bstate & (BUTTON1_RELEASED | BUTTON1_CLICKED))) {
		u->mouse_down = 0;
		u->drawing = 0;
		u->cx = x;
		u->cy = y;
		if (fabs(x - u->mx) >= 2 * u->view.s && fabs(y - u->my) >= 2 * u->view.s) {
			add_box(u, span(u->mx, u->my, x, y), NULL);
		} else {
			int k = box_at(u, x, y);

			u->sel = k;
			u->handle = 0;
			focus_box_questions(u);
		}
		return;
	}
	if (u->mouse_down) {
		u->cx = x;
		u->cy = y;
	}
}

/* Handles one key; returns 1 to quit. */
static int key(struct ui *u, int is_key, wint_t ch)
{
	double f = fine_step(u);
	int idx[64], nq;

	if (!is_key && ch == 'q') {
		if (u->dirty && !u->armed) {
			u->armed = 'q';
			say(u,
			    "this image has unsaved work: q again quits without it, Enter saves");
			return 0;
		}
		return 1;
	}
	if (u->help) {
		u->help = 0;
		picture_invalidate();
		return 0;
	}
	if (is_key) {
		switch (ch) {
		case KEY_RESIZE:
			draw_layout(u);
			view_set(&u->view, &u->pic, u->view.zoom, u->cx, u->cy);
			picture_invalidate();
			return 0;
		case KEY_MOUSE: mouse(u); return 0;
		case KEY_LEFT: move_by(u, -f, 0); return 0;
		case KEY_RIGHT: move_by(u, f, 0); return 0;
		case KEY_UP: move_by(u, 0, -f); return 0;
		case KEY_DOWN: move_by(u, 0, f); return 0;
		case KEY_SLEFT: move_by(u, -8 * f, 0); return 0;
		case KEY_SRIGHT: move_by(u, 8 * f, 0); return 0;
		case KEY_SR: move_by(u, 0, -8 * f); return 0;
		case KEY_SF: move_by(u, 0, 8 * f); return 0;
		case KEY_BTAB:
			u->sel = u->sel < 0 ? (int)u->work->n_objects - 1 : u->sel - 1;
			u->handle = 0;
			focus_box_questions(u);
			return 0;
		case KEY_DC:
		case KEY_BACKSPACE: ch = 'x'; break;
		case KEY_PPAGE: ch = 'p'; break;
		case KEY_NPAGE: ch = 'n'; break;
		case KEY_ENTER: ch = '\n'; break;
		default: return 0;
		}
	}
	if (ch != 'p' && ch != 'n')
		u->armed = 0;
	if (u->finished && strchr("pq?", (int)ch) == NULL && ch != 12) {
		say(u, "nothing left to annotate: p goes back, q quits");
		return 0;
	}
	for (int i = 0; i < u->cfg->n_labels; i++) {
		if (u->cfg->labels[i].key && (wint_t)u->cfg->labels[i].key == ch) {
			u->label = i;
			if (u->sel >= 0) {
				undo_push(u, ACT_NONE);
				fundus_record_set_string(&u->work->objects[u->sel].label,
							 u->cfg->labels[i].name);
			}
			say(u, "label: %s", u->cfg->labels[i].name);
			return 0;
		}
	}
	switch (ch) {
	case 'h': move_by(u, -f, 0); break;
	case 'l': move_by(u, f, 0); break;
	case 'k': move_by(u, 0, -f); break;
	case 'j': move_by(u, 0, f); break;
	case 'H': move_by(u, -8 * f, 0); break;
	case 'L': move_by(u, 8 * f, 0); break;
	case 'K': move_by(u, 0, -8 * f); break;
	case 'J': move_by(u, 0, 8 * f); break;
	case '\n':
	case '\r':
	case ' ': save(u, FUNDUS_ENTRY_DONE); break;
	case 's': save(u, FUNDUS_ENTRY_SKIPPED); break;
	case 'A':
		if (accept_proposal(u) == 0)
			save(u, FUNDUS_ENTRY_DONE);
		break;
	case 'a': accept_proposal(u); break;
	case 'o':
		if (u->props && u->props->n_objects > 0) {
			u->prop_sel = (u->prop_sel + 1) % (int)u->props->n_objects;
			say(u, "proposal %d of %zu", u->prop_sel + 1, u->props->n_objects);
		}
		break;
	case 'b':
		if (!u->drawing) {
			u->drawing = 1;
			u->sel = -1;
			u->ax = u->cx;
			u->ay = u->cy;
			say(u, "first corner set: move to the opposite corner and press b");
		} else {
			u->drawing = 0;
			add_box(u, span(u->ax, u->ay, u->cx, u->cy), NULL);
		}
		break;
	case 'B': {
		struct fundus_box b = {round(u->cx - u->last_w / 2), round(u->cy - u->last_h / 2),
				       0, 0};

		b.x1 = b.x0 + u->last_w;
		b.y1 = b.y0 + u->last_h;
		add_box(u, b, NULL);
		break;
	}
	case '\t':
		u->sel = u->sel + 1 >= (int)u->work->n_objects ? -1 : u->sel + 1;
		u->handle = 0;
		focus_box_questions(u);
		if (u->sel >= 0)
			say(u, "box %d selected: arrows move it, m picks a corner, x deletes",
			    u->sel + 1);
		break;
	case 27:
		if (u->drawing)
			u->drawing = 0;
		else
			u->sel = -1;
		focus_box_questions(u);
		break;
	case 'm':
		if (u->sel >= 0) {
			static const char *const names[] = {"whole box", "top-left corner",
							    "bottom-right corner"};

			u->handle = (u->handle + 1) % 3;
			u->last_action = ACT_NONE;
			handle_point(u, &u->cx, &u->cy);
			say(u, "arrows move the %s", names[u->handle]);
		}
		break;
	case 'x':
		if (u->sel >= 0) {
			undo_push(u, ACT_NONE);
			fundus_free(u->work->objects[u->sel].label);
			fundus_free(u->work->objects[u->sel].by);
			cJSON_Delete(u->work->objects[u->sel].extra);
			memmove(&u->work->objects[u->sel], &u->work->objects[u->sel + 1],
				(u->work->n_objects - (size_t)u->sel - 1) *
				    sizeof *u->work->objects);
			u->work->n_objects--;
			say(u, "box %d deleted", u->sel + 1);
			u->sel = -1;
			focus_box_questions(u);
		}
		break;
	case '+':
	case '=': grow(u, f); break;
	case '-': grow(u, -f); break;
	case 'z': zoom(u, 1); break;
	case 'Z': zoom(u, -1); break;
	case 'f':
		undo_push(u, ACT_NONE);
		u->flag = !u->flag;
		say(u, "%s", u->flag ? "flagged for review" : "flag removed");
		break;
	case 'u': undo_step(u, 0); break;
	case 'r':
	case 18: /* Ctrl-R */ undo_step(u, 1); break;
	case 'p':
	case 'n': {
		const size_t *h;
		size_t n;

		fundus_session_history(u->s, &h, &n);
		if (ch == 'p' && u->pos == 0) {
			say(u, "this is the first image you did");
			break;
		}
		if (ch == 'n' && u->pos >= n) {
			say(u, "this is the newest image: Enter saves it");
			break;
		}
		/* Leaving an image of the history throws its changes away: ask once. */
		if (u->dirty && u->pos < n && u->armed != (int)ch) {
			u->armed = (int)ch;
			say(u, "unsaved changes: %c again leaves them, Enter saves", (int)ch);
			break;
		}
		u->armed = 0;
		go_to(u, ch == 'p' ? u->pos - 1 : u->pos + 1);
		break;
	}
	case '[':
	case ']':
		nq = ui_focus_list(u, idx);
		if (nq > 0)
			u->qfocus = ch == '[' ? (u->qfocus + nq - 1) % nq : (u->qfocus + 1) % nq;
		break;
	case 't':
		nq = ui_focus_list(u, idx);
		if (nq > 0 && u->qfocus < nq &&
		    u->cfg->questions[idx[u->qfocus]].type == FUNDUS_QUESTION_TEXT)
			answer_digit(u, 1);
		else
			say(u, "t types the answer to a free-text question; [ ] choose one");
		break;
	case '?': u->help = 1; break;
	case 12: /* Ctrl-L */
		clearok(curscr, TRUE);
		picture_invalidate();
		break;
	default:
		if (ch >= '0' && ch <= '9')
			answer_digit(u, (int)(ch - '0'));
		else if (ch >= 32 && ch < 127)
			say(u, "key '%c' does nothing here: ? lists the keys", (int)ch);
		break;
	}
	return 0;
}

/* The overlays: boxes, the proposals not yet accepted, the rubber band. */
static int overlays(const struct ui *u, struct overlay_box *ov, int max)
{
	int n = 0;

	for (size_t k = 0; u->props && k < u->props->n_objects && n < max; k++) {
		const struct fundus_object *p = &u->props->objects[k];
		const struct fundus_label *l = fundus_workspace_config_label(u->cfg, p->label);

		if (ui_proposal_taken(u, (int)k))
			continue;
		ov[n].b = p->bbox;
		memcpy(ov[n].rgb, l ? l->colour : (const uint8_t[]){200, 200, 200}, 3);
		ov[n].style = (int)k == u->prop_sel ? 3 : 2;
		ov[n].handle = 0;
		n++;
	}
	for (size_t k = 0; k < u->work->n_objects && n < max; k++) {
		const struct fundus_object *o = &u->work->objects[k];
		const struct fundus_label *l = fundus_workspace_config_label(u->cfg, o->label);

		ov[n].b = o->bbox;
		memcpy(ov[n].rgb, l ? l->colour : (const uint8_t[]){255, 255, 255}, 3);
		ov[n].style = (int)k == u->sel ? 1 : 0;
		ov[n].handle = u->handle;
		n++;
	}
	if (u->drawing && n < max) {
		ov[n].b = span(u->ax, u->ay, u->cx, u->cy);
		memset(ov[n].rgb, 255, 3);
		ov[n].style = 4;
		ov[n].handle = 0;
		n++;
	}
	return n;
}

/* Draws the screen: ncurses first, then the picture over the cells it left blank. */
static void render(struct ui *u)
{
	struct overlay_box ov[256];
	int n = 0, paint;

	draw_screen(u);
	if (u->have_img && !u->help && u->pic.path) {
		if (picture_prepare(&u->pic, &u->view) < 0)
			say(u, "cannot show the image: %s", u->pic.err);
	}
	/* Without pixels the screen says why instead (draw_screen); s skips the image. */
	paint = u->have_img && !u->help && u->pic.path != NULL;

	if (paint)
		n = overlays(u, ov, 256);
	if (paint && u->mode == COLOUR_ASCII)
		picture_paint(&u->pic, &u->view, u->mode, ov, n, u->cx, u->cy);
	wnoutrefresh(stdscr);
	doupdate();
	if (paint && u->mode != COLOUR_ASCII)
		picture_paint(&u->pic, &u->view, u->mode, ov, n, u->cx, u->cy);
}

/* Chooses how to paint from the terminal and the locale. */
static enum colour_mode detect_mode(enum colour_mode asked)
{
	const char *ct = getenv("COLORTERM");
	int utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;

	if (!utf8)
		return COLOUR_ASCII; /* "▀" needs UTF-8 */
	if (asked != COLOUR_AUTO)
		return asked;
	if (ct && (strcmp(ct, "truecolor") == 0 || strcmp(ct, "24bit") == 0))
		return COLOUR_TRUE;
	if (has_colors() && COLORS >= 256)
		return COLOUR_256;
	return COLOUR_ASCII;
}

int ui_run(const struct ui_options *o)
{
	struct ui u;
	const char *clash_label;
	int clash, status = TOOL_EXIT_OK;

	memset(&u, 0, sizeof u);
	u.o = o;
	u.sel = -1;
	if (fundus_workspace_open(&u.ws, o->workspace) < 0) {
		tool_lib_error("cannot open workspace", o->workspace);
		return TOOL_EXIT_FAIL;
	}
	u.cfg = fundus_workspace_get_config(u.ws);
	if ((clash = ui_key_clash(u.cfg, &clash_label)) != 0) {
		tool_error(
		    "'%s': label '%s' has the key '%c', which the program uses; choose another "
		    "in workspace.json",
		    o->workspace, clash_label, clash);
		fundus_workspace_close(u.ws);
		return TOOL_EXIT_FAIL;
	}
	if (fundus_session_open(&u.s, u.ws, o->name) < 0) {
		tool_lib_error("cannot start a session in", o->workspace);
		fundus_workspace_close(u.ws);
		return TOOL_EXIT_FAIL;
	}
	setlocale(LC_ALL, "");
	if (getenv("ESCDELAY") == NULL)
		set_escdelay(100);
	initscr();
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	curs_set(0);
	if (has_colors()) {
		start_color();
		use_default_colors();
		draw_init_colours(u.cfg);
	}
	if (o->mouse) {
		mouseinterval(0);
		mousemask(BUTTON1_PRESSED | BUTTON1_RELEASED | REPORT_MOUSE_POSITION, NULL);
	}
	u.mode = detect_mode(o->colour);
	if (u.mode != COLOUR_ASCII && !draw_placeholders_fit())
		u.mode = COLOUR_ASCII;
	draw_layout(&u);
	claim_and_show(&u);
	if (u.finished)
		say(&u, "nothing left to annotate for %s", o->name);
	for (;;) {
		wint_t ch;
		int r, t;
		double tn;

		render(&u);
		r = get_wch(&ch);
		if (r == ERR)
			continue;
		tn = fundus_now();
		u.active += fmin(tn - u.t_last, 120.0);
		u.t_last = tn;
		if (u.have_img)
			fundus_session_touch(u.s, u.img);
		if (u.text_mode) {
			text_key(&u, r == KEY_CODE_YES, ch);
			continue;
		}
		t = key(&u, r == KEY_CODE_YES, ch);
		if (t)
			break;
	}
	endwin();
	picture_paint_free();
	picture_free(&u.pic);
	undo_clear(&u);
	fundus_record_free(u.work);
	fundus_record_free(u.props);
	fundus_record_free(u.draft);
	fundus_session_close(u.s);
	fundus_workspace_close(u.ws);
	return status;
}

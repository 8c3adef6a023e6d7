/*
 * The text of the annotation screen: a title line with the progress, a
 * side panel with labels, boxes, proposals and questions, a status line
 * and a one-line key help; "?" shows every key. The picture takes the
 * rest (picture.c). From 80x24 up; narrower terminals get a shorter panel.
 */
#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ui.h"

enum {
	PAIR_TITLE = 1,
	PAIR_FOCUS = 2,
	PAIR_DIM = 3,
	PAIR_FLAG = 4,
	PAIR_LABEL = 20,
	PAIR_ROW = 64, /* one per screen row, for the picture's placeholder cells */
};

void draw_init_colours(const struct fundus_workspace_config *cfg)
{
	init_pair(PAIR_TITLE, COLOR_BLACK, COLOR_CYAN);
	init_pair(PAIR_FOCUS, COLOR_YELLOW, -1);
	init_pair(PAIR_DIM, COLORS >= 256 ? 245 : COLOR_WHITE, -1);
	init_pair(PAIR_FLAG, COLOR_WHITE, COLOR_RED);
	/* For the ASCII picture: boxes in the 8 basic colours (bit 0 red, 1 green, 2 blue). */
	for (int c = 0; c < 8; c++)
		init_pair((short)(10 + c), (short)c, -1);
	for (int i = 0; i < cfg->n_labels && PAIR_LABEL + i < COLOR_PAIRS; i++) {
		const uint8_t *rgb = cfg->labels[i].colour;
		int c = COLORS >= 256 ? picture_xterm256(rgb)
				      : (rgb[0] > 127) | (rgb[1] > 127) << 1 | (rgb[2] > 127) << 2;

		init_pair((short)(PAIR_LABEL + i), (short)c, -1);
	}
}

void draw_layout(struct ui *u)
{
	int cols = COLS, rows = LINES;

	u->panel_cols = cols >= 110 ? 34 : cols >= 90 ? 30 : 26;
	if (u->panel_cols > cols / 2)
		u->panel_cols = cols / 2;
	u->panel_col = cols - u->panel_cols;
	u->view.col = 0;
	u->view.row = 1;
	u->view.cols = u->panel_col - 1 > 1 ? u->panel_col - 1 : 1;
	u->view.rows = rows - 3 > 1 ? rows - 3 : 1;
	u->view.pw = u->view.cols;
	u->view.ph = 2 * u->view.rows;
	for (int r = 0; has_colors() && r < rows && PAIR_ROW + r < COLOR_PAIRS; r++)
		init_pair((short)(PAIR_ROW + r), COLOR_BLACK, COLOR_BLACK);
	clearok(curscr, TRUE);
}

int draw_placeholders_fit(void)
{
	return has_colors() && PAIR_ROW + LINES < COLOR_PAIRS;
}

/*
 * The cells under the picture, as ncurses knows them: "▀" in black, the
 * first of each row a Braille pattern of that row's own (U+2800 + row).
 * The picture is painted over them with escape sequences that ncurses
 * does not see; since these cells never change, ncurses never rewrites
 * them, and since every row differs from every other (ncurses hashes the
 * characters of a line, not their colours), its update never scrolls a
 * stretch of rows under the picture, nor clears rows it believes blank.
 */
static void draw_placeholders(const struct ui *u)
{
	cchar_t cc;
	wchar_t ch[2] = {0x2580, 0};

	for (int r = 0; r < u->view.rows; r++) {
		int y = u->view.row + r;

		ch[0] = 0x2580;
		setcchar(&cc, ch, A_NORMAL, (short)(PAIR_ROW + y), NULL);
		mvhline_set(y, u->view.col, &cc, u->view.cols);
		ch[0] = (wchar_t)(0x2800 + (y & 0xff));
		setcchar(&cc, ch, A_NORMAL, (short)(PAIR_ROW + y), NULL);
		mvadd_wch(y, u->view.col, &cc);
	}
}

/* Writes at most width columns of s at (y, x). */
static void put(int y, int x, int width, const char *s)
{
	if (width <= 0 || y < 0 || y >= LINES)
		return;
	mvaddnstr(y, x, s, width);
}

/* A coordinate: whole pixels as integers, else one decimal. */
static void coord(char *buf, size_t n, double v)
{
	if (v == round(v))
		snprintf(buf, n, "%.0f", v);
	else
		snprintf(buf, n, "%.1f", v);
}

/* "x0,y0 x1,y1" of a box. */
static void box_text(char *buf, size_t n, const struct fundus_box *b)
{
	char a[4][24];

	coord(a[0], sizeof a[0], b->x0);
	coord(a[1], sizeof a[1], b->y0);
	coord(a[2], sizeof a[2], b->x1);
	coord(a[3], sizeof a[3], b->y1);
	snprintf(buf, n, "%s,%s %s,%s", a[0], a[1], a[2], a[3]);
}

/* The text of an answer: "yes", "drusen+haem", "\"a note\"", or "-". */
static void answer_text(char *buf, size_t n, const cJSON *v)
{
	const cJSON *e;
	size_t at = 0;

	if (v == NULL) {
		snprintf(buf, n, "-");
		return;
	}
	if (cJSON_IsString(v)) {
		snprintf(buf, n, "%s", v->valuestring);
		return;
	}
	buf[0] = '\0';
	cJSON_ArrayForEach(e, v)
	{
		if (cJSON_IsString(e) && at < n)
			at += (size_t)snprintf(buf + at, n - at, "%s%s", at ? "+" : "",
					       e->valuestring);
	}
	if (at == 0)
		snprintf(buf, n, "(none)");
}

/* The answer to q in the current work (box questions: the selected box's). */
static const cJSON *current_answer(const struct ui *u, const struct fundus_question *q)
{
	const cJSON *ans = NULL, *one;

	if (q->scope == FUNDUS_SCOPE_BOX) {
		if (u->sel >= 0 && u->work->objects[u->sel].extra)
			ans = cJSON_GetObjectItemCaseSensitive(u->work->objects[u->sel].extra,
							       "answers");
	} else {
		ans = u->work->answers;
	}
	one = ans ? cJSON_GetObjectItemCaseSensitive(ans, q->id) : NULL;
	return one ? cJSON_GetObjectItemCaseSensitive(one, "value") : NULL;
}

/* The choices of a question as "1 yes 2 no". */
static void choices_text(char *buf, size_t n, const struct fundus_question *q)
{
	size_t at = 0;

	buf[0] = '\0';
	if (q->type == FUNDUS_QUESTION_YESNO) {
		snprintf(buf, n, "1 yes  2 no");
		return;
	}
	if (q->type == FUNDUS_QUESTION_TEXT) {
		snprintf(buf, n, "1 or t: type, 0 clear");
		return;
	}
	for (int c = 0; c < q->n_choices && at < n; c++)
		at += (size_t)snprintf(buf + at, n - at, "%s%d %s", c ? "  " : "", c + 1,
				       q->choices[c]);
}

/* The side panel; returns the next free row. */
static int draw_panel(struct ui *u)
{
	int x = u->panel_col + 1, w = u->panel_cols - 1, y = 1, last = LINES - 3;
	int idx[64], nq = ui_focus_list(u, idx);
	char buf[512], bt[128];

	attron(A_BOLD);
	put(y++, x, w, "Labels");
	attroff(A_BOLD);
	for (int i = 0; i < u->cfg->n_labels && y <= last; i++) {
		const struct fundus_label *l = &u->cfg->labels[i];

		snprintf(buf, sizeof buf, "%c %c %s", i == u->label ? '>' : ' ',
			 l->key ? l->key : ' ', l->name);
		attron(COLOR_PAIR(PAIR_LABEL + i));
		put(y++, x, w, buf);
		attroff(COLOR_PAIR(PAIR_LABEL + i));
	}
	if (y <= last) {
		attron(A_BOLD);
		snprintf(buf, sizeof buf, "Boxes %zu", u->work ? u->work->n_objects : 0);
		put(y++, x, w, buf);
		attroff(A_BOLD);
	}
	for (size_t k = 0; u->work && k < u->work->n_objects && y <= last; k++) {
		const struct fundus_object *o = &u->work->objects[k];
		int pair = PAIR_LABEL;

		for (int i = 0; i < u->cfg->n_labels; i++)
			if (strcmp(u->cfg->labels[i].name, o->label) == 0)
				pair = PAIR_LABEL + i;
		box_text(bt, sizeof bt, &o->bbox);
		snprintf(buf, sizeof buf, "%c%zu %s %s", (int)k == u->sel ? '>' : ' ', k + 1,
			 o->label, bt);
		/* A narrow panel keeps the coordinates; the colour tells the label. */
		if ((int)strlen(buf) > w)
			snprintf(buf, sizeof buf, "%c%zu %s", (int)k == u->sel ? '>' : ' ', k + 1,
				 bt);
		if ((int)k == u->sel)
			attron(A_REVERSE);
		attron(COLOR_PAIR(pair));
		put(y++, x, w, buf);
		attroff(COLOR_PAIR(pair) | A_REVERSE);
	}
	if (u->props && u->props->n_objects > 0 && y <= last) {
		attron(A_BOLD);
		put(y++, x, w, "Proposals (a accepts)");
		attroff(A_BOLD);
		for (size_t k = 0; k < u->props->n_objects && y <= last && k < 3; k++) {
			const struct fundus_object *p = &u->props->objects[k];
			char score[16] = "";

			if (!isnan(p->score))
				snprintf(score, sizeof score, " %.2f", p->score);
			int taken = ui_proposal_taken(u, (int)k);

			snprintf(buf, sizeof buf, "%c %s%s%s", (int)k == u->prop_sel ? '*' : ' ',
				 p->label, score, taken ? " taken" : "");
			if (taken)
				attron(COLOR_PAIR(PAIR_DIM));
			put(y++, x, w, buf);
			if (taken)
				attroff(COLOR_PAIR(PAIR_DIM));
		}
	}
	for (int k = 0; k < nq && y <= last; k++) {
		const struct fundus_question *q = &u->cfg->questions[idx[k]];
		int focus = k == u->qfocus;

		if (k == 0 || (q->scope == FUNDUS_SCOPE_BOX &&
			       u->cfg->questions[idx[k - 1]].scope == FUNDUS_SCOPE_IMAGE)) {
			attron(A_BOLD);
			if (q->scope == FUNDUS_SCOPE_BOX)
				snprintf(buf, sizeof buf, "Box %d questions", u->sel + 1);
			else
				snprintf(buf, sizeof buf, "Questions ([ ] move)");
			put(y++, x, w, buf);
			attroff(A_BOLD);
			if (y > last)
				break;
		}
		answer_text(bt, sizeof bt, current_answer(u, q));
		snprintf(buf, sizeof buf, "%c %s: %s", focus ? '>' : ' ', q->text, bt);
		if (focus)
			attron(COLOR_PAIR(PAIR_FOCUS) | A_BOLD);
		put(y++, x, w, buf);
		if (focus)
			attroff(COLOR_PAIR(PAIR_FOCUS) | A_BOLD);
		if (focus && y <= last) {
			/* The choices, wrapped between choices to the panel's width. */
			const char *c = bt;

			choices_text(bt, sizeof bt, q);
			attron(COLOR_PAIR(PAIR_DIM));
			while (*c && y <= last) {
				int n = (int)strlen(c), room = w - 4;

				if (n > room) {
					const char *cut = NULL;

					for (const char *t = c; t < c + room; t++)
						if (t[0] == ' ' && t[1] == ' ')
							cut = t;
					n = cut && cut > c ? (int)(cut - c) : room;
				}
				snprintf(buf, sizeof buf, "    %.*s", n, c);
				put(y++, x, w, buf);
				c += n;
				while (*c == ' ')
					c++;
			}
			attroff(COLOR_PAIR(PAIR_DIM));
		}
	}
	if (u->flag && y <= last) {
		attron(COLOR_PAIR(PAIR_FLAG) | A_BOLD);
		put(y++, x, w, "FLAGGED for review");
		attroff(COLOR_PAIR(PAIR_FLAG) | A_BOLD);
	}
	return y;
}

/* The title line: who, where in the work, how fast. */
static void draw_title(struct ui *u)
{
	struct fundus_session_stats st;
	char buf[512], med[32] = "-";
	const struct fundus_record *r = u->have_img ? fundus_workspace_image(u->ws, u->img) : NULL;
	const char *name = r && r->image ? strrchr(r->image, '/') : NULL;
	const size_t *h;
	size_t nh;

	fundus_session_get_stats(u->s, &st);
	fundus_session_history(u->s, &h, &nh);
	if (!isnan(st.median_seconds))
		snprintf(med, sizeof med, "%.1f s", st.median_seconds);
	name = name ? name + 1 : r ? fundus_workspace_key(u->ws, u->img) : "";
	if (u->finished)
		snprintf(buf, sizeof buf, " %s | all done: %zu of %zu | median %s ",
			 fundus_session_name(u->s), st.done, st.images, med);
	else
		snprintf(
		    buf, sizeof buf,
		    " %s | %zu of %zu%s | done %zu skipped %zu | complete %zu | median %s | %s "
		    "%dx%d ",
		    fundus_session_name(u->s), u->pos + 1, st.images,
		    u->pos < nh ? " (done before)" : "", st.done, st.skipped, st.complete, med,
		    name, u->pic.iw, u->pic.ih);
	attron(COLOR_PAIR(PAIR_TITLE));
	move(0, 0);
	for (int x = 0; x < COLS; x++)
		addch(' ');
	put(0, 0, COLS, buf);
	attroff(COLOR_PAIR(PAIR_TITLE));
}

/* The status line: a message, or where the cursor is and what the keys do now. */
static void draw_status(struct ui *u)
{
	char buf[512], cx[24], cy[24];
	double f = u->view.s >= 1 ? round(u->view.s) : 1;

	if (u->text_mode) {
		int idx[64], n = ui_focus_list(u, idx);

		snprintf(buf, sizeof buf, "%s: %s_  (Enter keeps, Esc cancels)",
			 n ? u->cfg->questions[idx[u->qfocus < n ? u->qfocus : 0]].id : "",
			 u->text);
		attron(A_BOLD);
		put(LINES - 2, 0, COLS, buf);
		attroff(A_BOLD);
		return;
	}
	coord(cx, sizeof cx, u->cx);
	coord(cy, sizeof cy, u->cy);
	snprintf(buf, sizeof buf, "cursor %s,%s  zoom %d  step %.0f px%s  %s", cx, cy,
		 1 << u->view.zoom, f, u->drawing ? "  DRAWING (b closes)" : "", u->msg);
	put(LINES - 2, 0, COLS, buf);
}

/* The one-line help, shortened to the width. */
static void draw_help_line(void)
{
	static const char *const parts[] = {
	    "Enter save", "A accept+next", "b box",  "Tab select", "m corner", "u undo",
	    "s skip",     "p back",        "f flag", "z zoom",     "? keys",   "q quit",
	};
	char buf[512];
	size_t at = 0;

	buf[0] = '\0';
	for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
		size_t len = strlen(parts[k]) + (at ? 2 : 0);

		if (at + len > (size_t)COLS - 1 || at + len >= sizeof buf)
			break;
		at += (size_t)snprintf(buf + at, sizeof buf - at, "%s%s", at ? "  " : "", parts[k]);
	}
	attron(COLOR_PAIR(PAIR_DIM));
	put(LINES - 1, 0, COLS, buf);
	attroff(COLOR_PAIR(PAIR_DIM));
}

/* Every key, over the picture. */
static void draw_help(void)
{
	static const char *const lines[] = {
	    "Keys",
	    "",
	    "Enter, Space  save this image (done) and go to the next",
	    "A             accept the proposal, save, next (one key)",
	    "a / o         accept the highlighted proposal / highlight the next",
	    "s             skip (others may still get it);  f  flag for review",
	    "p / n         back / forward through the images you did",
	    "arrows, hjkl  move the cursor or the selected box (one step)",
	    "shift, HJKL   the same by 8 steps;  z / Z  zoom in / out",
	    "b             box: first corner, then b again at the opposite one",
	    "B             a box of the last size around the cursor",
	    "mouse drag    draw a box; click selects a box",
	    "Tab, S-Tab    select the next / previous box;  Esc  deselect",
	    "m             arrows move: whole box, top-left, bottom-right",
	    "+ / -         grow / shrink the selected box;  x, Del  delete it",
	    "label keys    set the label (of the selected box, and of new ones)",
	    "1-9, 0        answer the highlighted question, 0 clears it",
	    "[ / ]         previous / next question;  t  type a text answer",
	    "u / r         undo / redo;  Ctrl-L  redraw;  q  quit",
	    "",
	    "any key closes this help",
	};
	int n = (int)(sizeof lines / sizeof lines[0]), w = 70, h = n + 2;
	int y0 = (LINES - h) / 2, x0 = (COLS - w) / 2;

	if (x0 < 0)
		x0 = 0;
	if (y0 < 0)
		y0 = 0;
	for (int y = 0; y < h && y0 + y < LINES; y++) {
		move(y0 + y, x0);
		for (int x = 0; x < w && x0 + x < COLS; x++)
			addch(y == 0 || y == h - 1 ? '-' : (x == 0 || x == w - 1) ? '|' : ' ');
	}
	for (int k = 0; k < n; k++)
		put(y0 + 1 + k, x0 + 2, (COLS - x0 - 4 < w - 4 ? COLS - x0 - 4 : w - 4), lines[k]);
}

void draw_screen(struct ui *u)
{
	erase();
	draw_title(u);
	draw_panel(u);
	draw_status(u);
	draw_help_line();
	if (u->finished) {
		put(u->view.row + u->view.rows / 2 - 1, 2, u->view.cols - 2,
		    "Nothing left to annotate here.");
		put(u->view.row + u->view.rows / 2, 2, u->view.cols - 2,
		    "p goes back to your images, q quits.");
	} else if (u->have_img && u->pic.path == NULL) {
		put(u->view.row + 1, 2, u->view.cols - 2, "cannot show this image:");
		put(u->view.row + 2, 2, u->view.cols - 2, u->pic.err);
	} else if (u->have_img && !u->help && u->mode != COLOUR_ASCII) {
		draw_placeholders(u);
	}
	if (u->help)
		draw_help();
}

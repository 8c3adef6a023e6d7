/*
 * ui.h: what the files of the annotation screen share.
 *
 * ui.c runs the session: keys, boxes, questions, undo, saving. draw.c lays
 * out the screen with ncurses (title, side panel, status and help lines).
 * picture.c decodes the photograph at the scale the view needs and paints
 * it with half-block characters, boxes and cursor drawn into its pixels.
 */
#ifndef FUNDUS_ANNOTATE_UI_H
#define FUNDUS_ANNOTATE_UI_H

#include <stddef.h>
#include <stdint.h>

#include "fundus/image.h"
#include "fundus/record.h"
#include "fundus/workspace.h"

/* How the photograph is painted. */
enum colour_mode {
	COLOUR_AUTO = 0,
	COLOUR_TRUE,  /* "\e[38;2;r;g;bm": COLORTERM=truecolor or 24bit */
	COLOUR_256,   /* "\e[38;5;nm": the xterm 256-colour palette */
	COLOUR_ASCII, /* characters by brightness, for terminals without either (or no UTF-8) */
};

/* Options of an annotation session (from the command line). */
struct ui_options {
	const char *workspace;
	const char *name; /* the annotator */
	enum colour_mode colour;
	int mouse; /* 0: leave the mouse to the terminal */
};

/* The keys the program uses itself; labels may take any other printable key. */
#define UI_RESERVED_KEYS "aAbBfhjklHJKLmnopqrstuxzZ0123456789 +-=[]?"

/* Returns the first reserved key among the labels' hotkeys, or 0. */
int ui_key_clash(const struct fundus_workspace_config *cfg, const char **label);

/* Runs the session until the annotator quits. Returns a tool exit status. */
int ui_run(const struct ui_options *o);

/* The picture of the current image and how it is shown. */
struct picture {
	char *path;               /* the image file (NULL: none loaded) */
	int iw, ih;               /* its displayed size */
	struct fundus_image *dec; /* decoded pixels, RGB8, of the region below */
	int rx, ry, rw, rh;       /* the decoded region in image pixels */
	int rscale;               /* and its reduction */
	char err[200];            /* why the image could not be shown */
};

/* The area of the screen given to the picture, and the view into the image. */
struct view {
	int col, row, cols, rows; /* terminal cells */
	int pw, ph;               /* screen pixels: cols x 2 rows */
	double s;                 /* image pixels per screen pixel */
	double vx, vy;            /* image coordinates of the view's top-left corner */
	int zoom;                 /* 0: whole image; each step halves s */
};

/* What is drawn over the picture. */
struct overlay_box {
	struct fundus_box b;
	uint8_t rgb[3];
	int style;  /* 0 box, 1 selected box, 2 proposal, 3 highlighted proposal, 4 rubber band */
	int handle; /* selected box: 0 moves, 1 top-left corner, 2 bottom-right corner */
};

#define UI_UNDO_MAX 200

/* A state of the work on an image, for undo and redo. */
struct snap {
	struct fundus_record *w;
	int flag;
	int sel;
};

/* An annotation session's state. */
struct ui {
	const struct ui_options *o;
	struct fundus_workspace *ws;
	struct fundus_session *s;
	const struct fundus_workspace_config *cfg;
	enum colour_mode mode;
	/* The image on the screen: the claimed one, or one of the history. */
	size_t img;
	int have_img;
	size_t claim; /* the image claimed for this annotator */
	int have_claim;
	int finished;                /* nothing left to claim */
	size_t pos;                  /* in the history; n_history: at the claimed image */
	struct fundus_record *draft; /* the claimed image's work while browsing back */
	int draft_flag;
	/* The work on it. */
	struct fundus_record *work;
	int flag, dirty;
	struct fundus_record *props; /* proposals, best first; NULL for none */
	int prop_sel;
	int sel, handle; /* the selected box (-1: none) and which part the arrows move */
	struct snap undo[UI_UNDO_MAX], redo[UI_UNDO_MAX];
	int n_undo, n_redo;
	int last_action; /* consecutive moves of one box make one undo step */
	/* Cursor, drawing, labels, questions. */
	double cx, cy;
	int drawing;
	double ax, ay;
	int label;
	int qfocus;
	double last_w, last_h; /* the last box's size, for B */
	/* Screen. */
	struct picture pic;
	struct view view;
	int panel_col, panel_cols;
	char msg[256];
	int help;
	int armed;     /* a key that discards work was pressed once: 'q' or 'p'/'n' */
	int text_mode; /* typing a free-text answer */
	char text[1001];
	size_t text_len;
	int mouse_down;
	double mx, my;
	/* Time. */
	double t_last; /* the last key */
	double active; /* seconds spent on this image, pauses of over 2 minutes cut */
};

/* Whether proposal k has been taken as a box (a box overlaps it by IoU > 0.9). */
int ui_proposal_taken(const struct ui *u, int k);

/* Draws everything but the picture (draw.c). */
void draw_screen(struct ui *u);
/* Lays out the screen for the terminal's size. */
void draw_layout(struct ui *u);
/* Whether the terminal has a colour pair for every row (the picture needs them). */
int draw_placeholders_fit(void);
/* Colour pairs for the labels; call after start_color(). */
void draw_init_colours(const struct fundus_workspace_config *cfg);
/* The questions the digits answer now: image ones, then the selected box's. */
int ui_focus_list(const struct ui *u, int *idx);

/* Screen painting of the picture (picture.c). */
void picture_free(struct picture *p);
/* Opens an image (header only); 0 or -1 with p->err set. */
int picture_open(struct picture *p, const char *path);
/* Sets s, vx, vy for a zoom level, centred on image point (cx, cy). */
void view_set(struct view *v, const struct picture *p, int zoom, double cx, double cy);
/* Pans so that image point (x, y) is inside the view with a margin. */
void view_follow(struct view *v, const struct picture *p, double x, double y);
/* Decodes what the view needs if the cache does not hold it; 0 or -1 with p->err. */
int picture_prepare(struct picture *p, const struct view *v);
/*
 * Paints the view with the overlays and a cursor at image point (cx, cy)
 * (no cursor when cx is NAN). Writes escape sequences straight to the
 * terminal after ncurses has drawn the rest (truecolor and 256 colours),
 * or draws characters into stdscr (ASCII); only cells that changed since
 * the last call are sent. picture_invalidate() forgets what is on screen.
 */
void picture_paint(struct picture *p, const struct view *v, enum colour_mode mode,
		   const struct overlay_box *ov, int n_ov, double cx, double cy);
void picture_invalidate(void);
/* The xterm 256-colour index nearest to a colour. */
int picture_xterm256(const uint8_t *rgb);
/* Releases the painter's buffers. */
void picture_paint_free(void);

/* Image x of a screen column inside the view, and the reverse (picture.c). */
double view_x(const struct view *v, int col);
double view_y(const struct view *v, int row_px);

#endif

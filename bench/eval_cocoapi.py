"""fundus-eval against pycocotools, on random cases.

    /usr/bin/python3 bench/eval_cocoapi.py [--cases N] [--images N] [--seed S]
                                           [--fundus-eval PATH] [--keep DIR]

Each case is a random data set: a few hundred images, up to three labels
and a label only predictions use, boxes of random and of integer sizes (so
that areas land on 32^2 and 96^2 exactly and IoUs tie), crowd regions, COCO
"area" fields that differ from the box, images without ground truth,
images without predictions, one image with more than 100 detections,
scores drawn from a few values so that they tie, prediction records for
images the ground truth does not have, and, in every other case, COCO
image and category ids in another order than the records and the label
names; in every third case annotation ids start at 0, which pycocotools
mishandles (fundus-eval --pycocotools-id0 does the same). The same data go to
fundus-eval as records and as COCO files (instances and results, read
through fundus-convert's readers), and to pycocotools' COCOeval as COCO
dictionaries; the twelve summary numbers are compared: every one must
agree to 1e-9; how many agree to the bit is counted too. Then the same
for every COCO instances file under $FUNDUS_SHARED/formats/coco (real
exports: Roboflow, CVAT, Datumaro, mmdetection), against detections made
from its own boxes, moved, dropped and added to at random.

Run it with Debian's /usr/bin/python3 (numpy); pycocotools must be
importable (pip's pycocotools; Debian 12 does not package it). Without it
the script prints "skip: ..." and exits 77.
"""
import argparse
import copy
import glob
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

NAMES = ["AP", "AP50", "AP75", "APs", "APm", "APl",
         "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]


def rand_box(rng, w, h):
    """A box [x0, y0, x1, y1] inside w x h: integer sizes on the area borders, or random."""
    kind = rng.random()
    if kind < 0.25:
        bw, bh = rng.choice([(32, 32), (96, 96), (16, 64), (48, 192), (31, 33), (97, 95)])
        x0, y0 = rng.randrange(0, w - bw), rng.randrange(0, h - bh)
    elif kind < 0.5:
        bw, bh = rng.randrange(4, 200), rng.randrange(4, 200)
        x0, y0 = rng.randrange(0, w - bw), rng.randrange(0, h - bh)
    else:
        bw, bh = rng.uniform(2, 250), rng.uniform(2, 250)
        x0, y0 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
    return [x0, y0, x0 + bw, y0 + bh]


def jitter(rng, b):
    """A prediction near a ground-truth box: exact, shifted by whole pixels, or noisy."""
    kind = rng.random()
    if kind < 0.2:
        return list(b)
    w, h = b[2] - b[0], b[3] - b[1]
    if kind < 0.5:
        dx, dy = rng.randrange(-8, 9), rng.randrange(-8, 9)
        return [b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy]
    s = rng.uniform(0.05, 0.4)
    return [b[0] + rng.uniform(-s, s) * w, b[1] + rng.uniform(-s, s) * h,
            b[2] + rng.uniform(-s, s) * w, b[3] + rng.uniform(-s, s) * h]


def make_case(rng, n_images, permute_ids, ids_from_0=False):
    """Ground-truth and prediction records, and the same as COCO dictionaries."""
    labels = sorted(rng.sample(["cup", "disc", "exudate", "haemorrhage"], rng.randint(1, 3)))
    ghost = "zz_only_predicted"
    cat_id = {l: i + 1 for i, l in enumerate(labels + [ghost])}
    if permute_ids:
        # Category ids out of name order too (records carry names only, COCO files the ids).
        shuffled = rng.sample(range(2, 40), len(cat_id))
        cat_id = dict(zip(labels + [ghost], shuffled))
    W, H = 800, 600
    ids = list(range(1, n_images + 1))
    if permute_ids:
        rng.shuffle(ids)
    scores = [round(0.05 * k, 2) for k in range(1, 20)]
    gt_recs, pred_recs, images, anns, results = [], [], [], [], []
    ann_id = -1 if ids_from_0 else 0
    big = rng.randrange(n_images)
    for i in range(n_images):
        name = "img/%05d.jpg" % i
        images.append({"id": ids[i], "file_name": name, "width": W, "height": H})
        objs, pobjs = [], []
        empty = rng.random() < 0.15
        for l in labels:
            for _ in range(0 if empty else rng.choice([0, 0, 1, 1, 1, 2, 3, 5])):
                b = rand_box(rng, W, H)
                o = {"label": l, "bbox": b}
                area = (b[2] - b[0]) * (b[3] - b[1])
                crowd = 1 if rng.random() < 0.08 else 0
                if crowd:
                    o["iscrowd"] = 1
                if rng.random() < 0.1:
                    area = rng.choice([1024, 9216, area * rng.uniform(0.3, 1.2)])
                    o["area"] = area
                ann_id += 1
                if ids_from_0:
                    o["id"] = ann_id  # as fundus-convert keeps ids that do not start at 1
                objs.append(o)
                anns.append({"id": ann_id, "image_id": ids[i], "category_id": cat_id[l],
                             "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                             "area": area, "iscrowd": crowd})
                if rng.random() < 0.8:
                    for _ in range(rng.choice([1, 1, 1, 2])):
                        pobjs.append({"label": l, "bbox": jitter(rng, b),
                                      "score": rng.choice(scores)})
            for _ in range(rng.choice([0, 0, 1, 2, 4])):
                pobjs.append({"label": l, "bbox": rand_box(rng, W, H),
                              "score": rng.choice(scores)})
        if i == big:
            for _ in range(120):
                pobjs.append({"label": labels[0], "bbox": rand_box(rng, W, H),
                              "score": rng.choice(scores)})
        if rng.random() < 0.05:
            pobjs.append({"label": ghost, "bbox": rand_box(rng, W, H), "score": 0.5})
        rec = {"image": name, "width": W, "height": H, "objects": objs}
        if permute_ids:
            rec["coco_id"] = ids[i]
        gt_recs.append(rec)
        if rng.random() < 0.9:
            rng.shuffle(pobjs)
            pred_recs.append({"image": name, "objects": pobjs})
            for o in pobjs:
                b = o["bbox"]
                results.append({"image_id": ids[i], "category_id": cat_id[o["label"]],
                                "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                                "score": o["score"]})
    rng.shuffle(pred_recs)
    # Records for images the ground truth does not have: fundus-eval warns and ignores them
    # (pycocotools refuses them, so they stay out of its results).
    pred_recs.append({"image": "elsewhere/unknown.jpg",
                      "objects": [{"label": labels[0], "bbox": [0, 0, 10, 10], "score": 1}]})
    coco_gt = {"info": {}, "images": images, "annotations": anns,
               "categories": [{"id": cat_id[l], "name": l} for l in labels + [ghost]]}
    return gt_recs, pred_recs, coco_gt, results


def pycocotools_stats(coco_gt, results):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = coco_gt
        gt.createIndex()
        dt = gt.loadRes(results)
        e = COCOeval(gt, dt, "bbox")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return [float(x) for x in e.stats]


def shared_files(shared):
    """The COCO instances files under shared/formats/coco that have boxes, with their content."""
    for path in sorted(glob.glob(os.path.join(shared, "formats", "coco", "**", "*.json"),
                                 recursive=True)):
        try:
            with open(path) as f:
                d = json.load(f)
        except (OSError, ValueError):
            continue
        if (isinstance(d, dict) and d.get("annotations") and "images" in d
                and all(len(a.get("bbox", [])) == 4 for a in d["annotations"])):
            yield path, d


def results_for(rng, d):
    """Detections for a real COCO file: its boxes moved a little, some dropped, some extra."""
    res = []
    for a in d["annotations"]:
        if rng.random() < 0.85:
            b = list(a["bbox"])
            k = rng.random()
            if k < 0.5:
                b[0] += rng.choice([-3, -1, 0, 0, 1, 2])
                b[1] += rng.choice([-2, 0, 0, 1])
            elif k < 0.8:
                b = [b[0] + rng.uniform(-0.2, 0.2) * b[2], b[1] + rng.uniform(-0.2, 0.2) * b[3],
                     b[2] * rng.uniform(0.8, 1.2), b[3] * rng.uniform(0.8, 1.2)]
            res.append({"image_id": a["image_id"], "category_id": a["category_id"],
                        "bbox": b, "score": rng.choice([0.3, 0.5, 0.7, 0.9])})
        if rng.random() < 0.3:
            res.append({"image_id": a["image_id"], "category_id": a["category_id"],
                        "bbox": [rng.uniform(0, 300), rng.uniform(0, 300), rng.uniform(5, 80),
                                 rng.uniform(5, 80)],
                        "score": rng.choice([0.3, 0.5, 0.7, 0.9])})
    return res


def write_jsonl(path, recs):
    with open(path, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=20)
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fundus-eval", default=shutil.which("fundus-eval") or "fundus-eval")
    ap.add_argument("--keep", help="keep each case's files in this folder")
    a = ap.parse_args()
    try:
        import numpy  # noqa: F401
        import pycocotools.cocoeval  # noqa: F401
    except ImportError as e:
        print("skip: pycocotools cannot be imported by %s (%s); Debian 12 does not package it"
              % (sys.executable, e))
        return 77
    import pycocotools
    print("pycocotools from %s" % os.path.dirname(pycocotools.__file__))
    rng = random.Random(a.seed)
    worst = {"records": [0.0] * 12, "COCO": [0.0] * 12}
    exact = {"records": [0] * 12, "COCO": [0] * 12}
    bad = 0
    tmp = a.keep or tempfile.mkdtemp(prefix="fundus-eval-cocoapi.")
    os.makedirs(tmp, exist_ok=True)
    for case in range(a.cases):
        gt_recs, pred_recs, coco_gt, results = make_case(rng, a.images, case % 2 == 1,
                                                         case % 3 == 2)
        gp = os.path.join(tmp, "gt%03d.jsonl" % case)
        pp = os.path.join(tmp, "pred%03d.jsonl" % case)
        cg = os.path.join(tmp, "gt%03d.json" % case)
        cr = os.path.join(tmp, "results%03d.json" % case)
        write_jsonl(gp, gt_recs)
        write_jsonl(pp, pred_recs)
        with open(cg, "w") as f:
            json.dump(coco_gt, f)
        with open(cr, "w") as f:
            json.dump(results, f)
        theirs = pycocotools_stats(coco_gt, results)
        # The same data as records, and as the COCO files pycocotools reads.
        for form, files in (("records", (gp, pp)), ("COCO", (cg, cr))):
            out = subprocess.run([a.fundus_eval, "--quiet", "--json", "--pycocotools-id0"]
                                 + list(files),
                                 capture_output=True, text=True)
            if out.returncode != 0:
                print("case %d, %s: fundus-eval failed (%d): %s"
                      % (case, form, out.returncode, out.stderr))
                bad += 1
                continue
            ours = json.loads(out.stdout)["coco"]
            for k, name in enumerate(NAMES):
                d = abs(ours[name] - theirs[k])
                worst[form][k] = max(worst[form][k], d)
                exact[form][k] += ours[name] == theirs[k]
                if not d <= 1e-9:
                    print("case %d, %s: %s fundus-eval %.17g, pycocotools %.17g"
                          % (case, form, name, ours[name], theirs[k]))
                    bad += 1
    shared = os.environ.get("FUNDUS_SHARED",
                            os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                         "shared"))
    real = 0
    if os.path.isdir(shared):
        print("real COCO files from %s:" % shared)
    for path, d in shared_files(shared):
        # pycocotools needs "iscrowd" and "info"; fundus-eval takes their absence as 0 and {}.
        gt = copy.deepcopy(d)
        gt.setdefault("info", {})
        for ann in gt["annotations"]:
            ann.setdefault("iscrowd", 0)
        res = results_for(rng, d)
        if not res:
            continue
        rp = os.path.join(tmp, "real%03d.json" % real)
        with open(rp, "w") as f:
            json.dump(res, f)
        theirs = pycocotools_stats(gt, res)
        out = subprocess.run([a.fundus_eval, "--quiet", "--json", "--pycocotools-id0", path, rp],
                             capture_output=True, text=True)
        name = os.path.relpath(path, shared)
        if out.returncode != 0:
            print("%s: fundus-eval failed (%d): %s" % (name, out.returncode, out.stderr))
            bad += 1
            continue
        ours = json.loads(out.stdout)["coco"]
        diff = max(abs(ours[n] - theirs[k]) for k, n in enumerate(NAMES))
        same = sum(ours[n] == theirs[k] for k, n in enumerate(NAMES))
        print("%-60s AP %.3f  max |diff| %.3g  bit-equal %d/12" % (name, theirs[0], diff, same))
        if not diff <= 1e-9:
            bad += 1
        real += 1
    if not a.keep:
        shutil.rmtree(tmp)
    print("%d cases of %d images each (seed %d)" % (a.cases, a.images, a.seed))
    print("%-6s %14s %10s %14s %10s" % ("", "records:", "", "COCO files:", ""))
    print("%-6s %14s %10s %14s %10s" % ("metric", "max |diff|", "bit-equal",
                                         "max |diff|", "bit-equal"))
    for k, name in enumerate(NAMES):
        print("%-6s %14.3g %6d/%-3d %14.3g %6d/%-3d"
              % (name, worst["records"][k], exact["records"][k], a.cases,
                 worst["COCO"][k], exact["COCO"][k], a.cases))
    print("%d passed, %d failed" % (a.cases * 24 + real - bad, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Drives headless Chromium through the DevTools protocol over a pipe
(--remote-debugging-pipe: no port, no websocket, no package beyond Python):
opens fundus-serve's page, uploads an image through its file input, waits
for the boxes, reads the canvas where the API's boxes should be drawn, and
saves a screenshot. Used by serve_page.sh.

    serve_page.py CHROMIUM URL IMAGE API.json SCREENSHOT.png > result.json

Prints one JSON object: the page's state and record, its scale, the canvas
size, and for each of the API's boxes the colours sampled on its left,
right and bottom edges.
"""
import base64
import json
import os
import subprocess
import sys
import tempfile
import time


class Browser:
    def __init__(self, chromium, profile, log):
        cmd_r, self.cmd_w = os.pipe()  # Chromium reads commands on its fd 3
        self.ans_r, ans_w = os.pipe()  # and writes answers on its fd 4

        def child():
            a, b = os.dup(cmd_r), os.dup(ans_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--no-default-browser-check", "--remote-debugging-pipe",
             "--user-data-dir=" + profile, "--window-size=1200,1000", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=False,
            preexec_fn=child)
        os.close(cmd_r)
        os.close(ans_w)
        self.buf = b""
        self.next_id = 0
        self.events = []

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            if time.time() > deadline:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self.ans_r, 1 << 20)
            if not chunk:
                raise EOFError("Chromium closed its pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=None, timeout=60):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(method + ": " + json.dumps(m["error"]))
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method, timeout=60):
        deadline = time.time() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    del self.events[i]
                    return e
            self.events.append(self._read_message(deadline))

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# Samples the canvas along the edges of each of the API's boxes (scaled as
# the page scales): three points on the left, right and bottom edges.
SAMPLE = """(() => {
  const c = document.getElementById("canvas"), ctx = c.getContext("2d");
  const f = window.fundus, s = f.scale, out = [];
  // A box on the image's far edge is stroked half inside: sample the last pixel.
  const px = (x, y) => Array.from(ctx.getImageData(Math.min(Math.round(x), c.width - 1),
                                                   Math.min(Math.round(y), c.height - 1), 1, 1).data);
  for (const b of %s) {
    const [x0, y0, x1, y1] = b.map((v) => v * s);
    const e = {left: [], right: [], bottom: []};
    for (const t of [0.4, 0.5, 0.6]) {
      e.left.push(px(x0, y0 + t * (y1 - y0)));
      e.right.push(px(x1, y0 + t * (y1 - y0)));
      e.bottom.push(px(x0 + t * (x1 - x0), y1));
    }
    out.push(e);
  }
  return JSON.stringify({state: f.state, error: f.error || null, record: f.record, scale: s,
                         canvas: [c.width, c.height], status: document.getElementById("status").textContent,
                         samples: out});
})()"""


def main():
    chromium, url, image, api_path, shot = sys.argv[1:6]
    with open(api_path) as f:
        api = json.load(f)
    boxes = [o["bbox"] for o in api["objects"]]
    profile = tempfile.mkdtemp(prefix="fundus-chromium.")
    log = open(os.path.join(os.path.dirname(os.path.abspath(shot)), "chromium.log"), "w")
    b = Browser(chromium, profile, log)
    try:
        target = b.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = b.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        b.call("Page.enable", session=session)
        b.call("Runtime.enable", session=session)
        b.call("Page.navigate", {"url": url}, session=session)
        b.wait_event("Page.loadEventFired")
        root = b.call("DOM.getDocument", session=session)["root"]["nodeId"]
        node = b.call("DOM.querySelector", {"nodeId": root, "selector": "#file"}, session=session)["nodeId"]
        b.call("DOM.setFileInputFiles", {"nodeId": node, "files": [os.path.abspath(image)]}, session=session)
        state = None
        deadline = time.time() + 120
        while time.time() < deadline:
            r = b.call("Runtime.evaluate", {"expression": "window.fundus.state", "returnByValue": True},
                       session=session)
            state = r["result"].get("value")
            if state in ("done", "error"):
                break
            time.sleep(0.1)
        r = b.call("Runtime.evaluate", {"expression": SAMPLE % json.dumps(boxes), "returnByValue": True},
                   session=session)
        result = json.loads(r["result"]["value"])
        png = b.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                     session=session)["data"]
        with open(shot, "wb") as f:
            f.write(base64.b64decode(png))
        print(json.dumps(result))
    finally:
        b.close()
        subprocess.run(["rm", "-rf", profile])


if __name__ == "__main__":
    main()

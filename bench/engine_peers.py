"""The peers of bench/engine: the same one-class yolov3-tiny in PyTorch,
OpenCV's dnn module and darknet, timed the way bench_engine times ours.

    engine_peers.py torch-train THREADS RUNS STEPS [passive]
    engine_peers.py torch-infer THREADS SIZE RUNS PASSES [passive]
    engine_peers.py setup DIR                  darknet cfgs, weights, images
    engine_peers.py opencv-infer DIR THREADS SIZE RUNS PASSES
    engine_peers.py darknet-infer DIR SIZE RUNS PASSES
    engine_peers.py darknet-train DIR          reads `darknet detector train` output on stdin

"passive" only names the result torch-passive: bench/engine runs it with
OMP_WAIT_POLICY=PASSIVE. Run with Debian's /usr/bin/python3 (python3-torch, python3-opencv). Each
measurement ends with a line "RESULT name value value ..." (one value per
run): images/s for training, ms/image for inference.

Training is whole SGD steps (momentum 0.9, weight decay) of batch 8 at
256 x 256 on random images, with the gradient of a fixed random linear
function of the two outputs, as bench_engine does. Inference is batch 1 in
evaluation mode without gradients. The network description is read from
lib/nn/nets/yolov3-tiny.cfg, so that all three run the same network.
"""
import ctypes
import os
import re
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CFG = os.path.join(HERE, "..", "lib", "nn", "nets", "yolov3-tiny.cfg")


def result(name, values):
    print("RESULT %s %s" % (name, " ".join("%.3f" % v for v in values)), flush=True)


def torch_model():
    import torch
    import torch.nn as nn

    def cbl(c1, c2, k):
        return nn.Sequential(nn.Conv2d(c1, c2, k, 1, k // 2, bias=False), nn.BatchNorm2d(c2),
                             nn.LeakyReLU(0.1))

    class MaxPoolSame(nn.Module):
        """darknet's 2x2 stride-1 max pool: the window padded right and below."""

        def forward(self, x):
            return nn.functional.max_pool2d(nn.functional.pad(x, (0, 1, 0, 1), mode="replicate"),
                                            2, 1)

    class YoloV3Tiny(nn.Module):
        def __init__(self, classes=1):
            super().__init__()
            mp = lambda: nn.MaxPool2d(2, 2)
            self.to8 = nn.Sequential(cbl(3, 16, 3), mp(), cbl(16, 32, 3), mp(), cbl(32, 64, 3),
                                     mp(), cbl(64, 128, 3), mp(), cbl(128, 256, 3))
            self.to13 = nn.Sequential(mp(), cbl(256, 512, 3), MaxPoolSame(), cbl(512, 1024, 3),
                                      cbl(1024, 256, 1))
            out = 3 * (classes + 5)
            self.head1 = nn.Sequential(cbl(256, 512, 3), nn.Conv2d(512, out, 1))
            self.up = nn.Sequential(cbl(256, 128, 1), nn.Upsample(scale_factor=2, mode="nearest"))
            self.head2 = nn.Sequential(cbl(384, 256, 3), nn.Conv2d(256, out, 1))

        def forward(self, x):
            x8 = self.to8(x)
            x13 = self.to13(x8)
            return self.head1(x13), self.head2(torch.cat([self.up(x13), x8], 1))

    return torch, YoloV3Tiny()


def torch_threads(torch, threads):
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass


def torch_name(threads, passive):
    return "torch-passive" if passive else "torch"


def torch_train(threads, runs, steps, passive=False, batch=8, size=256):
    torch, model = torch_model()
    torch_threads(torch, threads)
    torch.manual_seed(1)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
    x = torch.rand(batch, 3, size, size) * 2 - 1
    with torch.no_grad():
        g = [torch.rand_like(o) * 2 - 1 for o in model(x)]
    model.train()
    values = []
    for r in range(-1, runs):
        t0 = time.perf_counter()
        for _ in range(1 if r < 0 else steps):
            opt.zero_grad()
            o1, o2 = model(x)
            loss = (o1 * g[0]).sum() + (o2 * g[1]).sum()
            loss.backward()
            opt.step()
        if r >= 0:
            values.append(steps * batch / (time.perf_counter() - t0))
            print("torch train %d threads: run %d: %.2f images/s" % (threads, r + 1, values[-1]),
                  file=sys.stderr)
    result("%s.train.t%d" % (torch_name(threads, passive), threads), values)


def torch_infer(threads, size, runs, passes, passive=False):
    torch, model = torch_model()
    torch_threads(torch, threads)
    model.eval()
    x = torch.rand(1, 3, size, size) * 2 - 1
    values = []
    with torch.no_grad():
        for r in range(-1, runs):
            t0 = time.perf_counter()
            for _ in range(2 if r < 0 else passes):
                model(x)
            if r >= 0:
                values.append(1e3 * (time.perf_counter() - t0) / passes)
                print("torch infer %d threads at %d: run %d: %.2f ms" % (threads, size, r + 1,
                                                                        values[-1]),
                      file=sys.stderr)
    result("%s.infer%d.t%d" % (torch_name(threads, passive), size, threads), values)


def darknet_cfg(size, batch, max_batches):
    """Our description with darknet's training keys in [net] and no resizing."""
    text = open(CFG).read()
    layers = text[text.index("[convolutional]"):].replace("random=1", "random=0")
    return ("[net]\nbatch=%d\nsubdivisions=1\nwidth=%d\nheight=%d\nchannels=3\nmomentum=0.9\n"
            "decay=0.0005\nangle=0\nsaturation=1.0\nexposure=1.0\nhue=0\nlearning_rate=0.0001\n"
            "burn_in=0\nmax_batches=%d\npolicy=steps\nsteps=400000,450000\nscales=.1,.1\n\n"
            % (batch, size, size, max_batches)) + layers


def setup(d):
    """darknet cfgs, a weights file of random values, and 16 labelled images."""
    import numpy as np
    import cv2

    os.makedirs(os.path.join(d, "img"), exist_ok=True)
    os.makedirs(os.path.join(d, "backup"), exist_ok=True)
    open(os.path.join(d, "train.cfg"), "w").write(darknet_cfg(256, 8, 6))
    for s in (256, 416):
        open(os.path.join(d, "test%d.cfg" % s), "w").write(darknet_cfg(s, 1, 1))
    rng = np.random.default_rng(1)
    # Weights in darknet's order: per convolution biases, [scales, mean, variance], weights.
    sections = re.findall(r"\[(\w+)\]([^\[]*)", darknet_cfg(256, 1, 1))[1:]
    channels = []
    with open(os.path.join(d, "yolov3-tiny.weights"), "wb") as f:
        np.array([0, 2, 5], np.int32).tofile(f)
        np.array([0], np.int64).tofile(f)
        for i, (name, body) in enumerate(sections):
            kv = dict(tuple(p.strip() for p in line.split("=", 1))
                      for line in body.splitlines() if "=" in line and not line.startswith("#"))
            if name == "convolutional":
                n, k = int(kv["filters"]), int(kv.get("size", 1))
                c = channels[-1] if channels else 3
                np.zeros(n, np.float32).tofile(f)
                if kv.get("batch_normalize") == "1":
                    np.ones(n, np.float32).tofile(f)
                    np.zeros(n, np.float32).tofile(f)
                    np.ones(n, np.float32).tofile(f)
                (rng.standard_normal(n * c * k * k) * (2.0 / (c * k * k)) ** 0.5).astype(
                    np.float32).tofile(f)
                channels.append(n)
            elif name == "route":
                refs = [int(v) for v in kv["layers"].split(",")]
                channels.append(sum(channels[r if r >= 0 else i + r] for r in refs))
            else:
                channels.append(channels[-1] if channels else 3)
    paths = []
    for j in range(16):
        p = os.path.abspath(os.path.join(d, "img", "%d.jpg" % j))
        cv2.imwrite(p, (rng.random((256, 256, 3)) * 255).astype(np.uint8))
        open(p[:-4] + ".txt", "w").write("0 0.5 0.5 0.2 0.2\n")
        paths.append(p)
    open(os.path.join(d, "list.txt"), "w").write("\n".join(paths) + "\n")
    open(os.path.join(d, "names"), "w").write("disc\n")
    open(os.path.join(d, "fundus.data"), "w").write(
        "classes=1\ntrain=%s\nvalid=%s\nnames=%s\nbackup=%s\n" %
        (os.path.join(d, "list.txt"), os.path.join(d, "list.txt"), os.path.join(d, "names"),
         os.path.join(d, "backup")))


def opencv_infer(d, threads, size, runs, passes):
    import numpy as np
    import cv2

    cv2.setNumThreads(threads)
    net = cv2.dnn.readNetFromDarknet(os.path.join(d, "test%d.cfg" % size),
                                     os.path.join(d, "yolov3-tiny.weights"))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    names = net.getUnconnectedOutLayersNames()
    blob = np.random.default_rng(1).random((1, 3, size, size), dtype=np.float32)
    values = []
    for r in range(-1, runs):
        t0 = time.perf_counter()
        for _ in range(2 if r < 0 else passes):
            net.setInput(blob)
            net.forward(names)
        if r >= 0:
            values.append(1e3 * (time.perf_counter() - t0) / passes)
            print("opencv infer %d threads at %d: run %d: %.2f ms" % (threads, size, r + 1,
                                                                     values[-1]),
                  file=sys.stderr)
    result("opencv.infer%d.t%d" % (size, threads), values)


def darknet_infer(d, size, runs, passes):
    """network_predict() of Debian's libdarknet, which computes on one thread."""
    import numpy as np

    lib = ctypes.CDLL("/usr/lib/darknet/libdarknet.so")
    lib.load_network.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
    lib.load_network.restype = ctypes.c_void_p
    lib.set_batch_network.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.network_predict.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float)]
    lib.network_predict.restype = ctypes.POINTER(ctypes.c_float)
    net = lib.load_network(os.path.join(d, "test%d.cfg" % size).encode(),
                           os.path.join(d, "yolov3-tiny.weights").encode(), 0)
    lib.set_batch_network(net, 1)
    x = np.random.default_rng(1).random(3 * size * size, dtype=np.float32)
    px = x.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    values = []
    for r in range(-1, runs):
        t0 = time.perf_counter()
        for _ in range(1 if r < 0 else passes):
            lib.network_predict(net, px)
        if r >= 0:
            values.append(1e3 * (time.perf_counter() - t0) / passes)
            print("darknet infer at %d: run %d: %.2f ms" % (size, r + 1, values[-1]),
                  file=sys.stderr)
    result("darknet.infer%d.t1" % size, values)


def darknet_train(batch=8):
    """Images/s from the per-batch times `darknet detector train` prints; the first is dropped."""
    values = []
    for line in sys.stdin:
        m = re.match(r"\s*(\d+): .* ([0-9.]+) seconds, \d+ images", line)
        if m and int(m.group(1)) > 1:
            values.append(batch / float(m.group(2)))
            print("darknet train: batch %s: %.2f images/s" % (m.group(1), values[-1]),
                  file=sys.stderr)
    if values:
        result("darknet.train.t1", values)


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "torch-train":
        torch_train(int(args[0]), int(args[1]), int(args[2]), args[3:] == ["passive"])
    elif cmd == "torch-infer":
        torch_infer(int(args[0]), int(args[1]), int(args[2]), int(args[3]),
                    args[4:] == ["passive"])
    elif cmd == "setup":
        setup(os.path.abspath(args[0]))
    elif cmd == "opencv-infer":
        opencv_infer(args[0], int(args[1]), int(args[2]), int(args[3]), int(args[4]))
    elif cmd == "darknet-infer":
        darknet_infer(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif cmd == "darknet-train":
        darknet_train()
    else:
        sys.exit("engine_peers.py: unknown command %s" % cmd)


if __name__ == "__main__":
    main(sys.argv)

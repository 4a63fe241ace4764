#!/usr/bin/env python3
"""The peer of benches/benches/inference.rs: the same models, tensors and
threads in Python's onnxruntime, with numpy and Pillow doing the
preprocessing (crop, bilinear resize, BGR, mean/std, NCHW).

Reads a raw RGBA frame and prints, as JSON, per case: p50/p99 milliseconds
and every iteration's milliseconds in the order they ran (`samples_ms`), of
preprocessing + inference, as the Rust side measures it.

Usage: ort_peer.py --models DIR --iters N [--cases text-detect,text-recognise,audio-tags]
       [--frame F --width W --height H] [--det REGION:WxH] [--rec REGION:Wx48] [--audio SECONDS]
(the frame and --det/--rec are needed by the text cases that run)
"""

import argparse
import json
import time

import numpy as np
import onnxruntime as ort
from PIL import Image


def session(path):
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.inter_op_num_threads = 1
    o.add_session_config_entry("session.intra_op.allow_spinning", "0")
    o.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def crop_resize(img, region, w, h, mean, std):
    x, y, rw, rh = region
    W, H = img.size
    box = (x * W, y * H, (x + rw) * W, (y + rh) * H)
    # Pillow's bilinear resize of the box, as the GPU shader samples it.
    a = np.asarray(img.resize((w, h), Image.BILINEAR, box=box), dtype=np.float32)[:, :, 2::-1] / 255.0
    a = (a - np.array(mean, np.float32)) / np.array(std, np.float32)
    return np.ascontiguousarray(a.transpose(2, 0, 1)[None], dtype=np.float32)


def measure(fn, iters):
    fn()  # warm-up
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    s = sorted(times)
    return {"p50_ms": s[len(s) // 2], "p99_ms": s[min(len(s) - 1, int(len(s) * 0.99))], "samples_ms": times}


def parse_case(text):
    region, size = text.split(":")
    w, h = size.split("x")
    return [float(v) for v in region.split(",")], int(w), int(h)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frame")
    ap.add_argument("--width", type=int)
    ap.add_argument("--height", type=int)
    ap.add_argument("--models", required=True)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--cases", default="text-detect,text-recognise,audio-tags")
    ap.add_argument("--det")
    ap.add_argument("--rec")
    ap.add_argument("--audio", type=float, default=2.0)
    a = ap.parse_args()
    cases = [c for c in a.cases.split(",") if c]
    out = {}
    if "text-detect" in cases or "text-recognise" in cases:
        if not (a.frame and a.width and a.height):
            ap.error("the text cases need --frame, --width and --height")
        raw = np.fromfile(a.frame, dtype=np.uint8).reshape(a.height, a.width, 4)
        img = Image.fromarray(raw[:, :, :3])
    if "text-detect" in cases:
        if not a.det:
            ap.error("text-detect needs --det")
        det = session(f"{a.models}/ppocr-v4-det/model.onnx")
        dr, dw, dh = parse_case(a.det)
        mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
        out["text-detect"] = measure(lambda: det.run(None, {"x": crop_resize(img, dr, dw, dh, mean, std)}), a.iters)
    if "text-recognise" in cases:
        if not a.rec:
            ap.error("text-recognise needs --rec")
        rec = session(f"{a.models}/ppocr-v4-rec/model.onnx")
        rr, rw, rh = parse_case(a.rec)
        out["text-recognise"] = measure(
            lambda: rec.run(None, {"x": crop_resize(img, rr, rw, rh, [0.5] * 3, [0.5] * 3)}), a.iters
        )
    if "audio-tags" in cases:
        ced = session(f"{a.models}/ced-tiny/model.onnx")
        wave = (np.random.default_rng(1).standard_normal(int(16000 * a.audio)) * 0.1).astype(np.float32)[None]
        ced_input = ced.get_inputs()[0].name
        out["audio-tags"] = measure(lambda: ced.run(None, {ced_input: wave}), a.iters)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Reads a TensorBoard log directory with TensorBoard's own EventAccumulator and prints what it found as JSON.

    python read_events.py LOGDIR

Output: {"scalars": {tag: [{"step", "wall_time", "value"}]}, "images": {tag: [{"step", "width", "height",
"png" (base64)}]}}. Nothing is sampled away (size_guidance 0 keeps every event). The camwatch tests compare it
with report.json and with the overlays camwatch draws.
"""
import base64
import json
import sys

from tensorboard.backend.event_processing import event_accumulator as ea


def main():
    logdir = sys.argv[1]
    accumulator = ea.EventAccumulator(logdir, size_guidance={ea.SCALARS: 0, ea.IMAGES: 0})
    accumulator.Reload()
    tags = accumulator.Tags()
    out = {"scalars": {}, "images": {}}
    for tag in tags.get("scalars", []):
        out["scalars"][tag] = [
            {"step": e.step, "wall_time": e.wall_time, "value": e.value} for e in accumulator.Scalars(tag)
        ]
    for tag in tags.get("images", []):
        out["images"][tag] = [
            {"step": e.step, "width": e.width, "height": e.height,
             "png": base64.b64encode(e.encoded_image_string).decode("ascii")}
            for e in accumulator.Images(tag)
        ]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()

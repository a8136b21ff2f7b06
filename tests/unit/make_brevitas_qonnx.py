#!/usr/bin/env python3
"""Test-only: writes a small CNV-like network in the QONNX form Brevitas
exports (Quant / BipolarQuant on weights and activations, Conv, MatMul or
Gemm, BatchNormalization, MaxPool, Flatten) with random weights and BN
statistics calibrated on random inputs, for test_qonnx. The cnv_* configs
add what BNN-PYNQ's CNV has around that: a scaled input quantiser (Q1.7,
or unsigned with a zero point), a BN exported as a per-channel Mul + Add,
and TensorNorm (Sub, Div, Mul, Add of one value each) on the classifier.

usage: make_brevitas_qonnx.py OUT.onnx CONFIG SEED
       (CONFIG: w1a1 | w2a2 | w4a3 | cnv_q17 | cnv_q17_32 | cnv_q17_const | cnv_uint | cnv_q17_pre |
        cnv_q17_32_pre | cnv_norm4)
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

QDOMAIN = "qonnx.custom_op.general"

# (kind, out channels, kernel, pool, weight bits, act) per layer; act:
# "bipolar", ("int", 2) signed narrow 2-bit, ("uint", b), None = classifier.
CONFIGS = {
    "w1a1": dict(input=(3, 10), layers=[
        ("conv", 8, 3, 1, 1, "bipolar"), ("conv", 8, 3, 2, 1, "bipolar"),
        ("fc", 12, 1, 1, 1, "bipolar"), ("fc", 10, 1, 1, 1, None)]),
    "w2a2": dict(input=(1, 8), layers=[
        ("conv", 6, 3, 2, 2, ("int", 2)), ("gemm", 9, 1, 1, 2, ("int", 2)), ("fc", 5, 1, 1, 2, None)]),
    "w4a3": dict(input=(2, 9), layers=[
        ("conv", 5, 3, 1, 4, ("uint", 3)), ("conv", 7, 3, 5, 3, ("uint", 4)),
        ("fc", 6, 1, 1, 8, "bipolar"), ("fc", 4, 1, 1, 1, None)]),
    # in_quant: (signed, scale, zero point) of the input Quant; affine: the
    # layers whose BN is a per-channel Mul + Add; tensornorm: the sign of its weight.
    "cnv_q17": dict(input=(3, 10), in_quant=(1, 2.0 ** -7, 0.0), affine={1, 2}, tensornorm=1.0, layers=[
        ("conv", 8, 3, 1, 1, "bipolar"), ("conv", 8, 3, 2, 1, "bipolar"),
        ("fc", 12, 1, 1, 1, "bipolar"), ("fc", 10, 1, 1, 1, None)]),
    # cnv_q17 on 32x32x3 inputs: `fatsim import --check` runs it on Fashion-MNIST
    "cnv_q17_32": dict(input=(3, 32), in_quant=(1, 2.0 ** -7, 0.0), affine={1, 2}, tensornorm=1.0, layers=[
        ("conv", 8, 3, 1, 1, "bipolar"), ("conv", 8, 3, 2, 1, "bipolar"),
        ("fc", 12, 1, 1, 1, "bipolar"), ("fc", 10, 1, 1, 1, None)]),
    # cnv_q17 with CNV.forward's 2x - 1 before the input quantiser: the graph
    # reads the image as ToTensor gives it, pixel / 255
    "cnv_q17_pre": dict(input=(3, 10), in_quant=(1, 2.0 ** -7, 0.0), affine={1, 2}, tensornorm=1.0, pre="2x-1",
                        layers=[
        ("conv", 8, 3, 1, 1, "bipolar"), ("conv", 8, 3, 2, 1, "bipolar"),
        ("fc", 12, 1, 1, 1, "bipolar"), ("fc", 10, 1, 1, 1, None)]),
    "cnv_q17_32_pre": dict(input=(3, 32), in_quant=(1, 2.0 ** -7, 0.0), affine={1, 2}, tensornorm=1.0, pre="2x-1",
                           layers=[
        ("conv", 8, 3, 1, 1, "bipolar"), ("conv", 8, 3, 2, 1, "bipolar"),
        ("fc", 12, 1, 1, 1, "bipolar"), ("fc", 10, 1, 1, 1, None)]),
    # a per-channel normalisation (x - mean) / std and a 4-bit input quantiser
    "cnv_norm4": dict(input=(3, 10), in_quant=(1, 0.25, 0.0), in_bits=4, affine={1},
                      pre=("norm", [0.5, 0.4, 0.6], [0.25, 0.3, 0.2]), layers=[
        ("conv", 8, 3, 1, 1, "bipolar"), ("conv", 8, 3, 2, 2, ("int", 2)), ("fc", 10, 1, 1, 2, None)]),
    # cnv_q17 as an export leaves it before QONNX's cleanup: every constant a
    # Constant node, the weight scales a constant subgraph (Identity, Div)
    "cnv_q17_const": dict(input=(3, 10), in_quant=(1, 2.0 ** -7, 0.0), affine={1, 2}, tensornorm=1.0,
                          constants=True, layers=[
        ("conv", 8, 3, 1, 1, "bipolar"), ("conv", 8, 3, 2, 1, "bipolar"),
        ("fc", 12, 1, 1, 1, "bipolar"), ("fc", 10, 1, 1, 1, None)]),
    "cnv_uint": dict(input=(2, 8), in_quant=(0, 1.0 / 255, 3.0), affine={0}, tensornorm=-1.0, layers=[
        ("conv", 6, 3, 2, 2, ("int", 2)), ("gemm", 9, 1, 1, 2, ("uint", 3)), ("fc", 5, 1, 1, 2, None)]),
}


def conv_nchw(x, w):
    n, c, h, _ = x.shape
    m, _, k, _ = w.shape
    o = h - k + 1
    cols = np.stack([x[:, :, y:y + o, xx:xx + o] for y in range(k) for xx in range(k)], axis=2)  # n,c,k*k,o,o
    return np.einsum("nckyx,mck->nmyx", cols, w.reshape(m, c, k * k))


def quant_act(y, act, scale):
    if act == "bipolar":
        return np.where(y >= 0, 1.0, -1.0) * scale
    lo, hi = (-1, 1) if act[0] == "int" else (0, 2 ** act[1] - 1)
    return np.clip(np.round(y / scale), lo, hi) * scale


def main():
    out, config, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cfg = CONFIGS[config]
    rng = np.random.default_rng(seed)
    c_in, dim = cfg["input"]
    nodes, inits = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name))
        return name

    in_signed, in_scale, in_zp = cfg.get("in_quant", (1, 1.0, 0.0))
    in_bits, pre = cfg.get("in_bits", 8), cfg.get("pre")
    cur = "global_in_q"
    q_in = "global_in"
    if pre:
        # calibration batch: random pixels through the preprocessing and the quantiser
        x = rng.integers(0, 256, size=(64, c_in, dim, dim)) / 255.0
        if pre == "2x-1":
            x = 2 * x - 1
            nodes.append(helper.make_node("Mul", ["global_in", const("pre_2", 2.0)], ["pre_mul"], name="Mul_0"))
            nodes.append(helper.make_node("Sub", ["pre_mul", const("pre_1", 1.0)], ["pre_sub"], name="Sub_0"))
            q_in = "pre_sub"
        else:
            mean, std = (np.array(v).reshape(1, c_in, 1, 1) for v in pre[1:])
            x = (x - mean) / std
            nodes.append(helper.make_node("Sub", ["global_in", const("pre_mean", mean)], ["pre_sub"], name="Sub_0"))
            nodes.append(helper.make_node("Div", ["pre_sub", const("pre_std", std)], ["pre_div"], name="Div_0"))
            q_in = "pre_div"
        lo, hi = (-2 ** (in_bits - 1), 2 ** (in_bits - 1) - 1) if in_signed else (0, 2 ** in_bits - 1)
        x = (np.clip(np.round(x / in_scale + in_zp), lo, hi) - in_zp) * in_scale
    else:
        x = rng.integers(-128, 128, size=(64, c_in, dim, dim)).astype(np.float64)  # calibration batch of codes
        x = in_scale * (x + (0 if in_signed else 128) - in_zp)  # the values the quantiser's levels stand for
    nodes.append(helper.make_node("Quant", [q_in, const("in_scale", in_scale), const("in_zp", in_zp),
                                            const("in_bits", float(in_bits))], [cur], domain=QDOMAIN,
                                  signed=in_signed, narrow=0, rounding_mode="ROUND"))
    flat = False
    for i, (kind, m, k, pool, wbits, act) in enumerate(cfg["layers"]):
        name = f"l{i}"
        if kind != "conv" and not flat:  # Brevitas flattens NCHW directly
            nodes.append(helper.make_node("Flatten", [cur], [name + "_flat"], axis=1))
            cur = name + "_flat"
            x = x.reshape(x.shape[0], -1)
            flat = True
        fan_in = x.shape[1] * (k * k if kind == "conv" else 1)
        wshape = (m, x.shape[1], k, k) if kind == "conv" else ((m, x.shape[1]) if kind == "gemm" else (x.shape[1], m))
        wmax = 1 if wbits == 1 else 2 ** (wbits - 1) - 1
        ints = rng.choice([-1, 1], size=wshape) if wbits == 1 else rng.integers(-wmax, wmax + 1, size=wshape)
        last = act is None
        # per-output-channel weight scales, one scale for the classifier
        sshape = (m, 1, 1, 1) if kind == "conv" else ((m, 1) if kind == "gemm" else (1, m))
        wscale = np.full(sshape, 0.05) if last else rng.uniform(0.01, 0.2, size=sshape)
        wq = name + "_Wq"
        if wbits == 1:
            nodes.append(helper.make_node("BipolarQuant", [const(name + "_W", ints * wscale), const(name + "_ws", wscale)],
                                          [wq], domain=QDOMAIN))
        else:
            nodes.append(helper.make_node("Quant", [const(name + "_W", ints * wscale), const(name + "_ws", wscale),
                                                    const(name + "_wzp", 0.0), const(name + "_wbits", float(wbits))],
                                          [wq], domain=QDOMAIN, signed=1, narrow=1, rounding_mode="ROUND"))
        wf = ints * wscale
        if kind == "conv":
            nodes.append(helper.make_node("Conv", [cur, wq], [name + "_acc"], kernel_shape=[k, k]))
            y = conv_nchw(x, wf)
        elif kind == "gemm":
            nodes.append(helper.make_node("Gemm", [cur, wq], [name + "_acc"], transB=1))
            y = x @ wf.T
        else:
            nodes.append(helper.make_node("MatMul", [cur, wq], [name + "_acc"]))
            y = x @ wf
        cur = name + "_acc"
        if last and "tensornorm" in cfg:
            # TensorNorm as torch exports it in eval mode: ((x - mean) / sqrt(var + eps)) * weight + bias
            tn_w = cfg["tensornorm"] * rng.uniform(0.5, 2.0)
            for op, c in (("Sub", rng.uniform(-1, 1)), ("Div", np.sqrt(rng.uniform(0.5, 2) + 1e-4)),
                          ("Mul", tn_w), ("Add", rng.uniform(-1, 1))):
                nodes.append(helper.make_node(op, [cur, const(f"{name}_tn_{op}", np.array([c]))],
                                              [f"{name}_tn_{op}_out"]))
                cur = f"{name}_tn_{op}_out"
        if last:
            nodes[-1].output[0] = "global_out"
            cur = "global_out"
            break
        # BN calibrated on the batch so every level is used; some gammas negative
        axes = (0, 2, 3) if y.ndim == 4 else (0,)
        mean, var = y.mean(axis=axes), y.var(axis=axes) + 1e-3
        gamma = rng.uniform(0.5, 1.5, size=m) * rng.choice([-1, 1], size=m, p=[0.3, 0.7])
        beta = rng.uniform(-0.3, 0.3, size=m) + (1.5 if act != "bipolar" and act[0] == "uint" else 0.0)
        bshape = (1, m, 1, 1) if y.ndim == 4 else (1, m)
        if i in cfg.get("affine", ()):
            # the BN as a per-channel Mul (constant first) + Add, as after FINN's streamlining
            k = gamma / np.sqrt(var + 1e-4)
            cshape = (m, 1, 1) if y.ndim == 4 else (m,)
            nodes.append(helper.make_node("Mul", [const(name + "_k", k.reshape(cshape)), cur], [name + "_mul"]))
            nodes.append(helper.make_node("Add", [name + "_mul", const(name + "_c", (beta - mean * k).reshape(bshape))],
                                          [name + "_bn"]))
            y = k.reshape(bshape) * y + (beta - mean * k).reshape(bshape)
        else:
            nodes.append(helper.make_node("BatchNormalization", [cur, const(name + "_g", gamma),
                                                                 const(name + "_b", beta), const(name + "_mean", mean),
                                                                 const(name + "_var", var)],
                                          [name + "_bn"], epsilon=1e-4))
            y = (gamma.reshape(bshape) * (y - mean.reshape(bshape)) / np.sqrt(var.reshape(bshape) + 1e-4)
                 + beta.reshape(bshape))
        ascale = 1.0 if act == "bipolar" else (0.5 if act[0] == "uint" else 0.7)
        if act == "bipolar":
            nodes.append(helper.make_node("BipolarQuant", [name + "_bn", const(name + "_as", ascale)], [name + "_act"],
                                          domain=QDOMAIN))
        else:
            signed = 1 if act[0] == "int" else 0
            nodes.append(helper.make_node("Quant", [name + "_bn", const(name + "_as", ascale), const(name + "_azp", 0.0),
                                                    const(name + "_abits", float(act[1]))], [name + "_act"],
                                          domain=QDOMAIN, signed=signed, narrow=signed, rounding_mode="ROUND"))
        x = quant_act(y, act, ascale)
        cur = name + "_act"
        if pool > 1:
            nodes.append(helper.make_node("MaxPool", [cur], [name + "_pool"], kernel_shape=[pool, pool],
                                          strides=[pool, pool]))
            cur = name + "_pool"
            n, c, h, _ = x.shape
            x = x.reshape(n, c, h // pool, pool, h // pool, pool).max(axis=(3, 5))
    if cfg.get("constants"):
        pre = [helper.make_node("Constant", [], ["two"], value_float=2.0)]
        for t in inits:
            if t.name.endswith("_ws"):  # scale = Identity(Constant(2 * scale)) / 2, exact in float
                twice = numpy_helper.from_array(numpy_helper.to_array(t) * np.float32(2), t.name + "_x2")
                pre.append(helper.make_node("Constant", [], [t.name + "_x2"], value=twice))
                pre.append(helper.make_node("Identity", [t.name + "_x2"], [t.name + "_id"]))
                pre.append(helper.make_node("Div", [t.name + "_id", "two"], [t.name]))
            else:
                pre.append(helper.make_node("Constant", [], [t.name], value=t))
        nodes, inits = pre + nodes, []
    n_out = cfg["layers"][-1][1]
    graph = helper.make_graph(nodes, "brevitas_" + config,
                              [helper.make_tensor_value_info("global_in", TensorProto.FLOAT, [1, c_in, dim, dim])],
                              [helper.make_tensor_value_info("global_out", TensorProto.FLOAT, [1, n_out])], inits)
    model = helper.make_model(graph, producer_name="make_brevitas_qonnx",
                              opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QDOMAIN, 1)])
    onnx.checker.check_model(model)
    onnx.save(model, out)


if __name__ == "__main__":
    main()

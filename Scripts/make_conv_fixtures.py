#!/usr/bin/env python3
"""Goldens for DiceKit's convolution tests, computed by PyTorch (CPU, float32).

Run by hand (never by CI) from the repository root:
    /work/refenv/bin/python Scripts/make_conv_fixtures.py
It writes Tests/DiceKitTests/Fixtures/conv/cases.json (the parameters of every case) and, per
case NAME, small float32 .npy files:
    NAME_x.npy   input, channels-last [N, (D,) H, W, C]
    NAME_w.npy   kernel in PyTorch's layout (conv [out, in/g, k...], transposed [in, out/g, k...])
    NAME_b.npy   bias (when the case has one)
    NAME_y.npy   output, channels-last
    NAME_gy.npy  upstream gradient dL/dy, channels-last
    NAME_gx.npy, NAME_gw.npy, NAME_gb.npy   autograd gradients of sum(y * gy)
Padding on one side and TensorFlow-style 'same' padding are applied with F.pad before a valid
convolution, so the explicit amounts are PyTorch's own.
"""
import json, os
import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "DiceKitTests", "Fixtures", "conv")
torch.manual_seed(1234)
cases = []


def last(t):
    """NC... -> N...C"""
    return t.permute(0, *range(2, t.dim()), 1).contiguous()


def save(name, key, t):
    np.save(os.path.join(OUT, f"{name}_{key}.npy"), t.detach().numpy().astype(np.float32))


def same_amounts(size, k, s, d):
    out = -(-size // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def conv_case(name, n, spatial, cin, cout, kernel, stride=None, before=None, after=None, dilation=None,
              groups=1, bias=True, same=False):
    r = len(spatial)
    stride = stride or [1] * r
    dilation = dilation or [1] * r
    if same:
        amounts = [same_amounts(spatial[i], kernel[i], stride[i], dilation[i]) for i in range(r)]
        before, after = [a for a, _ in amounts], [b for _, b in amounts]
    before = before or [0] * r
    after = after or [0] * r
    x = torch.randn(n, cin, *spatial, requires_grad=True)
    w = torch.randn(cout, cin // groups, *kernel, requires_grad=True)
    b = torch.randn(cout, requires_grad=True) if bias else None
    pad = []
    for i in reversed(range(r)):
        pad += [before[i], after[i]]
    conv = F.conv2d if r == 2 else F.conv3d
    y = conv(F.pad(x, pad), w, b, stride=stride, dilation=dilation, groups=groups)
    gy = torch.randn_like(y)
    (y * gy).sum().backward()
    for key, t in [("x", last(x)), ("w", w), ("y", last(y)), ("gy", last(gy)), ("gx", last(x.grad)), ("gw", w.grad)]:
        save(name, key, t)
    if bias:
        save(name, "b", b); save(name, "gb", b.grad)
    cases.append(dict(name=name, kind="conv", stride=stride, padBefore=before, padAfter=after,
                      dilation=dilation, groups=groups, bias=bias, same=same))


def tconv_case(name, n, spatial, cin, cout, kernel, stride, padding=None, output_padding=None, dilation=None,
               groups=1, bias=True):
    r = len(spatial)
    padding = padding or [0] * r
    output_padding = output_padding or [0] * r
    dilation = dilation or [1] * r
    x = torch.randn(n, cin, *spatial, requires_grad=True)
    w = torch.randn(cin, cout // groups, *kernel, requires_grad=True)
    b = torch.randn(cout, requires_grad=True) if bias else None
    f = F.conv_transpose2d if r == 2 else F.conv_transpose3d
    y = f(x, w, b, stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    gy = torch.randn_like(y)
    (y * gy).sum().backward()
    for key, t in [("x", last(x)), ("w", w), ("y", last(y)), ("gy", last(gy)), ("gx", last(x.grad)), ("gw", w.grad)]:
        save(name, key, t)
    if bias:
        save(name, "b", b); save(name, "gb", b.grad)
    cases.append(dict(name=name, kind="tconv", stride=stride, padding=padding, outputPadding=output_padding,
                      dilation=dilation, groups=groups, bias=bias))


def pool_case(name, kind, n, spatial, c, kernel, stride, padding, count_include_pad=True):
    r = len(spatial)
    x = torch.randn(n, c, *spatial, requires_grad=True)
    if kind == "maxpool":
        y = (F.max_pool2d if r == 2 else F.max_pool3d)(x, kernel, stride, padding)
    else:
        y = (F.avg_pool2d if r == 2 else F.avg_pool3d)(x, kernel, stride, padding, count_include_pad=count_include_pad)
    gy = torch.randn_like(y)
    (y * gy).sum().backward()
    for key, t in [("x", last(x)), ("y", last(y)), ("gy", last(gy)), ("gx", last(x.grad))]:
        save(name, key, t)
    cases.append(dict(name=name, kind=kind, kernel=kernel, stride=stride, padding=padding,
                      countIncludePad=count_include_pad))


def upsample_case(name, n, spatial, c, scale, mode, align_corners=False):
    r = len(spatial)
    x = torch.randn(n, c, *spatial, requires_grad=True)
    if mode == "nearest":
        y = F.interpolate(x, scale_factor=tuple(float(s) for s in scale), mode="nearest")
    else:
        y = F.interpolate(x, scale_factor=tuple(float(s) for s in scale), mode="bilinear" if r == 2 else "trilinear",
                          align_corners=align_corners)
    gy = torch.randn_like(y)
    (y * gy).sum().backward()
    for key, t in [("x", last(x)), ("y", last(y)), ("gy", last(gy)), ("gx", last(x.grad))]:
        save(name, key, t)
    cases.append(dict(name=name, kind="upsample", scale=scale, mode=mode, alignCorners=align_corners))


def activation_case(name, fn, slope=0.0):
    x = torch.randn(2, 5, 3, 4, requires_grad=True)
    y = {"relu": F.relu, "sigmoid": torch.sigmoid, "leaky": lambda t: F.leaky_relu(t, slope)}[fn](x)
    gy = torch.randn_like(y)
    (y * gy).sum().backward()
    for key, t in [("x", x), ("y", y), ("gy", gy), ("gx", x.grad)]:
        save(name, key, t)
    cases.append(dict(name=name, kind=fn, slope=slope))


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".npy") or f == "cases.json":
            os.remove(os.path.join(OUT, f))
    # Convolutions: odd and non-square sizes, stride > kernel, dilation 2, groups, one-sided padding, 3-D.
    conv_case("conv2d_pad1", 2, [5, 7], 3, 4, [3, 3], before=[1, 1], after=[1, 1])
    conv_case("conv2d_stride3_k2", 2, [9, 7], 2, 3, [2, 2], stride=[3, 3])
    conv_case("conv2d_dilation2", 1, [9, 8], 3, 2, [3, 3], before=[2, 2], after=[2, 2], dilation=[2, 2])
    conv_case("conv2d_groups2", 2, [6, 5], 4, 6, [3, 3], stride=[2, 2], before=[1, 1], after=[1, 1], groups=2)
    conv_case("conv2d_onesided", 1, [6, 7], 2, 3, [3, 2], before=[0, 1], after=[2, 0], bias=False)
    conv_case("conv2d_same_stride2", 1, [7, 8], 2, 3, [3, 3], stride=[2, 2], same=True)
    conv_case("conv2d_pointwise", 2, [4, 5], 6, 4, [1, 1])
    conv_case("conv2d_pointwise_groups3", 1, [3, 5], 6, 3, [1, 1], groups=3)
    conv_case("conv3d_pad1", 2, [4, 5, 3], 2, 3, [3, 3, 3], before=[1, 1, 1], after=[1, 1, 1])
    conv_case("conv3d_mixed", 1, [5, 6, 7], 2, 2, [2, 3, 2], stride=[2, 1, 3], before=[1, 0, 1], after=[0, 1, 1],
              dilation=[1, 2, 1])
    # Transposed convolutions: the U-Net's 2x2 stride 2, and general kernels.
    tconv_case("tconv2d_k2s2", 2, [3, 4], 4, 3, [2, 2], [2, 2])
    tconv_case("tconv2d_k3s2_pad_outpad", 1, [4, 3], 3, 2, [3, 3], [2, 2], padding=[1, 1], output_padding=[1, 0])
    tconv_case("tconv2d_groups_dilation", 2, [3, 3], 4, 4, [3, 2], [1, 2], groups=2, dilation=[2, 1], bias=False)
    tconv_case("tconv3d_k2s2", 1, [2, 3, 2], 2, 3, [2, 2, 2], [2, 2, 2])
    tconv_case("tconv3d_k3", 1, [3, 2, 3], 2, 2, [3, 3, 3], [2, 1, 2], padding=[1, 1, 1])
    # Pooling.
    pool_case("maxpool2d_k2", "maxpool", 2, [7, 6], 3, [2, 2], [2, 2], [0, 0])
    pool_case("maxpool2d_k3s2p1", "maxpool", 1, [7, 7], 2, [3, 3], [2, 2], [1, 1])
    pool_case("maxpool3d_k2", "maxpool", 1, [4, 5, 4], 2, [2, 2, 2], [2, 2, 2], [0, 0, 0])
    pool_case("avgpool2d_k3s2p1", "avgpool", 2, [7, 6], 3, [3, 3], [2, 2], [1, 1])
    pool_case("avgpool2d_exclude_pad", "avgpool", 1, [7, 6], 2, [3, 3], [2, 2], [1, 1], count_include_pad=False)
    pool_case("avgpool3d_k2", "avgpool", 1, [4, 4, 5], 2, [2, 2, 2], [2, 2, 2], [0, 0, 0])
    # Upsampling.
    upsample_case("up_nearest2d", 1, [3, 4], 2, [2, 3], "nearest")
    upsample_case("up_bilinear2d", 2, [3, 4], 2, [2, 2], "linear")
    upsample_case("up_bilinear2d_align", 1, [3, 4], 2, [3, 2], "linear", align_corners=True)
    upsample_case("up_nearest3d", 1, [2, 3, 2], 2, [2, 2, 2], "nearest")
    upsample_case("up_trilinear3d", 1, [2, 3, 3], 2, [2, 2, 3], "linear")
    # Activations.
    activation_case("relu", "relu")
    activation_case("leaky", "leaky", 0.1)
    activation_case("sigmoid", "sigmoid")
    json.dump(cases, open(os.path.join(OUT, "cases.json"), "w"), indent=1)
    print(f"{len(cases)} cases written to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()

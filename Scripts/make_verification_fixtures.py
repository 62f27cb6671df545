#!/usr/bin/env python3
"""Goldens for DiceKit's verification tests: U-Nets with normalisation, leaky ReLU and 3-D
volumes (PyTorch), convolution layers on the direct kernels' shapes (PyTorch), and validation
metrics (MONAI DiceMetric / MeanIoU / DiceLoss).

Run by hand (never by CI) from the repository root, with the reference environment:
    /work/refenv/bin/python Scripts/make_verification_fixtures.py
It needs torch, monai, numpy and safetensors, and ../shared/reference/unet_torch.py (beside the
repository), which it runs as a tool to confirm that the networks built here are the reference
architecture. It writes, under Tests/DiceKitTests/Fixtures:

unet_variants/CASE/   CASE = bn2d, gn2d, in3d, plain3d (see CASES below)
    weights.safetensors  the state_dict (PyTorch names and layouts) with DiceKit's metadata
                         (dicekit.normalization, dicekit.activation, ...), float32; normalisation
                         weights, biases and running statistics are randomised, not PyTorch's
                         identity defaults, so that every term of the backward pass matters
    images.npy           [N, (D,) H, W, C] float32, channels-last
    labels.npy           [N, (D,) H, W] int64
    logits.npy           training-mode forward, channels-last
    logits_eval.npy      evaluation-mode forward (BatchNorm on the running statistics)
    grads.safetensors    d(loss)/d(parameter) of MONAI DiceLoss(softmax=True, to_onehot_y=True),
                         mean reduction, after the training-mode forward
    buffers.safetensors  BatchNorm running statistics after that forward (bn2d only)
    meta.json            the loss and the configuration

direct/NAME_{x,w,b,y,gy,gx,gw,gb}.npy   a convolution with stride 1, no dilation, one group and
    output channels a multiple of 16 (the direct AVX-512 kernels' shapes; input channels a
    multiple of 16, or 3 for a first layer without input gradient): input channels-last,
    weight [out, in, k...] (PyTorch), output, upstream gradient gy, autograd gradients of sum(y*gy)

metrics/   a fixed-forward model and a small data set for Trainer.evaluate and `dicekit eval`
    weights.safetensors  a U-Net (3 inputs, 3 classes, base 3, depth 1) whose logits equal its
                         input: identity convolutions on the skip path, zero up-sampling weights
                         (checked here by running unet_torch.py's forward on it)
    images.npy, masks.npy  7 images 16x16x3 in [0, 1] and their labels; class 1 or 2 is absent
                         from some images; each image's arg-max (the prediction) leads its
                         runner-up by at least 0.3
    metrics.json         MONAI DiceMetric and MeanIoU (include_background=True, ignore_empty=True,
                         reduction="mean_batch") of the one-hot arg-max against the labels, per
                         class; and, per batch size, the mean over batches of MONAI
                         DiceLoss(softmax=True, to_onehot_y=True) ("loss") and of
                         DiceCELoss(softmax=True, to_onehot_y=True) ("loss_dice_ce") on the logits
"""
import json, os, subprocess, sys, tempfile
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F
from safetensors.torch import save_file
from monai.losses import DiceCELoss, DiceLoss
from monai.metrics import DiceMetric, MeanIoU

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIX = os.path.join(ROOT, "Tests", "DiceKitTests", "Fixtures")
REFERENCE = os.path.join(ROOT, "..", "shared", "reference", "unet_torch.py")


def last(t):
    """NC... -> N...C"""
    return t.permute(0, *range(2, t.dim()), 1).contiguous()


def first(a):
    """N...C -> NC..."""
    t = torch.from_numpy(np.ascontiguousarray(a))
    return t.permute(0, t.dim() - 1, *range(1, t.dim() - 1)).contiguous()


# ---------------------------------------------------------------------------------------------
# U-Nets with DiceKit's layer indices: a block is [conv, (norm), act, conv, (norm), act], so the
# state_dict names are down.i.{0,3}/{1,4} with normalisation and down.i.{0,2} without, exactly as
# DiceKit's SequentialLayer registers them.

class Net(nn.Module):
    def __init__(self, cin, classes, base, depth, rank, norm, slope):
        super().__init__()
        conv = nn.Conv2d if rank == 2 else nn.Conv3d
        up = nn.ConvTranspose2d if rank == 2 else nn.ConvTranspose3d
        self.pool = F.max_pool2d if rank == 2 else F.max_pool3d

        def normalisation(c):
            if norm == "batch":
                return (nn.BatchNorm2d if rank == 2 else nn.BatchNorm3d)(c)
            if norm == "instance":
                return (nn.InstanceNorm2d if rank == 2 else nn.InstanceNorm3d)(c, affine=True)
            if norm.startswith("group:"):
                return nn.GroupNorm(int(norm[6:]), c)
            return None

        def block(i, o):
            layers = []
            for a, b in [(i, o), (o, o)]:
                layers.append(conv(a, b, 3, padding=1))
                n = normalisation(b)
                if n is not None:
                    layers.append(n)
                layers.append(nn.ReLU() if slope is None else nn.LeakyReLU(slope))
            return nn.Sequential(*layers)

        ch = [base * 2 ** i for i in range(depth + 1)]
        self.down = nn.ModuleList([block(cin if i == 0 else ch[i - 1], ch[i]) for i in range(depth)])
        self.mid = block(ch[depth - 1], ch[depth])
        self.up = nn.ModuleList([up(ch[i + 1], ch[i], 2, stride=2) for i in reversed(range(depth))])
        self.dec = nn.ModuleList([block(2 * ch[i], ch[i]) for i in reversed(range(depth))])
        self.head = conv(ch[0], classes, 1)

    def forward(self, x):
        skips = []
        for d in self.down:
            x = d(x); skips.append(x); x = self.pool(x, 2)
        x = self.mid(x)
        for u, d in zip(self.up, self.dec):
            x = d(torch.cat([u(x), skips.pop()], 1))
        return self.head(x)


def metadata(cin, classes, base, depth, rank, norm, slope):
    return {"dicekit.in": str(cin), "dicekit.classes": str(classes), "dicekit.base": str(base),
            "dicekit.depth": str(depth), "dicekit.spatial_rank": str(rank), "dicekit.normalization": norm,
            "dicekit.activation": "relu" if slope is None else f"leaky_relu:{slope}"}


def save_state(net, path, meta):
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, path, metadata=meta)


def reference_logits(weights, images):
    """Forward pass of shared/reference/unet_torch.py (run as a tool) on a state_dict file."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "logits.npy")
        subprocess.run([sys.executable, REFERENCE, "logits", weights, images, out], check=True)
        return np.load(out)


CASES = [
    # name,    in, classes, base, depth, rank, normalisation, leaky slope, N, extent
    ("bn2d",    3, 3, 4, 2, 2, "batch",   None, 2, 16),
    ("gn2d",    1, 2, 4, 2, 2, "group:2", 0.01, 2, 16),
    ("in3d",    1, 3, 4, 2, 3, "instance", 0.01, 2, 8),
    ("plain3d", 2, 2, 4, 2, 3, "none",    None, 2, 8),
]


def unet_case(name, cin, classes, base, depth, rank, norm, slope, n, extent, seed):
    out = os.path.join(FIX, "unet_variants", name)
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(seed)
    net = Net(cin, classes, base, depth, rank, norm, slope)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.InstanceNorm2d, nn.InstanceNorm3d)):
                m.weight.copy_(1 + 0.2 * torch.randn_like(m.weight))
                m.bias.copy_(0.2 * torch.randn_like(m.bias))
                if getattr(m, "running_mean", None) is not None:
                    m.running_mean.copy_(0.1 * torch.randn_like(m.running_mean))
                    m.running_var.copy_(0.5 + torch.rand_like(m.running_var))
    spatial = [extent] * rank
    x = torch.randn(n, cin, *spatial)
    y = torch.randint(0, classes, (n, *spatial))
    meta = metadata(cin, classes, base, depth, rank, norm, slope)
    save_state(net, os.path.join(out, "weights.safetensors"), meta)
    np.save(os.path.join(out, "images.npy"), last(x).numpy())
    np.save(os.path.join(out, "labels.npy"), y.numpy())

    net.eval()
    with torch.no_grad():
        np.save(os.path.join(out, "logits_eval.npy"), last(net(x)).numpy())
    net.train()
    logits = net(x)
    loss = DiceLoss(softmax=True, to_onehot_y=True)(logits, y.unsqueeze(1))
    loss.backward()
    np.save(os.path.join(out, "logits.npy"), last(logits.detach()).numpy())
    save_file({k: p.grad.contiguous() for k, p in net.named_parameters()}, os.path.join(out, "grads.safetensors"))
    if norm == "batch":
        save_file({k: v.contiguous() for k, v in net.state_dict().items() if "running" in k or "num_batches" in k},
                  os.path.join(out, "buffers.safetensors"))
    json.dump({"loss": loss.item(), **meta}, open(os.path.join(out, "meta.json"), "w"), indent=1)
    print(name, "loss", loss.item())


def check_builder_is_the_reference():
    """Net with no normalisation and ReLU is unet_torch.py's U-Net: same names, same logits."""
    torch.manual_seed(7)
    net = Net(3, 2, 4, 2, 2, "none", None).eval()
    x = torch.randn(2, 3, 16, 16)
    with tempfile.TemporaryDirectory() as tmp:
        weights, images = os.path.join(tmp, "w.safetensors"), os.path.join(tmp, "x.npy")
        save_state(net, weights, {})
        np.save(images, last(x).numpy())
        ref = reference_logits(weights, images)
    with torch.no_grad():
        ours = last(net(x)).numpy()
    assert np.abs(ref - ours).max() <= 1e-6, np.abs(ref - ours).max()
    print("builder matches unet_torch.py:", np.abs(ref - ours).max())


# ---------------------------------------------------------------------------------------------
# Convolutions on the direct kernels' shapes.

def direct_case(name, n, spatial, cin, cout, seed):
    out = os.path.join(FIX, "direct")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(seed)
    r = len(spatial)
    conv = F.conv2d if r == 2 else F.conv3d
    x = torch.randn(n, cin, *spatial, requires_grad=True)
    w = (torch.randn(cout, cin, *([3] * r)) / (cin * 3 ** r) ** 0.5).requires_grad_()
    b = torch.randn(cout, requires_grad=True)
    y = conv(x, w, b, padding=1)
    gy = torch.randn_like(y)
    (y * gy).sum().backward()
    for key, t in [("x", last(x.detach())), ("w", w.detach()), ("b", b.detach()), ("y", last(y.detach())),
                   ("gy", last(gy)), ("gx", last(x.grad)), ("gw", w.grad), ("gb", b.grad)]:
        np.save(os.path.join(out, f"{name}_{key}.npy"), t.numpy().astype(np.float32))
    print(name, "y max", y.abs().max().item())


# ---------------------------------------------------------------------------------------------
# Validation metrics.

def metrics_fixture(seed):
    out = os.path.join(FIX, "metrics")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(seed)
    n, size, classes = 7, 16, 3
    labels = np.zeros((n, size, size), np.int64)
    predicted = np.zeros_like(labels)
    # Which foreground classes each image holds (absent classes exercise ignore_empty), and
    # whether the prediction adds a false positive of an absent class.
    present = [(1, 2), (1,), (2,), (1, 2), (), (1, 2), (2,)]
    false_positive = [None, 2, 1, None, 1, None, None]
    for i in range(n):
        for c in present[i]:
            h, w = rng.integers(3, 8, size=2)
            top, left = rng.integers(0, size - h), rng.integers(0, size - w)
            labels[i, top:top + h, left:left + w] = c
            dt, dl = rng.integers(-2, 3, size=2)
            t, l = np.clip(top + dt, 0, size - h), np.clip(left + dl, 0, size - w)
            predicted[i, t:t + h, l:l + w] = c
        if false_positive[i] is not None:
            predicted[i, 0:3, 0:4] = false_positive[i]
    # Images: the prediction's one-hot lifted by 0.6 over uniform noise in [0, 0.3).
    images = (0.6 * np.eye(classes)[predicted] + 0.3 * rng.random((n, size, size, classes))).astype(np.float32)
    order = np.sort(images, axis=-1)
    assert (order[..., -1] - order[..., -2]).min() >= 0.3 - 1e-6
    np.save(os.path.join(out, "images.npy"), images)
    np.save(os.path.join(out, "masks.npy"), labels.astype(np.uint8))

    # The identity U-Net: down.0 and dec.0 pass their input channels through (centre taps),
    # the up-sampling is zero, the head is the identity; mid is random and multiplied away.
    torch.manual_seed(seed)
    net = Net(classes, classes, classes, 1, 2, "none", None)
    eye = torch.eye(classes)
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.zero_()
            if name.startswith("mid") and name.endswith("weight"):
                p.copy_(torch.randn_like(p))
        for conv in [net.down[0][0], net.down[0][2], net.dec[0][2]]:
            conv.weight[:, :, 1, 1] = eye
        net.dec[0][0].weight[:, classes:, 1, 1] = eye   # the skip half of [up, skip]
        net.head.weight[:, :, 0, 0] = eye
    weights = os.path.join(out, "weights.safetensors")
    save_state(net, weights, metadata(classes, classes, classes, 1, 2, "none", None))
    logits = reference_logits(weights, os.path.join(out, "images.npy"))
    assert np.array_equal(logits, images), np.abs(logits - images).max()
    assert np.array_equal(logits.argmax(-1), predicted)

    onehot = lambda a: torch.from_numpy(np.eye(classes)[a]).permute(0, 3, 1, 2).double()
    dice = DiceMetric(include_background=True, reduction="mean_batch", ignore_empty=True)
    iou = MeanIoU(include_background=True, reduction="mean_batch", ignore_empty=True)
    dice(onehot(predicted), onehot(labels)); iou(onehot(predicted), onehot(labels))
    result = {"dice": dice.aggregate().tolist(), "iou": iou.aggregate().tolist(), "loss": {}, "loss_dice_ce": {}}
    x = first(images).double()
    y = torch.from_numpy(labels).unsqueeze(1)
    for key, lossf in [("loss", DiceLoss(softmax=True, to_onehot_y=True)),
                       ("loss_dice_ce", DiceCELoss(softmax=True, to_onehot_y=True))]:
        for batch in [1, 3, 4, 7]:
            values = [lossf(x[i:i + batch], y[i:i + batch]).item() for i in range(0, n, batch)]
            result[key][str(batch)] = sum(values) / len(values)
    json.dump(result, open(os.path.join(out, "metrics.json"), "w"), indent=1)
    print("metrics", result)


if __name__ == "__main__":
    check_builder_is_the_reference()
    for seed, case in enumerate(CASES):
        unet_case(*case, seed=100 + seed)
    direct_case("conv2d_c16_c32", 2, [12, 12], 16, 32, seed=200)
    direct_case("conv3d_c16_c16", 2, [6, 6, 6], 16, 16, seed=201)
    direct_case("conv2d_c32_c48", 1, [9, 11], 32, 48, seed=202)
    direct_case("conv2d_c3_c16", 2, [10, 12], 3, 16, seed=203)   # a first layer: forward and weight gradient
    metrics_fixture(seed=300)

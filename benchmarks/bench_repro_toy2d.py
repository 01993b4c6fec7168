"""Lecture results 1 and 2: the 2-D denoising autoencoder and the posterior mean.

1. The MLP denoiser (Linear(2,100), ReLU, Linear(100,2); Adam 1e-3, batch 100,
   Gaussian noise sigma 0.1, quadratic loss) trained on two toy distributions, a
   filled rectangle and an open circle; the arrows x -> phi(x) over a grid near the
   data, and the mean distance to the support of noisy points before and after one
   application of phi.
2. On the open circle, pairs (X, X~ = X + noise): the X whose X~ falls near a point
   x~ in the circle's opening average to E[X | X~ = x~], which lies where the density
   has no mass (the opening), and phi(x~) lands next to it.

Run:  python benchmarks/bench_repro_toy2d.py [--quick]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from repro import out_dir, parser, save  # noqa: E402

from imrestore.nn.models import build_network  # noqa: E402

SIGMA = 0.1
GAP = np.deg2rad(20)  # the circle's opening, centred on angle 0


def sample_rectangle(n, rng):
    return np.stack([rng.uniform(-1.0, 1.0, n), rng.uniform(-0.5, 0.5, n)], 1)


def sample_circle(n, rng):
    theta = rng.uniform(GAP / 2, 2 * np.pi - GAP / 2, n)
    return np.stack([np.cos(theta), np.sin(theta)], 1)


def dist_rectangle(p):
    dx = np.maximum(np.abs(p[:, 0]) - 1.0, 0)
    dy = np.maximum(np.abs(p[:, 1]) - 0.5, 0)
    return np.hypot(dx, dy)


def dist_circle(p):
    theta = np.mod(np.arctan2(p[:, 1], p[:, 0]), 2 * np.pi)
    on_arc = (theta >= GAP / 2) & (theta <= 2 * np.pi - GAP / 2)
    r = np.hypot(p[:, 0], p[:, 1])
    ends = np.array([[np.cos(GAP / 2), np.sin(GAP / 2)], [np.cos(GAP / 2), -np.sin(GAP / 2)]])
    to_end = np.min(np.linalg.norm(p[:, None, :] - ends[None], axis=2), axis=1)
    return np.where(on_arc, np.abs(r - 1.0), to_end)


def train_mlp(points: np.ndarray, epochs: int, seed: int) -> torch.nn.Module:
    """The lecture's loop: batches of 100, fresh noise each time, Adam 1e-3, MSE."""
    torch.manual_seed(seed)
    model = build_network("mlp2d")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = torch.tensor(points, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in data[torch.randperm(len(data), generator=gen)].split(100):
            noise = torch.randn(batch.shape, generator=gen) * SIGMA
            loss = torch.nn.functional.mse_loss(model(batch + noise), batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


def phi(model, p: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor(p, dtype=torch.float32)).numpy().astype(np.float64)


def main() -> None:
    args = parser(__doc__).parse_args()
    epochs, n = (60, 1000) if args.quick else (1000, 1000)
    rng = np.random.default_rng(0)
    result: dict = {"sigma": SIGMA, "epochs": epochs, "points": n, "toys": {}}
    models, data = {}, {}
    for name, sampler, dist in (("rectangle", sample_rectangle, dist_rectangle), ("open circle", sample_circle, dist_circle)):
        pts = sampler(n, rng)
        model = train_mlp(pts, epochs, seed=0)
        test = sampler(5000, rng)
        noisy = test + rng.normal(0, SIGMA, test.shape)
        before, after = dist(noisy).mean(), dist(phi(model, noisy)).mean()
        result["toys"][name] = {"mean_distance_noisy": before, "mean_distance_denoised": after, "ratio": after / before}
        models[name], data[name] = model, pts
        print(name, f"{before:.4f} -> {after:.4f}", flush=True)

    # 2. the posterior mean at a point in the opening
    x_tilde = np.array([1.0, 0.0])
    big = sample_circle(400_000 if args.quick else 4_000_000, rng)
    big_noisy = big + rng.normal(0, SIGMA, big.shape)
    near = np.linalg.norm(big_noisy - x_tilde, axis=1) < 0.03
    posterior_mean = big[near].mean(0)
    phi_x = phi(models["open circle"], x_tilde[None])[0]
    result["posterior"] = {
        "x_tilde": x_tilde, "samples_near": int(near.sum()), "posterior_mean": posterior_mean,
        "posterior_mean_distance_to_support": float(dist_circle(posterior_mean[None])[0]),
        "phi_x_tilde": phi_x, "phi_to_posterior_mean": float(np.linalg.norm(phi_x - posterior_mean)),
        "phi_distance_to_support": float(dist_circle(phi_x[None])[0]),
    }
    print("posterior", result["posterior"], flush=True)
    figure(models, data, big[near], x_tilde, posterior_mean, phi_x, out_dir(args) / "repro_toy2d.png")
    t, p = result["toys"], result["posterior"]
    md = ["# Lecture 1-2: the 2-D denoising autoencoder and the posterior mean", "",
          f"`{'python benchmarks/bench_repro_toy2d.py' + (' --quick' if args.quick else '')}` — MLP 2-100-2, Adam 1e-3, batch 100, "
          f"sigma {SIGMA}, {epochs} epochs over {n} points. ![figure](repro_toy2d.png)", "",
          "| toy | mean distance to the support, noisy | after one application of phi | ratio |", "|---|---|---|---|"]
    md += [f"| {k} | {v['mean_distance_noisy']:.4f} | {v['mean_distance_denoised']:.4f} | {v['ratio']:.2f} |" for k, v in t.items()]
    md += ["", f"Posterior mean at x~ = (1, 0), the middle of the opening ({p['samples_near']} samples with X~ within 0.03): "
           f"E[X|X~] = ({p['posterior_mean'][0]:.3f}, {p['posterior_mean'][1]:.3f}), {p['posterior_mean_distance_to_support']:.3f} away from "
           f"any point of the support; phi(x~) = ({p['phi_x_tilde'][0]:.3f}, {p['phi_x_tilde'][1]:.3f}), {p['phi_to_posterior_mean']:.3f} from it. "
           "The quadratic loss puts the estimate where the density has no mass, as the lecture says."]
    save(args, "repro_toy2d", result, md)


def figure(models, data, near, x_tilde, posterior_mean, phi_x, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 5))
    for ax, name in zip(axes[:2], ("rectangle", "open circle")):
        pts = data[name]
        g = np.stack(np.meshgrid(np.linspace(-1.5, 1.5, 31), np.linspace(-1.5, 1.5, 31)), -1).reshape(-1, 2)
        dmin = np.min(np.linalg.norm(g[:, None] - pts[None, ::4], axis=2), axis=1)
        g = g[dmin < 0.35]  # "not too far" from the data
        out = phi(models[name], g)
        ax.scatter(pts[:, 0], pts[:, 1], s=3, c="tab:blue", alpha=0.5)
        ax.quiver(g[:, 0], g[:, 1], out[:, 0] - g[:, 0], out[:, 1] - g[:, 1], angles="xy", scale_units="xy", scale=1, width=0.004, headwidth=4, headlength=5, color="k")
        ax.set_title(f"{name}: arrows x -> phi(x)")
        ax.set_aspect("equal")
        ax.set_xlim(-1.5, 1.5)
        ax.set_ylim(-1.5, 1.5)
    ax = axes[2]
    ax.scatter(data["open circle"][:, 0], data["open circle"][:, 1], s=3, c="tab:blue", alpha=0.4, label="data")
    ax.scatter(near[:, 0], near[:, 1], s=2, c="tab:orange", alpha=0.3, label="X with X~ near x~")
    ax.plot(*x_tilde, "kx", ms=12, mew=2, label="x~")
    ax.plot(*posterior_mean, "r*", ms=16, label="E[X | X~ = x~]")
    ax.plot(*phi_x, "g^", ms=10, label="phi(x~)")
    ax.set_title("posterior mean in the opening (zoom)")
    ax.set_aspect("equal")
    ax.set_xlim(0.55, 1.35)
    ax.set_ylim(-0.4, 0.4)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()

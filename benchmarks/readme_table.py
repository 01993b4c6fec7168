"""Write the lecture-reproduction table of benchmarks/README.md from the committed JSON.

The table sits between two marker lines in the README; rerun this after any
reproduction script so that the README never quotes a number the JSON does not
hold (tests/test_reproductions.py checks that it is up to date).

Run:  python benchmarks/readme_table.py
"""
from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results"
BEGIN, END = "<!-- reproductions:begin -->", "<!-- reproductions:end -->"


def _load(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def rows() -> list[str]:
    out = ["| # | result | figure | ours | seed / paper | command |", "|---|---|---|---|---|---|"]
    t = _load("repro_toy2d")
    rect, circ, post = t["toys"]["rectangle"], t["toys"]["open circle"], t["posterior"]
    out.append(f"| 1 | 2-D denoiser pulls points back to the support | [png](results/repro_toy2d.png) | mean distance to the support "
               f"{rect['mean_distance_noisy']:.3g} → {rect['mean_distance_denoised']:.3g} (rectangle), "
               f"{circ['mean_distance_noisy']:.3g} → {circ['mean_distance_denoised']:.3g} (open circle) | arrows back onto the support "
               f"(lecture figure) | `{t['command']}` |")
    out.append(f"| 2 | the posterior mean can lie off the support | [png](results/repro_toy2d.png) | E[X\\|X̃] in the opening, "
               f"{post['posterior_mean_distance_to_support']:.3f} from the support; φ(x̃) {post['phi_to_posterior_mean']:.3f} from it | "
               f"lecture: the estimate lands in the middle of the opening | `{t['command']}` |")
    m = _load("bench_mnist")["cases"]
    out.append("| 3 | conv-AE undoes erasure, blur, block masking | [png](results/bench_mnist.png) | PSNR corrupted → conv-ae: "
               + "; ".join(f"{k} {v['corrupted']['psnr']:.2f} → {v['conv-ae']['psnr']:.2f}" for k, v in m.items() if "conv-ae" in v)
               + " dB | seed by the book: erase 13.31 dB | `python benchmarks/bench_mnist.py` |")
    s = _load("repro_seven_nine")
    out.append(f"| 4 | a masked 7 comes back as a 7/9 blend | [png](results/repro_seven_nine.png) | weight of the mean 7 in the best mix "
               f"{s['alpha7_median']:.2f} (median of {s['n_sevens']}); {100 * s['share_closer_to_mean9']:.0f} % closer to the mean 9 | "
               f"lecture: \"a blend of the two digits\" | `{s['command']}` |")
    n2 = json.loads((RESULTS / "bench_n2n_targets.json").read_text())
    losses = {(r["corruption"], r["targets"], r["loss"]): r for r in _load("repro_n2n_losses")["runs"]}
    imp = [losses[("impulse:p=0.7", "noisy", k)]["psnr"] for k in ("l2", "l1", "l0")] + [losses[("impulse:p=0.7", "clean", "l2")]["psnr"]]
    sp = [losses[("saltpepper:p=0.25", "noisy", k)]["psnr"] for k in ("l2", "l1")]
    out.append(f"| 5 | Noise2Noise: noisy targets as good as clean; the loss must match the noise | [targets](results/bench_n2n_targets.png), [losses](results/repro_n2n_losses.png) | "
               f"Gaussian σ=25 noisy {n2['targets']['noisy']['psnr']:.2f} vs clean {n2['targets']['clean']['psnr']:.2f} dB; "
               f"salt-and-pepper L2 {sp[0]:.2f} vs L1 {sp[1]:.2f}; impulse 70 % L2 {imp[0]:.2f}, L1 {imp[1]:.2f}, L0 {imp[2]:.2f}, clean {imp[3]:.2f} | "
               "32.39 vs 32.38; impulse L2 13.02, L1 16.36, L0 28.43, clean 28.86 | `python benchmarks/bench_n2n_targets.py --steps 400`, "
               "`python benchmarks/bench_repro_n2n_losses.py` |")
    sr = json.loads((RESULTS / "bench_sr.json").read_text())
    mn = m.get("x2 down-sampling", {})
    sr_text = (f"natural ×2 (6 held-out images): edsr {sr['restorers']['edsr']['psnr']:.2f} vs bicubic "
               f"{sr['restorers']['interp:order=bicubic']['psnr']:.2f} dB; ")
    out.append(f"| 6 | learned up-scaling beats interpolation | [natural](results/bench_sr.png), [MNIST](results/bench_mnist.png) | {sr_text}MNIST ×2: sr-mnist "
               f"{mn['sr-mnist']['psnr']:.2f} vs bilinear {mn['interp:order=bilinear']['psnr']:.2f} dB | seed: up-scaler 19.23 vs bicubic 20.67; "
               "EDSR Set5 38.11 vs 33.66 | `python benchmarks/bench_sr.py`, `python benchmarks/bench_mnist.py` |")
    r = _load("repro_mri_n2n")["psnr"]
    out.append(f"| 7 | Noise2Noise for MRI (~10 % of the spectrum) | [png](results/repro_mri_n2n.png) | input {r['input']:.2f}, noisy targets "
               f"{r['noisy targets']:.2f}, clean targets {r['clean targets']:.2f} dB | 20.03 / 31.74 / 31.77 (IXI) | "
               "`python benchmarks/bench_repro_mri_n2n.py` |")
    d = _load("repro_sdae")["test_error"]
    best = min((k for k in d if k.startswith("SDAE")), key=d.get)
    out.append(f"| 8 | stacked DAE pre-training helps | [png](results/repro_sdae.png) | test error {best} {100 * d[best]:.1f} %, "
               f"no pre-training {100 * d['no pre-training']:.1f} %, SVM {100 * d['SVM (RBF, C=10)']:.1f} % | SDAE 1.28 %, SVM 1.40 %, "
               "no pre-training 1.60 % (full MNIST) | `python benchmarks/bench_repro_sdae.py` |")
    return out


def render(readme: str) -> str:
    head, _, rest = readme.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return head + BEGIN + "\n" + "\n".join(rows()) + "\n" + END + tail


def main() -> None:
    path = HERE / "README.md"
    text = path.read_text()
    if BEGIN not in text:
        text = text.rstrip("\n") + "\n\n## Lecture reproductions\n\nEach script runs on a CPU in minutes from a clean checkout, " \
               "seeded; `--quick` runs in seconds and its numbers (in `results/quick/`) are checked by `tests/test_reproductions.py` " \
               "(3 % relative or 0.01 absolute). This table is written from the JSON by `python benchmarks/readme_table.py`.\n\n" \
               + BEGIN + "\n" + END + "\n"
    path.write_text(render(text))


if __name__ == "__main__":
    main()

"""Learned restorers: the seed's networks behind the Restorer interface.

``restorer:NAME`` without ``weights=`` picks the shipped checkpoint trained for
the corruption in the chain (and says which); ``weights=FILE`` loads your own
(from ``imrestore train``).  Inference is batched, on the chosen device, and
tiled with blending for images larger than a tile.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Optional

import numpy as np

from imrestore import dihedral, hookimpl
from imrestore.denoising import UnitDomain, keep_as_is, noise_model_for, record, record_kept
from imrestore.errors import ChainError
from imrestore.helpers import noise_sigma, psnr_from_mse
from imrestore.interfaces import Restorer
from imrestore.noise import check_model_name
from imrestore.params import param
from imrestore.provenance import trained_for
from imrestore.progress import item_bar
from imrestore.spec import parse_spec

log = logging.getLogger("imrestore")
WEIGHTS_DIR = Path(__file__).parent / "weights"


def shipped_checkpoints(network: str | None = None) -> list[tuple[Path, dict]]:
    """The checkpoints shipped in the package, with their metadata."""
    # lazy: torch takes seconds to import
    from imrestore.nn.checkpoint import read_metadata

    out = []
    for path in sorted(WEIGHTS_DIR.glob("*.safetensors")):
        meta = read_metadata(path)
        if meta.get("noise_map"):  # a prior for plug-and-play (see N2NUNetRestorer.denoise), not a restorer's weights
            continue
        if network is None or meta.get("network") == network:
            out.append((path, meta))
    return out


#: The shipped noise-level-conditioned grey U-Net (benchmarks/train_prior.py): the default plug-and-play prior.
PRIOR_WEIGHTS = WEIGHTS_DIR / "n2n-unet-sigma-grey.safetensors"
#: How much more noise a plug-and-play loop assumes with PRIOR_WEIGHTS than the measurement holds: chosen by PnP
#: deblurring of the training images (python benchmarks/bench_prior.py --calibrate; 1, 1.4, 2, 2.8 tried: 2 best for
#: both noise levels, as 1 is for TV), then only measured on the held-out ones.
PRIOR_LOOP_NOISE_SCALE = 2.0


def _names(specs: list[str]) -> list[str]:
    return [parse_spec(s).name for s in specs]


def in_channels(meta: dict) -> int:
    """The image channels a checkpoint's network takes (its config says)."""
    # lazy: torch takes seconds to import
    from imrestore.nn.models import network_facts

    return network_facts(meta["network"]).channels_of(meta.get("config", {}))


def self_ensemble(run, images: list[np.ndarray]) -> list[np.ndarray]:
    """The mean of ``run`` over the 8 flips and rotations of each image, each mapped back (Lim et al. 2017).

    >>> out = self_ensemble(lambda imgs: [im * 2 for im in imgs], [np.arange(6.0).reshape(2, 3)])
    >>> out[0].tolist()
    [[0.0, 2.0, 4.0], [6.0, 8.0, 10.0]]
    """
    acc: list[np.ndarray | None] = [None] * len(images)
    for k, flip in dihedral.TRANSFORMS:
        outs = run([np.ascontiguousarray(dihedral.transform(im, k, flip)) for im in images])
        for j, o in enumerate(outs):
            back = dihedral.undo(np.asarray(o, np.float64), k, flip)
            acc[j] = back if acc[j] is None else acc[j] + back
    return [(a / 8).astype(np.float32) for a in acc]  # type: ignore[operator]


class NoisePath(NamedTuple):
    """How an image goes through a denoising network: what the network sees, the record ``adapt`` reads, the domain
    that maps the output back (None: as it is), or ``keep``: the image is kept as it is (too little noise to remove,
    or self-supervised weights that failed their harm check)."""

    image: np.ndarray
    degradation: dict
    domain: UnitDomain | None = None
    keep: bool = False


@dataclass
class LearnedRestorer(Restorer):
    """Base of the network restorers (not registered itself)."""

    network: ClassVar[str] = ""
    #: Activation bytes per input pixel, for the automatic tile size.
    bytes_per_pixel: ClassVar[int] = 2000
    fixed_size: ClassVar[tuple[int, int] | None] = None

    weights: Optional[str] = param(None, help="checkpoint (.safetensors from imrestore train); default: the shipped one matching the chain")
    device: str = param("auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    batch_size: int = param(8, min=1, max=4096, help="images or tiles per forward pass")
    tile: int = param(0, min=0, max=65536, help="tile side in input pixels; 0 = automatic from free memory")
    overlap: int = param(32, min=0, max=4096, help="overlap between tiles, in input pixels")
    compile: bool = param(False, help="torch.compile the network (pays off on a GPU for many images)")
    backend: str = param("auto", choices=("auto", "torch", "bf16", "onnxruntime"),
                         help="how the network runs on a CPU: torch (fp32), bf16 (PyTorch with bfloat16 autocast, on CPUs with "
                              "bf16 instructions: 1.5x faster, PSNR within 0.01 dB), onnxruntime (fp32 within 1e-4 of torch, about "
                              "10 % faster; needs imrestore[onnx]); auto: bf16 for real data where the CPU has bf16 instructions "
                              "(the fastest path whose accuracy holds), torch in a synthetic benchmark (the networks measured as "
                              "trained) and when adapting; see benchmarks/results/bench_bmz.md")
    keep_known: bool = param(True, help="where the chain records which pixels it corrupted (erase, block...), keep the others as observed")
    ensemble: Optional[bool] = param(None, help="average the outputs for the 8 flips and rotations of each image (x8 self-ensemble): 8x slower, "
                                     "0.1-0.5 dB better; default: on for real data (no corruption in the chain: one restoration, made as "
                                     "well as it can be), off in a synthetic benchmark (the networks are measured as trained)")

    def __post_init__(self) -> None:
        super().__post_init__()
        self._candidates: list[tuple[Path, dict]] = []
        self._models: dict[str, Any] = {}
        self._real_data = True  # until prepare() is told of corruptions: the input is a real acquisition
        self._said_ensemble = False

    def __getstate__(self):  # workers rebuild models themselves
        state = self.__dict__.copy()
        state["_models"] = {}
        return state

    #: With no corruption in the chain (real data), the shipped weights trained for these corruptions restore it.
    blind_for: ClassVar[tuple[str, ...]] = ()
    blind_note: ClassVar[str] = ""

    # -- choosing weights ---------------------------------------------------
    @property
    def ensembles(self) -> bool:
        """Whether images go through the x8 self-ensemble: ``ensemble``, or by default on real data only."""
        return self.ensemble if self.ensemble is not None else self._real_data

    def prepare(self, corruptions: list) -> None:
        """Pick the checkpoint(s) for this chain: the given file, or the shipped ones that match."""
        self._real_data = not corruptions  # no corruption: the input is a real acquisition (see ``ensembles``)
        if self.weights is not None:
            # lazy: torch takes seconds to import
            from imrestore.nn.checkpoint import read_metadata

            meta = read_metadata(self.weights)
            if meta.get("network") != self.network:
                raise ChainError(f"{self.weights} holds {meta.get('network')} weights, not {self.network}")
            self._candidates = [(Path(self.weights), meta)]
            return
        chain_specs = [c.spec for c in corruptions]
        shipped = shipped_checkpoints(self.network)
        if not shipped:
            raise ChainError(f"no shipped weights for {self.network}; train some with `imrestore train ... restorer:{self.network} DATA -o m.safetensors` and pass weights=m.safetensors")
        exact = [(p, m) for p, m in shipped if m.get("corruptions") == chain_specs]
        by_name = [(p, m) for p, m in shipped if _names(m.get("corruptions", [])) == _names(chain_specs)]
        self._candidates = exact or by_name
        if not chain_specs and self.blind_for:  # real data: the weights made for what such data hold
            self._candidates = [(p, m) for p, m in shipped if _names(m.get("corruptions", [])) == list(self.blind_for)]
            if self._candidates:
                log.info(f"{self.name}: no corruption in the chain, so the input is taken as real data; "
                         f"using the weights trained for {' '.join(self.blind_for)} ({self.blind_note})")
        if not self._candidates:
            known = "; ".join(f"{p.name}: {' '.join(m.get('corruptions', []))}" for p, m in shipped)
            chain = " ".join(chain_specs) or "no corruption"
            raise ChainError(f"no shipped {self.network} weights match the chain ({chain}); shipped: {known}. Pass weights=FILE")

    def blind_weights(self, channels: int) -> Path:
        """The shipped weights this restorer uses on real data (no corruption) of ``channels`` channels: where
        ``imrestore train --targets self --init shipped`` starts."""
        chosen = self._candidates
        try:
            self.prepare([])
            return self._checkpoint_for(channels)[0]
        finally:
            self._candidates = chosen

    @property
    def candidates(self) -> list[tuple[Path, dict]]:
        """The checkpoints this restorer may use (chosen by ``prepare``; those for real data when it was never called)."""
        if not self._candidates:
            self.prepare([])
        return self._candidates

    def _checkpoint_for(self, channels: int) -> tuple[Path, dict]:
        fits = [(p, m) for p, m in self.candidates if in_channels(m) == channels]
        if not fits:
            have = sorted({in_channels(m) for _, m in self.candidates})
            raise ValueError(f"{self.network} weights take {have} channel(s), the image has {channels}")
        return fits[0]

    def _grey_via_rgb(self) -> bool:
        """Whether grey images go through RGB weights (replicated, then averaged back): there are no grey ones."""
        have = {in_channels(m) for _, m in self.candidates}
        return 1 not in have and 3 in have

    def _model(self, channels: int):
        # lazy: torch takes seconds to import
        from imrestore.nn.checkpoint import load_checkpoint
        from imrestore.nn.inference import select_device

        path, meta = self._checkpoint_for(channels)
        key = str(path)
        if key not in self._models:
            device = select_device(self.device)
            import torch

            model, meta = load_checkpoint(path, expect=self.network, device=device)
            if device.type == "cuda":
                model = model.to(memory_format=torch.channels_last)
            model = self._network_for(model)
            if self.compile:
                model = torch.compile(model)
            on = str(device)
            backend = self._backend(device)
            if backend != "torch":
                # lazy: torch takes seconds to import
                from imrestore.nn.backends import cpu_backend

                model, on = cpu_backend(model, self.network, meta, path, backend)
            origin = "shipped" if path.parent == WEIGHTS_DIR else "given"
            log.info(f"{self.name}: using {origin} weights {path.name} ({trained_for(meta)}) on {on}")
            self._models[key] = (model, meta, device)
        return self._models[key]

    def _network_for(self, model):
        """The module inference runs, from the checkpoint's network (a multi-scale one: at the scale asked)."""
        return model

    def _backend(self, device) -> str:
        """The CPU path ``backend`` names; ``auto``: bf16 on real data where the CPU has bf16 instructions, else torch."""
        if device.type != "cpu":
            return "torch"  # a GPU has its own bf16 autocast
        if self.backend != "auto":
            return self.backend
        # lazy: torch takes seconds to import
        from imrestore.nn.backends import has_bf16

        return "bf16" if self._real_data and not self.adapts and has_bf16() else "torch"

    # -- inference ----------------------------------------------------------
    #: What to use instead, for images the network cannot take.
    alternative: ClassVar[str] = ""

    def check_image(self, image: np.ndarray) -> None:
        """Refuse what a fixed-size network cannot take, with a pointer to what can."""
        if self.fixed_size is not None and image.shape != self.fixed_size:
            h, w = self.fixed_size
            raise ValueError(f"{self.name} takes {h}x{w} single-channel images ({self.data_hint}), got "
                             f"{'x'.join(map(str, image.shape))}; for other images use {self.alternative}")

    data_hint: ClassVar[str] = ""

    @property
    def adapts(self) -> bool:
        """Whether each image gets its own fine-tuned copy of the network (see :meth:`_adapt`)."""
        return False

    def _adapt(self, model, image: np.ndarray, degradation: dict):
        """The network to restore ``image`` with; restorers that adapt to each image override this."""
        return model

    def restore(self, batch, degradations=None):
        # lazy: torch takes seconds to import
        from imrestore.nn.inference import auto_tile, predict

        out: list[np.ndarray | None] = [None] * len(batch)
        by_channels: dict[int, list[int]] = {}
        for i, im in enumerate(batch):
            self.check_image(im)
            by_channels.setdefault(1 if im.ndim == 2 else im.shape[2], []).append(i)
        for channels, idx in by_channels.items():
            grey_via_rgb = channels == 1 and self._grey_via_rgb()
            model, meta, device = self._model(3 if grey_via_rgb else channels)
            scale = int(meta.get("config", {}).get("scale", self.scale))
            tile = None
            if self.fixed_size is None:
                tile = self.tile or auto_tile(device, self.bytes_per_pixel, batch=1)
            # Adapted networks are one per image; otherwise the group shares one network and batches.
            groups = [[i] for i in idx] if self.adapts else [idx]
            results = []
            for group in groups:
                images = [np.asarray(batch[i], np.float32) for i in group]
                net = self._adapt(model, images[0], (degradations or [{}] * len(batch))[group[0]]) if self.adapts else model

                def run(imgs, net=net, device=device, tile=tile, scale=scale, rgb=grey_via_rgb):
                    imgs = [np.repeat(im[..., None], 3, axis=2) for im in imgs] if rgb else imgs
                    outs = predict(net, imgs, device=device, batch_size=self.batch_size, tile=tile, overlap=self.overlap, scale=scale)
                    return [o.mean(axis=2).astype(np.float32) for o in outs] if rgb else outs

                if self.ensembles and self.ensemble is None and not self._said_ensemble:
                    self._said_ensemble = True
                    log.info(f"{self.name}: real data, so each image is restored as the mean over its 8 flips and rotations "
                             "(x8 self-ensemble; ensemble=false is 8x faster)")
                results += self_ensemble(run, images) if self.ensembles else run(images)
            for i, res in zip([i for g in groups for i in g], results):
                mask = (degradations[i] if degradations else {}).get("mask")
                if self.keep_known and mask is not None and res.shape == batch[i].shape:
                    m = np.asarray(mask, bool)
                    res = np.where(m[..., None] if res.ndim == 3 else m, res, batch[i]).astype(np.float32)
                out[i] = res
        return out


@dataclass
class ConvAERestorer(LearnedRestorer):
    """Deep convolutional autoencoder of the MNIST experiments (28x28 grey only)."""

    name = "conv-ae"
    network = "conv-ae"
    channels = (1,)
    fixed_size = (28, 28)
    data_hint = "MNIST digits"
    alternative = "restorer:n2n-unet"


@dataclass
class SRMnistRestorer(LearnedRestorer):
    """The lecture's MNIST x2 up-scaler (14x14 grey in, 28x28 out)."""

    name = "sr-mnist"
    network = "sr-mnist"
    channels = (1,)
    scale = 2
    fixed_size = (14, 14)
    data_hint = "MNIST digits down-sampled x2"
    alternative = "restorer:edsr"


@dataclass
class N2NUNetRestorer(LearnedRestorer):
    """The Noise2Noise U-Net (Lehtinen et al. 2018); any size, grey or RGB."""

    name = "n2n-unet"
    network = "n2n-unet"
    channels = (1, 3)
    bytes_per_pixel = 2400
    blind_for = ("gaussian",)
    blind_note = "blind to the noise level, sigma 0-50; signal-dependent noise is first stabilised"

    adapt: int = param(0, min=0, max=100000, help="fine-tune the network on each image for this many steps before restoring it, "
                       "minimising Stein's unbiased risk estimate for white Gaussian noise of level sigma (about 1 s a step "
                       "on a CPU; 40 steps often gain 0.2-2 dB, most on repeated textures; where SURE estimates no gain, or the adapted network "
                       "does worse on the image's hidden pixels (the J-invariant loss, which needs no noise model), the network as trained "
                       "restores the image). Poisson-Gaussian noise: in the stabilised domain")
    adapt_lr: float = param(6e-5, min=0, min_exclusive=True, max=1, help="Adam learning rate of adapt")
    adapt_crop: int = param(256, min=32, max=65536, help="side of the random window each adapt step trains on (the cost of a step)")
    sigma: Optional[float] = param(None, min=0, max=255, help="noise sigma (0-255 scale); default: from the chain, else estimated from the image")
    noise: str = param("auto",
                       help="real data (no corruption in the chain): the noise model to estimate: auto (tests which fits), gaussian, poisson-gaussian, mri (MRI magnitude) or a plugin's")
    noise_a: Optional[float] = param(None, min=0, help="Poisson-Gaussian noise, variance a*x + b ([0, 1] units): a; default: estimated")
    noise_b: Optional[float] = param(None, min=-1, max=1, help="Poisson-Gaussian noise: b, the variance at zero signal; default: estimated")
    force: bool = param(False, help="apply weights that failed their harm check: from imrestore train --targets self where "
                        "the check found that they do not beat the data as they are, or, on real data, weights that made "
                        "their validation images worse than the corrupted input at training (by default such data are "
                        "kept as they are)")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_model_name(self.noise)
        self._said_harm = False

    def _noise_path(self, image: np.ndarray, degradation: dict) -> NoisePath:
        """What the network sees, the record adapt reads, and how to map its output back (or that the image is kept).

        With a Gaussian corruption in the chain the image goes straight in, as
        trained.  On real data (no corruption) and Poisson-Gaussian data the
        noise model decides: white Gaussian noise goes straight in (the network
        is blind to its level), signal-dependent noise is stabilised first.
        """
        trained = self._self_supervised()
        if self._fails_harm_check(degradation):
            return NoisePath(image, degradation, keep=True)
        if trained is not None:  # weights learnt from such noisy data (--targets self): the data go in as trained on
            domain = UnitDomain.from_dict(trained["domain"]) if "domain" in trained else None
            return NoisePath(domain.into(image) if domain is not None else image, degradation, domain)
        if not self._real_data and "noise_a" not in degradation:  # a benchmark: as trained
            return NoisePath(image, degradation)
        estimate = noise_model_for(image, degradation, sigma255=self.sigma, noise=self.noise, noise_a=self.noise_a, noise_b=self.noise_b)
        record(estimate, degradation)
        if keep_as_is(self, estimate, image, degradation):
            return NoisePath(image, degradation, keep=True)
        # white noise stabilises to x / sigma; either way the network sees the image stretched to [0, 1], the range
        # its training images spanned (a dim micrograph gains), with noise of level 1 / span
        domain, unit = UnitDomain.of(image, estimate.model)
        return NoisePath(unit, {**degradation, "noise_sigma": domain.sigma}, domain)

    def _fails_harm_check(self, degradation: dict) -> bool:
        """Whether the weights failed their harm check and are not forced: self-supervised weights whose check at
        training found that they do not beat the held-out data as they are, or, on real data, supervised weights that
        made their validation images worse than the corrupted input.  The data are then kept, said once in the log and
        per item in the report."""
        if len(self._candidates) != 1 or self.force:
            return False
        path, meta = self._candidates[0]
        check = meta.get("harm_check") if self._self_supervised() is not None else None
        if check is not None:
            if check.get("helps", True):
                return False
            gain = check.get("estimated_gain_db")
            why = f"did not beat the data as they are in their harm check at training ({'estimated ' + format(gain, '+.2f') + ' dB' if gain is not None else 'no gain'})"
        elif self._real_data and meta.get("val_psnr") is not None and meta.get("val_input_psnr") is not None \
                and meta["val_psnr"] < meta["val_input_psnr"]:
            why = f"made their validation images worse at training ({meta['val_psnr']:.2f} dB against the input's {meta['val_input_psnr']:.2f})"
        else:
            return False
        note = f"{self.name}: the weights {path.name} {why}; the data are kept as they are"
        record_kept(degradation, note)
        if not self._said_harm:
            self._said_harm = True
            log.warning(note + " (force=true applies the weights anyway)")
        return True

    def _self_supervised(self) -> dict | None:
        """The record of weights trained on the noisy data themselves, which go in as trained on: by ``imrestore train
        --targets self`` (method, noise, domain), or ``--targets noisy --pairs`` (two acquisitions: ``{}``); else None."""
        if len(self.candidates) != 1:
            return None
        meta = self.candidates[0][1]
        return meta.get("self_supervised", {} if meta.get("pairs") else None)

    def restore(self, batch, degradations=None):
        degradations = degradations if degradations is not None else [{} for _ in batch]
        if self.spatial_ndim == 3:
            return [self._restore_stack(np.asarray(im, np.float32), deg) for im, deg in zip(batch, degradations)]
        paths = [self._noise_path(np.asarray(im, np.float32), deg) for im, deg in zip(batch, degradations)]
        todo = [i for i, p in enumerate(paths) if not p.keep]
        outs = super().restore([paths[i].image for i in todo], [paths[i].degradation for i in todo]) if todo else []
        result = [np.array(im, np.float32, copy=True) for im in batch]
        for i, out in zip(todo, outs):
            domain = paths[i].domain
            result[i] = domain.back(out) if domain is not None else out
        return result

    # -- as a prior (restorer:pnp) ------------------------------------------------
    @property
    def prior_note(self) -> str:
        """How :meth:`denoise` serves a plug-and-play loop, for the record."""
        if self.weights is None and PRIOR_WEIGHTS.exists():
            return f"noise-level-conditioned U-Net {PRIOR_WEIGHTS.name} (sigma as an input channel; colour channels one by one)"
        return "blind U-Net; white noise of the level asked is added to its input, so that it sees what it learnt to remove"

    def prepare_as_prior(self) -> None:
        """Ready to serve a plug-and-play loop: nothing to choose where the conditioned prior weights ship (``denoise``
        loads them on its first call), else the blind weights for white noise, as for real data."""
        if self.weights is None and PRIOR_WEIGHTS.exists():
            return
        self.prepare([])

    @property
    def loop_noise_scale(self) -> float:
        """A loop assumes twice the measurement's noise with the shipped prior weights (see PRIOR_LOOP_NOISE_SCALE)."""
        return PRIOR_LOOP_NOISE_SCALE if self.weights is None and PRIOR_WEIGHTS.exists() else 1.0

    @property
    def loop_noise_note(self) -> str:
        return (f"the learned prior is asked for {PRIOR_LOOP_NOISE_SCALE:g}x the measurement's noise: it learnt white "
                "noise, and a loop's residue is not white (calibrated on the training images; sigma= overrides)")

    def denoise(self, image: np.ndarray, sigma: float, rng: np.random.Generator | None = None) -> np.ndarray:
        """The network alone (no noise estimate, no harm check, no ensemble, no pasting of known pixels) removing white
        Gaussian noise of level ``sigma`` ([0, 1] units) from ``image`` (YX or YXC float32): plug-and-play's prior step.

        With the shipped weights, the noise-level-conditioned U-Net takes the level as a constant input channel (DRUNet's
        way), channel by channel for colour.  A blind network (``weights=FILE``) cannot be told the level; it gets
        white noise of that level added to its input (drawn from ``rng``), so that what it sees is the noise it learnt.
        """
        # lazy: torch takes seconds to import
        from imrestore.nn.inference import auto_tile, predict

        image = np.asarray(image, np.float32)
        if self.weights is None and PRIOR_WEIGHTS.exists():
            model, device = self._prior_model()
            tile = self.tile or auto_tile(device, self.bytes_per_pixel, batch=1)
            planes = [image] if image.ndim == 2 else [image[..., c] for c in range(image.shape[2])]
            stacked = [np.stack([p, np.full_like(p, sigma)], axis=-1) for p in planes]
            outs = [o[..., 0] for o in predict(model, stacked, device=device, batch_size=self.batch_size, tile=tile,
                                                overlap=self.overlap)]  # one output channel per plane
            return outs[0] if image.ndim == 2 else np.stack(outs, axis=-1).astype(np.float32)
        rng = rng if rng is not None else np.random.default_rng(0)
        noisy = (image + rng.normal(0.0, sigma, image.shape)).astype(np.float32)
        channels = 1 if image.ndim == 2 else image.shape[2]
        rgb = channels == 1 and self._grey_via_rgb()
        model, meta, device = self._model(3 if rgb else channels)
        tile = self.tile or auto_tile(device, self.bytes_per_pixel, batch=1)
        x = np.repeat(noisy[..., None], 3, axis=2) if rgb else noisy
        out = predict(model, [x], device=device, batch_size=self.batch_size, tile=tile, overlap=self.overlap)[0]
        return out.mean(axis=2).astype(np.float32) if rgb else out

    def _prior_model(self):
        # lazy: torch takes seconds to import
        from imrestore.nn.checkpoint import load_checkpoint
        from imrestore.nn.inference import select_device

        key = str(PRIOR_WEIGHTS)
        if key not in self._models:
            device = select_device(self.device)
            model, meta = load_checkpoint(PRIOR_WEIGHTS, expect=self.network, device=device)
            log.info(f"{self.name}: as a prior, the noise-level-conditioned weights {PRIOR_WEIGHTS.name} on {device}")
            self._models[key] = (model, meta, device)
        model, _, device = self._models[key]
        return model, device

    def _restore_stack(self, stack: np.ndarray, degradation: dict) -> np.ndarray:
        """A 3-D network's restoration of a ``ZYX`` slab (a single image is a one-plane stack), tiled in Y and X."""
        # lazy: torch takes seconds to import
        from imrestore.nn.inference import auto_tile, predict_volume

        if self.adapt:
            raise ChainError(f"{self.name}: adapt is for 2-D networks; these weights are 3-D")
        volume = stack[None] if stack.ndim == 2 else stack
        path = self._noise_path(volume, degradation)
        if path.keep:  # kept as it is: too little noise, or weights that failed their harm check
            return stack.copy()
        image, domain = path.image, path.domain
        model, _, device = self._model(1)
        tile = self.tile or auto_tile(device, self.bytes_per_pixel * volume.shape[0], batch=1)
        out = predict_volume(model, image, device=device, tile=tile, overlap=self.overlap)
        out = domain.back(out) if domain is not None else out
        return out[0] if stack.ndim == 2 else out

    @property
    def adapts(self) -> bool:
        return self.adapt > 0

    def prepare(self, corruptions: list) -> None:
        super().prepare(corruptions)
        dims = {int(m.get("config", {}).get("dims", 2)) for _, m in self._candidates}
        if dims == {3}:  # 3-D weights: volume runs hand over slabs of planes, with planes around them for context
            self.spatial_ndim, self.slab_depth, self.slab_halo = 3, 16, 8
        if self.adapts and corruptions and not any("noise_sigma" in c.provides for c in corruptions):
            chain = " ".join(c.spec for c in corruptions)
            log.warning(f"{self.name}: adapt assumes white Gaussian noise, which the chain ({chain}) does not add; "
                        "the adaptation will fit the wrong error and may make the result worse")

    def _adapted_is_better(self, adapted, model, image: np.ndarray) -> bool:
        """Whether the adapted network beats the network as trained on ``image`` by the J-invariant loss at the same
        hidden pixels: SURE chose it, but SURE trusts the noise model, and this comparison needs none. Asked where the
        noise model was estimated from the image (given, or from the chain, SURE is right): scored without each pixel's
        own value, a network that leans on it looks worse than it is, so the check can refuse a small true gain."""
        # lazy: torch takes seconds to import
        from imrestore.nn.harm import jinv_loss
        from imrestore.nn.inference import predict

        def with_(net):
            return lambda imgs: predict(net, imgs, device=self._device_of(net), batch_size=1, tile=None, overlap=self.overlap)

        return jinv_loss(with_(adapted), [image], draws=2) < jinv_loss(with_(model), [image], draws=2)

    @staticmethod
    def _device_of(net):
        return next(getattr(net, "_orig_mod", net).parameters()).device

    def _adapt(self, model, image: np.ndarray, degradation: dict):
        # lazy: torch takes seconds to import
        from imrestore.nn.adapt import sure_adapt

        if self._real_data and "noise_sigma" in degradation:
            sigma = float(degradation["noise_sigma"])  # the noise level in the stretched (and stabilised) image the network sees
        else:
            sigma = noise_sigma(image, degradation, self.sigma)
        bar = item_bar(self.adapt, f"adapting to the image (sigma {sigma * 255:.1f})", "step", minimum=2)

        def on_step(mse: float) -> None:  # SURE estimates the error against the unseen clean image
            bar.set_postfix_str(f"estimated PSNR {psnr_from_mse(mse):.2f} dB" if mse > 0 else "", refresh=False)
            bar.update()

        try:
            net, before, after = sure_adapt(model, image, sigma, self.adapt, lr=self.adapt_lr, crop=self.adapt_crop,
                                            on_step=on_step if bar is not None else None)
        finally:
            if bar is not None:
                bar.close()
        estimated = "estimated" in degradation and "noise" in degradation["estimated"] and not str(
            degradation["estimated"]["noise"].get("reason", "")).startswith("given")
        if net is not model and estimated and not self._adapted_is_better(net, model, image):
            log.info(f"{self.name}: the adapted network did not beat the network as trained on this image's held-out pixels "
                     "(J-invariant loss, no noise model); it is restored with the network as trained")
            return model
        if net is model:
            log.info(f"{self.name}: adapting did not help this image (estimated PSNR {psnr_from_mse(before):.2f} -> {psnr_from_mse(after):.2f} dB); "
                     "it is restored with the network as trained")
        else:
            log.debug(f"{self.name}: adapted, estimated PSNR {psnr_from_mse(before):.2f} -> {psnr_from_mse(after):.2f} dB")
        return net



@dataclass
class EDSRRestorer(LearnedRestorer):
    """EDSR super-resolution (Lim et al. 2017), x2/x3/x4 on real images."""

    name = "edsr"
    network = "edsr"
    channels = (1, 3)
    scale = 2
    bytes_per_pixel = 3000
    blind_for = ("downsample",)
    blind_note = "x2 up-scaling of the image as it is"


@dataclass
class MDSRRestorer(EDSRRestorer):
    """MDSR (Lim et al. 2017): x2, x3 and x4 super-resolution by one network (a shared body, a head per scale)."""

    name = "mdsr"
    network = "mdsr"
    blind_note = "up-scaling of the image as it is, by scale= (default 2)"

    upscale: Optional[int] = param(None, key="scale", min=2, max=4,
                                   help="the up-scaling factor: 2, 3 or 4; default: the chain's downsample factor, else 2 (real data)")

    def prepare(self, corruptions: list) -> None:
        super().prepare(corruptions)
        factor = 1
        for c in corruptions:
            factor *= int(getattr(c, "factor", 1)) if c.name == "downsample" else 1
        if self.upscale is not None and corruptions and factor != self.upscale:
            raise ChainError(f"mdsr: scale={self.upscale}, but the chain down-samples by {factor}")
        scale = self.upscale or (factor if factor > 1 else 2)
        have = sorted({int(s) for _, m in self._candidates for s in m.get("config", {}).get("scales", [])})
        if scale not in have:
            raise ChainError(f"mdsr: these weights have scales x{', x'.join(map(str, have))}, not x{scale}")
        self.scale = scale

    def _network_for(self, model):
        return model.at(self.scale)


BUILTIN_LEARNED = (ConvAERestorer, SRMnistRestorer, N2NUNetRestorer, EDSRRestorer, MDSRRestorer)


@hookimpl
def register_restorers(register):
    for cls in BUILTIN_LEARNED:
        register(cls)

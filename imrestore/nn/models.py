"""The seed's networks: each a config dataclass plus an ``nn.Module``, no I/O.

>>> import torch
>>> net = build_network("conv-ae")
>>> net(torch.zeros(2, 1, 28, 28)).shape
torch.Size([2, 1, 28, 28])
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn


def mnist_decoder(bottleneck: int, k: int) -> nn.Sequential:
    """Five transposed convolutions from ``bottleneck``x1x1 to 1x28x28 (shared by both MNIST nets)."""
    return nn.Sequential(
        nn.ConvTranspose2d(bottleneck, k, 4), nn.ReLU(inplace=True),   # 1 -> 4
        nn.ConvTranspose2d(k, k, 3, stride=2), nn.ReLU(inplace=True),  # 4 -> 9
        nn.ConvTranspose2d(k, k, 4, stride=2), nn.ReLU(inplace=True),  # 9 -> 20
        nn.ConvTranspose2d(k, k, 5), nn.ReLU(inplace=True),            # 20 -> 24
        nn.ConvTranspose2d(k, 1, 5),                                   # 24 -> 28
    )


# --------------------------------------------------------------------------- what each network says about its data
class NetworkFacts:
    """What a network's config says about the images it takes; training and the restorers ask, never list names.

    ``fixed_size``: the one image size it takes (MNIST's 28), or None;
    ``image_channels``: the channels it always takes, or None (its config says);
    ``default_crop`` and ``crop_multiple``: training crops.
    """

    fixed_size: ClassVar[int | None] = None
    image_channels: ClassVar[int | None] = None
    default_crop: ClassVar[int] = 64
    crop_multiple: ClassVar[int] = 1
    #: Whether ``imrestore train`` trains it on images (the 2-D toy's points are trained by its benchmark).
    trains_on_images: ClassVar[bool] = True
    #: Input pixels on each side of a tile that tiled prediction should overlap and crop (an exported package's halo).
    halo: ClassVar[int] = 0
    #: What to cite for the network: ``{"text": ..., "doi": ...}`` entries (an exported package's citations).
    cite: ClassVar[tuple[dict[str, str], ...]] = ()
    #: Named configurations (``--net preset=paper``): config values that the given ones override.
    presets: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def fit_data(cls, values: dict[str, Any], channels: int, scale: int | None) -> dict[str, Any]:
        """Config values for images of ``channels`` channels up-scaled by ``scale`` (the given ``values`` win)."""
        return dict(values)

    @classmethod
    def channels_of(cls, values: dict[str, Any]) -> int:
        """The image channels of a network with config ``values``."""
        return cls.image_channels or 1


# --------------------------------------------------------------------------- conv-ae
@dataclass
class ConvAEConfig(NetworkFacts):
    """The deep convolutional autoencoder of the MNIST experiments (1x28x28 -> 8x1x1 -> 1x28x28)."""

    fixed_size: ClassVar[int | None] = 28
    image_channels: ClassVar[int | None] = 1
    cite: ClassVar[tuple[dict[str, str], ...]] = (
        {"text": "Vincent et al., Stacked denoising autoencoders, JMLR 11 (2010)", "url": "https://jmlr.org/papers/v11/vincent10a.html"},)

    channels: int = 32
    embedding: int = 8


class ConvAE(nn.Module):
    """Five convolutions narrowing 1x28x28 to ``embedding``x1x1, five transposed back."""

    input_size = (28, 28)

    def __init__(self, config: ConvAEConfig | None = None):
        super().__init__()
        c = config or ConvAEConfig()
        self.config = c
        k = c.channels
        self.encoder = nn.Sequential(
            nn.Conv2d(1, k, 5), nn.ReLU(inplace=True),             # 28 -> 24
            nn.Conv2d(k, k, 5), nn.ReLU(inplace=True),             # 24 -> 20
            nn.Conv2d(k, k, 4, stride=2), nn.ReLU(inplace=True),   # 20 -> 9
            nn.Conv2d(k, k, 3, stride=2), nn.ReLU(inplace=True),   # 9 -> 4
            nn.Conv2d(k, c.embedding, 4),                          # 4 -> 1
        )
        self.decoder = mnist_decoder(c.embedding, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


# --------------------------------------------------------------------------- sr-mnist
@dataclass
class SRMnistConfig(NetworkFacts):
    """The lecture's MNIST up-scaler: 1x14x14 -> 32x1x1 -> 1x28x28."""

    fixed_size: ClassVar[int | None] = 28
    image_channels: ClassVar[int | None] = 1

    channels: int = 32


class SRMnist(nn.Module):
    """Encoder with kernels 5, 5, 4, 3 to 32x1x1; transposed-convolution decoder to 1x28x28."""

    input_size = (14, 14)
    scale = 2

    def __init__(self, config: SRMnistConfig | None = None):
        super().__init__()
        c = config or SRMnistConfig()
        self.config = c
        k = c.channels
        self.encoder = nn.Sequential(
            nn.Conv2d(1, k, 5), nn.ReLU(inplace=True),     # 14 -> 10
            nn.Conv2d(k, k, 5), nn.ReLU(inplace=True),     # 10 -> 6
            nn.Conv2d(k, k, 4), nn.ReLU(inplace=True),     # 6 -> 3
            nn.Conv2d(k, k, 3), nn.ReLU(inplace=True),     # 3 -> 1
        )
        self.decoder = mnist_decoder(k, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


# --------------------------------------------------------------------------- n2n-unet
@dataclass
class N2NUNetConfig(NetworkFacts):
    """The U-Net of Lehtinen et al. (2018), Table 2."""

    crop_multiple: ClassVar[int] = 32  # five 2x poolings
    halo: ClassVar[int] = 32  # the blending width tiled prediction has always used (inference.predict's overlap)
    cite: ClassVar[tuple[dict[str, str], ...]] = (
        {"text": "Lehtinen et al., Noise2Noise: Learning image restoration without clean data, ICML 2018", "doi": "10.48550/arXiv.1803.04189"},)

    in_channels: int = 1
    out_channels: int = 1
    features: int = 48
    #: The last decoder block sees the input itself (the paper's net). N2V2 (Höck et al. 2022) removes this skip for
    #: blind-spot training, whose checkerboard artefacts it feeds.
    top_skip: bool = True
    #: Max-blur-pool (max over 2x2 at stride 1, then a binomial blur at stride 2; Zhang 2019) instead of max-pool: N2V2's
    #: other fix for blind-spot artefacts.
    blur_pool: bool = False
    #: 3: a 3-D U-Net of the same blocks (Conv3d), for ZYX stacks; its first ``z_pools`` poolings halve Z too, the
    #: others only Y and X (fewer for coarse Z sampling: a stack with planes 4x farther apart than pixels wants 0).
    dims: int = 2
    z_pools: int = 2

    def __post_init__(self) -> None:
        if self.dims not in (2, 3):
            raise ValueError(f"n2n-unet dims must be 2 or 3, got {self.dims}")
        if not 0 <= self.z_pools <= 5:
            raise ValueError(f"n2n-unet z_pools must be 0 to 5, got {self.z_pools}")

    @classmethod
    def fit_data(cls, values: dict[str, Any], channels: int, scale: int | None) -> dict[str, Any]:
        return {"in_channels": channels, "out_channels": channels, **values}

    @classmethod
    def channels_of(cls, values: dict[str, Any]) -> int:
        return int(values.get("in_channels", 1))


def _conv(cin: int, cout: int, dims: int = 2) -> nn.Sequential:
    conv = nn.Conv3d if dims == 3 else nn.Conv2d
    return nn.Sequential(conv(cin, cout, 3, padding=1), nn.LeakyReLU(0.1, inplace=True))


def max_pool(x: torch.Tensor, factor: tuple[int, ...]) -> torch.Tensor:
    """Max-pool ``x`` (NCHW or NCDHW) by ``factor`` (1 or 2 per spatial axis)."""
    return (F.max_pool3d if x.ndim == 5 else F.max_pool2d)(x, factor)


def max_blur_pool(x: torch.Tensor, factor: tuple[int, ...] | None = None) -> torch.Tensor:
    """Halve ``x`` (NCHW or NCDHW, even sides) along the axes where ``factor`` is 2 (all by default): the max over each
    2-wide window at stride 1, then a [1 2 1] blur at stride 2.

    >>> max_blur_pool(torch.ones(1, 2, 8, 8)).shape, max_blur_pool(torch.ones(1, 2, 4, 8, 8), (1, 2, 2)).shape
    (torch.Size([1, 2, 4, 4]), torch.Size([1, 2, 4, 4, 4]))
    """
    dims = x.ndim - 2
    factor = tuple(factor or (2,) * dims)
    pad_end = [v for f in reversed(factor) for v in (0, f - 1)]
    x = (F.max_pool3d if dims == 3 else F.max_pool2d)(F.pad(x, pad_end, mode="replicate"), factor, stride=1)
    k = torch.ones((), dtype=x.dtype, device=x.device)
    for f in factor:
        taps = torch.tensor([0.25, 0.5, 0.25] if f == 2 else [1.0], dtype=x.dtype, device=x.device)
        k = k[..., None] * taps
    k = k.expand(x.shape[1], 1, *k.shape)
    pad_both = [v for f in reversed(factor) for v in ((1, 1) if f == 2 else (0, 0))]
    conv = F.conv3d if dims == 3 else F.conv2d
    return conv(F.pad(x, pad_both, mode="reflect"), k, stride=factor, groups=x.shape[1])


def _relu_int(v):
    """max(v, 0) for a Python int or a traced size, without a branch."""
    return (v + abs(v)) // 2


def _pad_axis(x: torch.Tensor, dim: int, amount, mode: str) -> torch.Tensor:
    """Pad spatial axis ``dim`` of ``x`` (NCHW or NCDHW) at its end by ``amount`` (which may be 0)."""
    pads = [0] * (2 * (x.ndim - 2))
    pads[2 * (x.ndim - 1 - dim) + 1] = amount
    return F.pad(x, pads, mode=mode)


class N2NUNet(nn.Module):
    """ENC_CONV0..6 (48 ch, five 2x2 max-pools), nearest upsampling, skip
    concatenations, DEC_CONV 96/96 ... 64/32/m, leaky ReLU 0.1, linear output.

    Inputs of any size are padded (reflect) to a multiple of 32 and cropped back.
    With ``dims=3`` the same net of 3-D convolutions takes ``N x C x Z x Y x X``
    stacks (Z padded to a multiple of ``2 ** z_pools``).
    """

    multiple = 32

    def __init__(self, config: N2NUNetConfig | None = None):
        super().__init__()
        c = config or N2NUNetConfig()
        self.config = c
        n, m, f, d = c.in_channels, c.out_channels, c.features, c.dims
        self.enc0 = _conv(n, f, d)
        self.enc1 = _conv(f, f, d)
        self.enc2 = _conv(f, f, d)
        self.enc3 = _conv(f, f, d)
        self.enc4 = _conv(f, f, d)
        self.enc5 = _conv(f, f, d)
        self.enc6 = _conv(f, f, d)
        self.dec5 = nn.Sequential(_conv(2 * f, 2 * f, d), _conv(2 * f, 2 * f, d))
        self.dec4 = nn.Sequential(_conv(3 * f, 2 * f, d), _conv(2 * f, 2 * f, d))
        self.dec3 = nn.Sequential(_conv(3 * f, 2 * f, d), _conv(2 * f, 2 * f, d))
        self.dec2 = nn.Sequential(_conv(3 * f, 2 * f, d), _conv(2 * f, 2 * f, d))
        conv = nn.Conv3d if d == 3 else nn.Conv2d  # the layers are made in the paper's order: seeded runs keep their weights
        self.dec1 = nn.Sequential(_conv(2 * f + (n if c.top_skip else 0), 64, d), _conv(64, 32, d), conv(32, m, 3, padding=1))
        #: Each level's pooling factor per spatial axis (Z only in the first z_pools levels).
        self.factors = [(2, 2)] * 5 if d == 2 else [(2 if i < c.z_pools else 1, 2, 2) for i in range(5)]

    @property
    def multiples(self) -> list[int]:
        """What each spatial axis's size must be a multiple of for the five poolings (3-D: Z by ``2 ** z_pools``)."""
        return [math.prod(f[a] for f in self.factors) for a in range(len(self.factors[0]))]

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        """Pad the spatial axes (at the end) to what five poolings divide: an axis shorter than its multiple is first
        replicated up to it, then every axis is reflected up to the next multiple.

        Written in integer arithmetic on the input's shape, with no branch, so that an exported graph (ONNX) pads
        every size the way this does (a traced ``if`` would freeze the example's case).
        """
        for axis, m in enumerate(self.multiples):
            if m == 1:
                continue
            dim = axis + 2
            short = _relu_int(m - x.shape[dim])
            x = _pad_axis(x, dim, short, "replicate")
            x = _pad_axis(x, dim, (m - x.shape[dim] % m) % m, "reflect")
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sizes = x.shape[2:]
        x = self._pad(x)
        pool = max_blur_pool if self.config.blur_pool else max_pool
        f = self.factors
        pool1 = pool(self.enc1(self.enc0(x)), f[0])
        pool2 = pool(self.enc2(pool1), f[1])
        pool3 = pool(self.enc3(pool2), f[2])
        pool4 = pool(self.enc4(pool3), f[3])
        pool5 = pool(self.enc5(pool4), f[4])
        up = F.interpolate(self.enc6(pool5), scale_factor=f[4], mode="nearest")
        up = F.interpolate(self.dec5(torch.cat([up, pool4], 1)), scale_factor=f[3], mode="nearest")
        up = F.interpolate(self.dec4(torch.cat([up, pool3], 1)), scale_factor=f[2], mode="nearest")
        up = F.interpolate(self.dec3(torch.cat([up, pool2], 1)), scale_factor=f[1], mode="nearest")
        up = F.interpolate(self.dec2(torch.cat([up, pool1], 1)), scale_factor=f[0], mode="nearest")
        out = self.dec1(torch.cat([up, x], 1) if self.config.top_skip else up)
        return out[(..., *(slice(0, s) for s in sizes))]


# --------------------------------------------------------------------------- edsr
@dataclass
class EDSRConfig(NetworkFacts):
    """EDSR (Lim et al. 2017); the defaults are the paper's baseline (16 blocks, 64 channels)."""

    default_crop: ClassVar[int] = 96
    halo: ClassVar[int] = 16
    cite: ClassVar[tuple[dict[str, str], ...]] = (
        {"text": "Lim et al., Enhanced deep residual networks for single image super-resolution, CVPR workshops 2017",
         "doi": "10.1109/CVPRW.2017.151"},)
    #: The paper's EDSR (32 blocks of 256 channels, residual scaling 0.1: 43 M parameters at x4); the defaults are its baseline.
    presets: ClassVar[dict[str, dict[str, Any]]] = {"paper": {"blocks": 32, "features": 256, "res_scale": 0.1},
                                                    "baseline": {"blocks": 16, "features": 64, "res_scale": 1.0}}

    scale: int = 2
    channels: int = 3
    blocks: int = 16
    features: int = 64
    res_scale: float = 1.0
    #: Add a bicubic up-sampling of the input to the output, so the network learns
    #: the residual (as VDSR does).  Not in the EDSR paper; it makes short
    #: trainings reach and pass bicubic much sooner.
    upsample_skip: bool = False

    @classmethod
    def fit_data(cls, values: dict[str, Any], channels: int, scale: int | None) -> dict[str, Any]:
        if scale is None:
            raise ValueError("edsr learns super-resolution: put downsample:factor=N in the chain")
        return {"channels": channels, "scale": scale, **values}

    @classmethod
    def channels_of(cls, values: dict[str, Any]) -> int:
        return int(values.get("channels", 3))


class _ResBlock(nn.Module):
    def __init__(self, f: int, res_scale: float, kernel: int = 3):
        super().__init__()
        pad = kernel // 2
        self.body = nn.Sequential(nn.Conv2d(f, f, kernel, padding=pad), nn.ReLU(inplace=True), nn.Conv2d(f, f, kernel, padding=pad))
        self.res_scale = res_scale

    def forward(self, x):
        return x + self.body(x) * self.res_scale


def _upsampler(f: int, scale: int) -> list[nn.Module]:
    """EDSR's up-sampler: one convolution and pixel shuffle for x2 and x3, two x2 steps for x4."""
    if scale in (2, 3):
        return [nn.Conv2d(f, f * scale**2, 3, padding=1), nn.PixelShuffle(scale)]
    return [m for _ in range(2) for m in (nn.Conv2d(f, f * 4, 3, padding=1), nn.PixelShuffle(2))]


class EDSR(nn.Module):
    """Residual blocks without batch norm, residual scaling, pixel-shuffle upsampler.

    Works on [0, 1] images; subtracts 0.5 in and adds it back out (EDSR's mean shift),
    or adds a bicubic up-sampling of the input with ``upsample_skip``.
    """

    def __init__(self, config: EDSRConfig | None = None):
        super().__init__()
        c = config or EDSRConfig()
        if c.scale not in (2, 3, 4):
            raise ValueError(f"EDSR scale must be 2, 3 or 4, got {c.scale}")
        self.config = c
        self.scale = c.scale
        f = c.features
        self.head = nn.Conv2d(c.channels, f, 3, padding=1)
        self.body = nn.Sequential(*[_ResBlock(f, c.res_scale) for _ in range(c.blocks)], nn.Conv2d(f, f, 3, padding=1))
        self.tail = nn.Sequential(*_upsampler(f, c.scale), nn.Conv2d(f, c.channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.upsample_skip:
            base = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        else:
            base = 0.5
        h = self.head(x - 0.5)
        h = h + self.body(h)
        return self.tail(h) + base


# --------------------------------------------------------------------------- mdsr
@dataclass
class MDSRConfig(NetworkFacts):
    """MDSR (Lim et al. 2017): one network for several scales; the defaults are a baseline this CPU trains."""

    default_crop: ClassVar[int] = 96
    crop_multiple: ClassVar[int] = 12  # a crop every scale divides
    halo: ClassVar[int] = 16
    cite: ClassVar[tuple[dict[str, str], ...]] = EDSRConfig.cite
    #: The paper's MDSR: 80 blocks of 64 channels (8 M parameters with its three heads).
    presets: ClassVar[dict[str, dict[str, Any]]] = {"paper": {"blocks": 80, "features": 64, "res_scale": 1.0},
                                                    "baseline": {"blocks": 16, "features": 64, "res_scale": 1.0}}

    scales: tuple = (2, 3, 4)
    channels: int = 3
    blocks: int = 16
    features: int = 64
    res_scale: float = 1.0
    #: Each scale's pre-processing: residual blocks of 5x5 convolutions (the paper's two).
    pre_blocks: int = 2
    #: Add a bicubic up-sampling of the input to the output (as edsr's upsample_skip): short trainings pass bicubic sooner.
    upsample_skip: bool = True

    def __post_init__(self) -> None:
        self.scales = tuple(sorted({int(s) for s in self.scales}))
        if not self.scales or any(s not in (2, 3, 4) for s in self.scales):
            raise ValueError(f"mdsr scales must be among 2, 3 and 4, got {self.scales}")

    @classmethod
    def fit_data(cls, values: dict[str, Any], channels: int, scale: int | None) -> dict[str, Any]:
        return {"channels": channels, **values}

    @classmethod
    def channels_of(cls, values: dict[str, Any]) -> int:
        return int(values.get("channels", 3))


class MDSR(nn.Module):
    """A shared body between per-scale parts: each scale's pre-processing blocks after the shared head, and its own
    pixel-shuffle up-sampler before the shared last convolution.  ``scale`` (one of ``scales``) is the one the
    forward pass computes; :meth:`at` gives the network fixed at one scale (what inference tiles)."""

    def __init__(self, config: MDSRConfig | None = None):
        super().__init__()
        c = config or MDSRConfig()
        self.config = c
        self.scales = c.scales
        self.scale = c.scales[0]
        f = c.features
        self.head = nn.Conv2d(c.channels, f, 3, padding=1)
        self.pre = nn.ModuleList([nn.Sequential(*[_ResBlock(f, 1.0, kernel=5) for _ in range(c.pre_blocks)]) for _ in c.scales])
        self.body = nn.Sequential(*[_ResBlock(f, c.res_scale) for _ in range(c.blocks)], nn.Conv2d(f, f, 3, padding=1))
        self.up = nn.ModuleList([nn.Sequential(*_upsampler(f, s)) for s in c.scales])
        self.tail = nn.Conv2d(f, c.channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        i = self.scales.index(self.scale)
        base = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False) if self.config.upsample_skip else 0.5
        h = self.pre[i](self.head(x - 0.5))
        h = h + self.body(h)
        return self.tail(self.up[i](h)) + base

    def at(self, scale: int) -> "MDSRAtScale":
        """This network computing ``scale`` (its parameters shared)."""
        if scale not in self.scales:
            raise ValueError(f"these mdsr weights have scales {list(self.scales)}, not x{scale}")
        return MDSRAtScale(self, scale)


class MDSRAtScale(nn.Module):
    """An :class:`MDSR` fixed at one of its scales."""

    def __init__(self, mdsr: MDSR, scale: int):
        super().__init__()
        self.mdsr, self.scale = mdsr, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.mdsr.scale = self.scale
        return self.mdsr(x)


def build_at_scale(config: dict[str, Any], scale: int) -> MDSRAtScale:
    """An MDSR fixed at ``scale`` (what an exported package of one of its scales builds).

    >>> build_at_scale({"blocks": 1, "features": 8, "channels": 1}, 3)(torch.zeros(1, 1, 5, 6)).shape
    torch.Size([1, 1, 15, 18])
    """
    return MDSR(config_from_dict("mdsr", config)).at(scale)


def mdsr_from_edsr(edsr: EDSR, config: MDSRConfig) -> MDSR:
    """An MDSR whose head, body, last convolution and up-sampler of the EDSR's scale are the EDSR's (a fine-tune's start)."""
    net = MDSR(config)
    e = edsr.config
    if (e.features, e.channels, e.blocks) != (config.features, config.channels, config.blocks) or e.scale not in config.scales:
        raise ValueError(f"edsr {e} does not fit mdsr {config}")
    state = edsr.state_dict()
    i = config.scales.index(e.scale)
    n_up = len(edsr.tail) - 1
    mapped = {}
    for k, v in state.items():
        part, rest = k.split(".", 1)
        if part == "tail":
            index, rest2 = rest.split(".", 1)
            mapped[f"up.{i}.{index}.{rest2}" if int(index) < n_up else f"tail.{rest2}"] = v
        else:
            mapped[k] = v
    missing = net.load_state_dict(mapped, strict=False)
    assert not missing.unexpected_keys, missing.unexpected_keys
    with torch.no_grad():  # the new pre-processing blocks start as identities: at the EDSR's scale the MDSR is the EDSR
        for block in (b for pre in net.pre for b in pre):
            block.body[2].weight.zero_()
            block.body[2].bias.zero_()
    return net


# --------------------------------------------------------------------------- mlp2d
@dataclass
class MLP2DConfig(NetworkFacts):
    """The 2-D toy denoiser."""

    trains_on_images: ClassVar[bool] = False

    hidden: int = 100


class MLP2D(nn.Module):
    """Linear(2, hidden), ReLU, Linear(hidden, 2)."""

    def __init__(self, config: MLP2DConfig | None = None):
        super().__init__()
        c = config or MLP2DConfig()
        self.config = c
        self.net = nn.Sequential(nn.Linear(2, c.hidden), nn.ReLU(), nn.Linear(c.hidden, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# --------------------------------------------------------------------------- a network in a fixed noise domain
class FixedDomain(nn.Module):
    """A network trained on one acquisition's noisy data (``imrestore train --targets self``), with the way into its
    domain and back baked in, so that it takes and gives data in their own units: the generalised Anscombe transform
    (Poisson-Gaussian noise; x / sigma for Gaussian), the affine map onto [0, 1] training fixed, the network, then the
    exact unbiased inverse as a piecewise-linear function of ``knots`` points (the table imrestore interpolates),
    with its asymptotic form beyond the table.  Branch-free, so that it exports to ONNX.

    ``domain``: the checkpoint's record (``model``, ``a``/``b`` or ``sigma``, ``lo``, ``span``); the table lives in
    buffers (``knots``, ``values``, ``slopes``) that the state dict carries.
    """

    def __init__(self, network: nn.Module, domain: dict[str, Any], knots: int = 0):
        super().__init__()
        self.network = network
        self.poisson = domain["model"] == "poisson-gaussian" and float(domain.get("a", 0.0)) > 0
        self.a = float(domain.get("a", 0.0))
        self.sigma = max(float(domain.get("sigma", math.sqrt(max(float(domain.get("b", 0.0)), 1e-24)))), 1e-12)
        self.read2 = max(float(domain.get("b", 0.0)), 0.0) / self.a**2 if self.poisson else 0.0
        self.lo, self.span = float(domain["lo"]), float(domain["span"])
        for name in ("knots", "values", "slopes"):
            self.register_buffer(name, torch.zeros(knots))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.poisson:
            v = 2.0 * torch.sqrt(torch.clamp(x / self.a + 0.375 + self.read2, min=0.0))
        else:
            v = x / self.sigma
        d = self.network((v - self.lo) / self.span) * self.span + self.lo
        if not self.poisson:
            return d * self.sigma
        photons = torch.zeros_like(d) + self.values[0]
        for k in range(self.knots.shape[0] - 1):  # the table's interpolation: a sum of ramps, one per knot
            photons = photons + self.slopes[k] * torch.relu(d - self.knots[k])
        beyond = (d / 2.0) ** 2 - 0.125 - self.read2  # above the table: the algebraic inverse, unbiased there
        photons = torch.where(d > self.knots[-1], beyond, photons)
        photons = torch.where(d < self.knots[0], torch.zeros_like(d), photons)
        return photons * self.a


def build_in_domain(name: str, config: dict[str, Any], domain: dict[str, Any], knots: int = 0) -> nn.Module:
    """Network ``name`` inside its fixed noise domain (see :class:`FixedDomain`); the buffers come with the state dict.

    >>> net = build_in_domain("n2n-unet", {"features": 4}, {"model": "gaussian", "sigma": 0.1, "lo": 0.0, "span": 10.0})
    >>> net(torch.zeros(1, 1, 32, 32)).shape
    torch.Size([1, 1, 32, 32])
    """
    return FixedDomain(build_network(name, config), domain, knots)


NETWORKS: dict[str, tuple[type, type]] = {
    "conv-ae": (ConvAE, ConvAEConfig),
    "sr-mnist": (SRMnist, SRMnistConfig),
    "n2n-unet": (N2NUNet, N2NUNetConfig),
    "edsr": (EDSR, EDSRConfig),
    "mdsr": (MDSR, MDSRConfig),
    "mlp2d": (MLP2D, MLP2DConfig),
}


def config_from_dict(name: str, values: dict[str, Any]) -> Any:
    """Build the config dataclass of network ``name``; unknown keys are an error; ``preset`` names one of its facts'
    presets, which the other values override."""
    _, cfg_cls = NETWORKS[name]
    values = dict(values)
    if "preset" in values:
        preset = str(values.pop("preset"))
        if preset not in cfg_cls.presets:
            raise ValueError(f"{name}: unknown preset {preset!r}; known: {sorted(cfg_cls.presets) or 'none'}")
        values = {**cfg_cls.presets[preset], **values}
    known = {f.name for f in fields(cfg_cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"{name}: unknown config keys {sorted(unknown)}; known: {sorted(known)}")
    return cfg_cls(**values)


def build_network(name: str, config: Any | dict | None = None) -> nn.Module:
    """Instantiate network ``name`` from a config dataclass or dict."""
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; known: {', '.join(NETWORKS)}")
    net_cls, cfg_cls = NETWORKS[name]
    if isinstance(config, dict) or config is None:
        config = config_from_dict(name, config or {})
    return net_cls(config)


def network_facts(name: str) -> type[NetworkFacts]:
    """The config class of network ``name``, with its facts (see :class:`NetworkFacts`)."""
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; known: {', '.join(NETWORKS)}")
    return NETWORKS[name][1]


def config_dict(net: nn.Module) -> dict[str, Any]:
    return asdict(net.config)

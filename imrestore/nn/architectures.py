"""Networks of other projects, implemented here so that their weights load from a state dict without running their code.

A BioImage Model Zoo package with ``pytorch_state_dict`` weights names its architecture as Python to import or a
source file to execute.  imrestore never does either unless told ``trust=true``: the architectures it knows are
built here from the package's ``kwargs`` and take the weights as tensors (as spandrel does for restoration networks).

>>> import torch
>>> net = build_known("careamics.models.unet", "UNet", {"conv_dims": 2, "depth": 2, "num_channels_init": 8})
>>> net(torch.zeros(1, 1, 32, 32)).shape
torch.Size([1, 1, 32, 32])
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .models import build_at_scale, build_in_domain, build_network

# --------------------------------------------------------------------------- CAREamics' U-Net
# The layout of careamics.models.unet.UNet (CAREamics 0.3), module for module, so that its state dict keys match:
# encoder.encoder_blocks = [block, pool] * depth; decoder.bottleneck; decoder.decoder_blocks = [upsample, block] * depth;
# final_conv.  Blocks are two 3x3 convolutions (batch norm optional), channels per group interleaved at each skip.

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "None": nn.Identity, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh, "ReLU": nn.ReLU, "LeakyReLU": nn.LeakyReLU,
    "ELU": nn.ELU, "Softmax": lambda: nn.Softmax(dim=1),
}


class _CareBlock(nn.Module):
    """conv, [bn], ReLU, conv, [bn], ReLU, [dropout] (CAREamics' ``Conv_Block``)."""

    def __init__(self, dims: int, cin: int, cout: int, multiplier: int = 1, groups: int = 1, batch_norm: bool = True,
                 dropout: float = 0.0):
        super().__init__()
        conv, norm = getattr(nn, f"Conv{dims}d"), getattr(nn, f"BatchNorm{dims}d")
        mid = cout * multiplier
        self.use_batch_norm = batch_norm
        self.conv1 = conv(cin, mid, 3, padding=1, groups=groups)
        self.conv2 = conv(mid, cout, 3, padding=1, groups=groups)
        self.batch_norm1, self.batch_norm2 = norm(mid), norm(cout)
        self.dropout = getattr(nn, f"Dropout{dims}d")(dropout) if dropout > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = F.relu(self.batch_norm1(x) if self.use_batch_norm else x)
        x = self.conv2(x)
        x = F.relu(self.batch_norm2(x) if self.use_batch_norm else x)
        return self.dropout(x) if self.dropout is not None else x


class _CareMaxBlurPool(nn.Module):
    """N2V2's pooling as CAREamics computes it: 2x2 max at stride 1, then the [1 2 1] binomial at stride 2, zero-padded."""

    def __init__(self, dims: int):
        super().__init__()
        self.dims = dims
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = taps
        for _ in range(dims - 1):
            kernel = kernel[..., None] * taps
        self.register_buffer("kernel", kernel / kernel.sum(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pool, conv = (F.max_pool2d, F.conv2d) if self.dims == 2 else (F.max_pool3d, F.conv3d)
        x = pool(x, kernel_size=2, stride=1)
        k = self.kernel.to(x.dtype).expand(x.shape[1], 1, *self.kernel.shape)
        return conv(x, k, padding=1, stride=2, groups=x.shape[1])


class _CareEncoder(nn.Module):
    def __init__(self, dims: int, cin: int, depth: int, init: int, batch_norm: bool, dropout: float, n2v2: bool, groups: int):
        super().__init__()
        pool = _CareMaxBlurPool(dims) if n2v2 else getattr(nn, f"MaxPool{dims}d")(kernel_size=2)
        blocks: list[nn.Module] = []
        for n in range(depth):
            cout = init * 2**n * groups
            blocks += [_CareBlock(dims, cin if n == 0 else cout // 2, cout, groups=groups, batch_norm=batch_norm, dropout=dropout), pool]
        self.encoder_blocks = nn.ModuleList(blocks)


class _CareDecoder(nn.Module):
    def __init__(self, dims: int, depth: int, init: int, batch_norm: bool, dropout: float, n2v2: bool, groups: int):
        super().__init__()
        width = init * groups * 2 ** (depth - 1)
        self.bottleneck = _CareBlock(dims, width, width, multiplier=2, groups=groups, batch_norm=batch_norm, dropout=dropout)
        up = nn.Upsample(scale_factor=2, mode="bilinear" if dims == 2 else "trilinear")
        blocks: list[nn.Module] = []
        for n in range(depth):
            cin = init * 2 ** (depth - n - 1) * groups
            last = n == depth - 1
            cout = cin if last else cin // 2
            skip = not (n2v2 and last)
            blocks += [up, _CareBlock(dims, cin * 2 if skip else cin, cout, multiplier=1 if last else 2, groups=groups,
                                      batch_norm=batch_norm, dropout=dropout)]
        self.decoder_blocks = nn.ModuleList(blocks)


def _interleave(a: torch.Tensor, b: torch.Tensor, groups: int) -> torch.Tensor:
    """Concatenate channels group by group: a's first group, b's first group, a's second..."""
    pa, pb = a.shape[1] // groups, b.shape[1] // groups
    return torch.cat([t for g in range(groups) for t in (a[:, g * pa:(g + 1) * pa], b[:, g * pb:(g + 1) * pb])], dim=1)


class CareamicsUNet(nn.Module):
    """CAREamics' ``UNet`` (0.3): ``depth`` levels of two-convolution blocks, max-pooling (N2V2: max-blur-pooling and
    no top skip), bilinear up-sampling, channels processed independently (grouped convolutions) by default."""

    def __init__(self, conv_dims: int = 2, num_classes: int = 1, in_channels: int = 1, depth: int = 3,
                 num_channels_init: int = 64, use_batch_norm: bool = True, dropout: float = 0.0, pool_kernel: int = 2,
                 residual: bool = False, final_activation: str = "None", n2v2: bool = False,
                 independent_channels: bool = True, **_: Any):
        super().__init__()
        if pool_kernel != 2:
            raise ValueError(f"CAREamics U-Net with pool_kernel {pool_kernel}: only 2 is implemented")
        activation = str(getattr(final_activation, "value", final_activation))
        if activation not in _ACTIVATIONS:
            raise ValueError(f"CAREamics U-Net final_activation {activation!r} is not one of {sorted(_ACTIVATIONS)}")
        self.groups = in_channels if independent_channels else 1
        self.depth, self.n2v2, self.residual = depth, n2v2, residual
        self.encoder = _CareEncoder(conv_dims, in_channels, depth, num_channels_init, use_batch_norm, dropout, n2v2, self.groups)
        self.decoder = _CareDecoder(conv_dims, depth, num_channels_init, use_batch_norm, dropout, n2v2, self.groups)
        self.final_conv = getattr(nn, f"Conv{conv_dims}d")(num_channels_init * self.groups, num_classes, 1, groups=self.groups)
        self.final_activation = _ACTIVATIONS[activation]()
        #: Every spatial size must be a multiple of this (``depth`` 2x poolings).
        self.multiple = 2**depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips, h = [], x
        for module in self.encoder.encoder_blocks:
            h = module(h)
            if isinstance(module, _CareBlock):
                skips.append(h)
        h = self.decoder.bottleneck(h)
        for i, module in enumerate(self.decoder.decoder_blocks):
            h = module(h)
            level = i // 2
            if isinstance(module, nn.Upsample) and (not self.n2v2 or level < self.depth - 1):
                h = _interleave(h, skips[-1 - level], self.groups)
        h = self.final_conv(h)
        return self.final_activation(h + x if self.residual else h)


# --------------------------------------------------------------------------- the catalogue
def _imrestore(kwargs: dict[str, Any]) -> nn.Module:
    return build_network(kwargs["name"], kwargs.get("config") or {})


def _imrestore_in_domain(kwargs: dict[str, Any]) -> nn.Module:
    return build_in_domain(kwargs["name"], kwargs.get("config") or {}, kwargs["domain"], int(kwargs.get("knots", 0)))


def _mdsr_at(kwargs: dict[str, Any]) -> nn.Module:
    return build_at_scale(kwargs.get("config") or {}, int(kwargs["scale"]))


#: (module a package imports from, or the file name of its architecture source; callable) -> builder from kwargs.
KNOWN: dict[tuple[str, str], Callable[[dict[str, Any]], nn.Module]] = {
    ("careamics.models.unet", "UNet"): lambda kw: CareamicsUNet(**kw),
    ("careamics.models", "UNet"): lambda kw: CareamicsUNet(**kw),
    ("imrestore.nn.models", "build_network"): _imrestore,
    ("imrestore_models.py", "build_network"): _imrestore,  # what imrestore export writes
    ("imrestore.nn.models", "build_in_domain"): _imrestore_in_domain,
    ("imrestore_models.py", "build_in_domain"): _imrestore_in_domain,  # self-supervised weights, domain baked in
    ("imrestore.nn.models", "build_at_scale"): _mdsr_at,
    ("imrestore_models.py", "build_at_scale"): _mdsr_at,  # one scale of a multi-scale network
}


def is_known(where: str, callable_name: str) -> bool:
    """Whether imrestore implements the architecture a package names."""
    return (where, callable_name) in KNOWN


def build_known(where: str, callable_name: str, kwargs: dict[str, Any]) -> nn.Module:
    """The network a package describes, built by imrestore (raises KeyError for an unknown one)."""
    return KNOWN[(where, callable_name)](dict(kwargs))


def size_multiple(net: nn.Module) -> int:
    """What a known network needs each spatial size to be a multiple of, where that is all it needs (0: keep the sizes
    the package declares)."""
    return int(net.multiple) if isinstance(net, CareamicsUNet) else 0

"""Export a network and its weights: an ONNX graph, or a BioImage Model Zoo (BMZ) package.

Both carry what the checkpoint and the network's facts say (axes, sizes, halo,
scale, licence, authors, citation, how the input is normalised); both are
checked against the network in PyTorch (float32) before they are kept, and a
package is tested by ``bioimageio.core`` offline.  Nothing is written where
the check fails: the file appears only when it is right.

>>> from imrestore.nn.export import load_source
>>> src = load_source(["restorer:n2n-unet"], channels=1)
>>> src.network, src.axes, src.input_channels
('n2n-unet', 'bcyx', 1)
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .._version import __version__
from ..chain import Chain
from ..datasets import skimage_images
from ..errors import ImrestoreUsageError
from ..noise import unbiased_table
from ..provenance import trained_for
from . import models
from .checkpoint import load_checkpoint
from .models import network_facts

log = logging.getLogger("imrestore")

ONNX_OPSET = 17
#: Largest difference from PyTorch (max abs, float32) an exported model may show on its parity checks.
PARITY_TOLERANCE = 1e-4
#: The ONNX graph's input and output names (the package's tensor ids too).
INPUT, OUTPUT = "input", "output"
LICENCE = "BSD-3-Clause"
AUTHORS = ({"name": "imrestore developers"},)
#: What imrestore's learned restorers do around the network that a BMZ package cannot declare.
AROUND_THE_NETWORK = {
    "n2n-unet": ("On real data imrestore first estimates the noise model; signal-dependent (Poisson-Gaussian) noise is "
                 "stabilised by the generalised Anscombe transform and the image stretched to [0, 1] by a smoothed copy's "
                 "range before the network, and mapped back by the exact unbiased inverse after it; each image is the mean "
                 "over its 8 flips and rotations (x8 self-ensemble); do-no-harm keeps images with too little noise as they "
                 "are. None of this is in the package: it holds the network alone, as `restorer:n2n-unet` runs it on a "
                 "synthetic benchmark."),
    "edsr": "On real data imrestore averages the outputs over the 8 flips and rotations (x8 self-ensemble); the package holds the network alone.",
}


class ExportError(ImrestoreUsageError):
    """An export that cannot be made or does not pass its own check."""


@dataclasses.dataclass
class ExportSource:
    """A network with its weights and what is known about them."""

    network: str
    model: torch.nn.Module
    meta: dict
    weights: Path
    restorer: str
    #: Self-supervised weights: the fixed domain they were trained in, baked into ``model`` (see :func:`in_domain`).
    domain: dict | None = None
    #: Who made the weights and under which licence (the checkpoint's, or given to the export).
    authors: tuple[dict, ...] = AUTHORS
    licence: str = LICENCE

    @property
    def config(self) -> dict:
        return dict(self.meta.get("config") or dataclasses.asdict(self.model.config))

    @property
    def dims(self) -> int:
        return int(self.config.get("dims", 2))

    @property
    def axes(self) -> str:
        """The tensor axes, in BMZ's letters: batch, channel, then space."""
        return "bczyx" if self.dims == 3 else "bcyx"

    @property
    def input_channels(self) -> int:
        return self.facts.channels_of(self.config)

    @property
    def output_channels(self) -> int:
        return int(self.config.get("out_channels", self.input_channels))

    @property
    def core(self) -> torch.nn.Module:
        """The network itself (inside its domain's way in and out, for self-supervised weights)."""
        return getattr(self.model, "network", self.model) if self.domain is not None else self.model

    @property
    def scale(self) -> int:
        return int(getattr(self.core, "scale", 1) or 1)

    @property
    def fixed_size(self) -> tuple[int, ...] | None:
        """The one input size of a fixed-size network (the MNIST nets), else None."""
        size = getattr(self.core, "input_size", None)
        return tuple(size) if size is not None else None

    @property
    def multiples(self) -> list[int]:
        """The size step per spatial axis at which the network computes without padding."""
        return list(getattr(self.core, "multiples", [1] * self.dims))

    @property
    def architecture(self) -> tuple[str, dict]:
        """The callable of imrestore's network module that builds ``model``, and its keyword arguments."""
        if isinstance(self.model, models.MDSRAtScale):
            return "build_at_scale", {"config": self.config, "scale": int(self.model.scale)}
        if self.domain is None:
            return "build_network", {"name": self.network, "config": self.config}
        return "build_in_domain", {"name": self.network, "config": self.config, "domain": self.domain,
                                   "knots": int(self.model.knots.shape[0])}

    @property
    def facts(self):
        return network_facts(self.network)

    @property
    def title(self) -> str:
        return f"imrestore {self.network} ({Path(self.weights).stem})"

    def describe(self) -> str:
        """What the weights were trained for, in words."""
        return trained_for(self.meta)


def load_source(specs: Sequence[str], channels: int | None = None, authors: Sequence[str] = (), licence: str | None = None,
                needs_licence: bool = False) -> ExportSource:
    """The network and weights that ``imrestore run SPEC...`` would use (corruptions pick shipped weights, as in run).

    ``channels`` chooses between grey and colour weights where both exist (default: grey if there are grey ones).
    ``authors`` and ``licence`` override the checkpoint's; shipped weights are imrestore's, BSD-3-Clause; weights of
    your own with no licence recorded are refused where ``needs_licence`` (a package must state one).
    """
    chain = Chain.from_specs(list(specs), metrics=[])
    restorer = chain.restorer
    if restorer is None or not getattr(restorer, "network", ""):
        what = restorer.name if restorer is not None else "no restorer"
        raise ExportError(f"export takes a learned restorer (n2n-unet, edsr, conv-ae, sr-mnist) and its weights, not {what}")
    have = sorted({network_facts(m["network"]).channels_of(m.get("config", {})) for _, m in restorer._candidates})
    if channels is None:
        channels = 1 if 1 in have else have[0]
    if channels not in have:
        raise ExportError(f"{restorer.name}: the weights take {have} channel(s), not {channels}")
    path, _ = restorer._checkpoint_for(channels)
    model, meta = load_checkpoint(path, expect=restorer.network)
    model = restorer._network_for(model)  # a multi-scale network: at the scale asked
    domain = (meta.get("self_supervised") or {}).get("domain")
    if domain is not None:
        model = in_domain(model, meta["network"], domain)
    shipped = Path(path).parent.name == "weights" and Path(path).parent.parent.name == "imrestore_builtins"
    who = tuple({"name": a} for a in authors) or tuple(meta.get("authors") or ()) or (AUTHORS if shipped else ({"name": "unknown"},))
    licence = licence or meta.get("license") or (LICENCE if shipped else None)
    if licence is None and needs_licence:
        raise ExportError(f"{Path(path).name} records no licence: say --license with an SPDX id (e.g. CC-BY-4.0 or BSD-3-Clause), "
                          "or train with --license")
    return ExportSource(restorer.network, model.eval(), meta, Path(path), restorer.name, domain, who, licence or LICENCE)


def in_domain(net: torch.nn.Module, network: str, domain: dict) -> torch.nn.Module:
    """``net`` with its fixed noise domain baked in (:class:`~imrestore.nn.models.FixedDomain`): the table of the
    exact unbiased inverse that imrestore interpolates, as the knots of a piecewise-linear function."""
    knots = values = np.zeros(0)
    if domain["model"] == "poisson-gaussian" and float(domain.get("a", 0)) > 0:
        read_noise = float(np.sqrt(max(float(domain.get("b", 0.0)), 0.0)) / float(domain["a"]))
        grid, expected = unbiased_table(round(read_noise, 4))
        keep = np.concatenate([[True], np.diff(expected) > 0])  # strictly increasing knots (the table is monotone)
        knots, values = expected[keep], grid[keep]
    wrapped = models.build_in_domain(network, models.config_dict(net), domain, len(knots))
    wrapped.network.load_state_dict(net.state_dict())
    if len(knots):
        slope = np.diff(values) / np.diff(knots)
        changes = np.diff(np.concatenate([[0.0], slope, [slope[-1]]]))
        wrapped.knots.copy_(torch.from_numpy(knots))
        wrapped.values.copy_(torch.from_numpy(values))
        wrapped.slopes.copy_(torch.from_numpy(changes[: len(knots)]))
    return wrapped


# --------------------------------------------------------------------------- sample input
def sample_input(src: ExportSource, image: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """An input tensor for the test tensors and the cover, in the network's axes (``1C(Z)YX`` float32).

    ``image`` (YX or YXC in [0, 1]) is taken as it is; by default a scikit-image sample goes through the
    checkpoint's own corruption chain, so the cover shows what the network was trained to restore.
    """
    if image is None:
        images = skimage_images()
        clean = images["astronaut"] if src.input_channels - bool(src.meta.get("noise_map")) == 3 else images["camera"]
        if clean.ndim == 3 and src.input_channels == 1:
            clean = clean.mean(axis=2)
        if src.fixed_size is not None:
            from skimage.transform import resize

            side = src.fixed_size[0] * src.scale
            clean = resize(clean, (side, side), anti_aliasing=True).astype(np.float32)
        else:
            h, w = clean.shape[:2]
            side = 256 if src.scale == 1 else 128 * src.scale
            clean = clean[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
        specs = [s.split(":", 1)[1] if s.startswith("corruption:") else s for s in src.meta.get("corruptions", [])]
        specs = [s.replace("sigma=0.0,", "sigma=25,") if s.startswith("gaussian:") else s for s in specs]
        image = Chain.from_specs(specs, metrics=[]).corrupt(np.asarray(clean, np.float32), seed=seed, key="export")[0] if specs else clean
    image = np.asarray(image, np.float32)
    if src.meta.get("noise_map"):  # the prior: the noise level as a second channel
        image = np.stack([image, np.full_like(image, 25 / 255)], axis=-1)
    if src.dims == 3:
        x = image[None, None] if image.ndim == 3 else image[None, None, None]
    else:
        x = image[None, None] if image.ndim == 2 else np.moveaxis(image, -1, 0)[None]
    if x.shape[1] != src.input_channels:
        raise ExportError(f"the sample has {x.shape[1]} channel(s), the network takes {src.input_channels}")
    if src.fixed_size is not None and tuple(x.shape[2:]) != src.fixed_size:
        raise ExportError(f"{src.network} takes {'x'.join(map(str, src.fixed_size))} images, the sample is {'x'.join(map(str, x.shape[2:]))}")
    return np.ascontiguousarray(x, np.float32)


def input_sizes(src: ExportSource) -> list[tuple[int, int]]:
    """The (minimum, step) of each spatial axis that a package declares for ``src``'s input."""
    out = []
    for i, axis in enumerate("zyx"[-src.dims:]):
        if src.fixed_size is not None:
            out.append((src.fixed_size[i], 0))
            continue
        step = src.multiples[i]
        pad = halo(src) // src.scale if axis != "z" else 0
        out.append(((2 * pad // step + 1) * step, step))  # a tile keeps something after its halo is cropped
    return out


def fit_sample(src: ExportSource, x: np.ndarray) -> np.ndarray:
    """``x`` (``1C`` + spatial) cropped about its centre, or padded, to a size the package declares, so that its test
    tensors are valid (a sample of 100x70 becomes 96x64... or is padded up to the minimum)."""
    for axis, (minimum, step) in enumerate(input_sizes(src), start=2):
        n = x.shape[axis]
        target = minimum if n <= minimum or not step else minimum + (n - minimum) // step * step
        if n < target:
            widths = [(0, 0)] * x.ndim
            widths[axis] = (0, target - n)
            x = np.pad(x, widths, mode="reflect" if target - n < n else "edge")
        elif n > target:
            start = (n - target) // 2
            x = np.take(x, range(start, start + target), axis=axis)
    return np.ascontiguousarray(x, np.float32)


def run_torch(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """The network's float32 output for ``x`` (``NC(Z)YX``), on the CPU."""
    with torch.inference_mode():
        return model(torch.from_numpy(np.ascontiguousarray(x, np.float32))).float().numpy()


# --------------------------------------------------------------------------- ONNX
def parity_sizes(src: ExportSource) -> list[tuple[int, ...]]:
    """Spatial sizes at which an exported graph is checked against PyTorch: the fixed size, or several, odd ones too."""
    if src.fixed_size is not None:
        return [src.fixed_size]
    if src.dims == 3:
        return [(8, 64, 64), (5, 33, 47)]
    return [(64, 64), (96, 64), (33, 31), (17, 45)]


def _silence():
    """The exporter's chatter (warnings about tracing) is not the user's business."""
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    return stack


def onnx_metadata(src: ExportSource) -> dict[str, str]:
    """The checkpoint's record, as ONNX ``metadata_props`` (strings)."""
    record = {k: src.meta[k] for k in RECORD_KEYS if k in src.meta}
    return {
        "imrestore": json.dumps({**record, "exported_by": f"imrestore {__version__}", "axes": src.axes, "scale": src.scale,
                                 "input": "float32 in [0, 1] (imrestore's unit domain: the file's dtype range)"}, default=str),
        "axes": src.axes,
        "license": src.licence,
        "citation": "; ".join(c["text"] for c in citations(src)),
    }


def write_onnx(src: ExportSource, path: Path | str, *, check: bool = True) -> dict[str, Any]:
    """Export ``src`` to an ONNX graph at ``path`` (opset 17; batch and, unless fixed, spatial sizes dynamic).

    With ``check`` the graph is run by onnxruntime at :func:`parity_sizes` and compared with PyTorch; the file is
    kept only if every difference is within :data:`PARITY_TOLERANCE`.  Returns the parity record.
    """
    try:
        import onnx
    except ImportError:
        raise ExportError("ONNX export needs the onnx package: pip install 'imrestore[onnx]'") from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    spatial = "zyx"[-src.dims:]
    size = src.fixed_size or parity_sizes(src)[0]
    example = torch.zeros((1, src.input_channels, *size))
    dynamic = {0: "batch"} if src.fixed_size is not None else {0: "batch", **{2 + i: a for i, a in enumerate(spatial)}}
    dynamic_out = {0: "batch"} if src.fixed_size is not None else {0: "batch", **{2 + i: f"{a}_out" for i, a in enumerate(spatial)}}
    tmp = path.with_name(f".{path.name}.imrestore-tmp")
    try:
        with _silence():
            torch.onnx.export(src.model, (example,), str(tmp), dynamo=False, opset_version=ONNX_OPSET, input_names=[INPUT],
                              output_names=[OUTPUT], dynamic_axes={INPUT: dynamic, OUTPUT: dynamic_out})
        graph = onnx.load(str(tmp))
        for key, value in onnx_metadata(src).items():
            graph.metadata_props.add(key=key, value=value)
        graph.doc_string = f"{src.title}: {src.describe()}"
        onnx.save(graph, str(tmp))
        record = {"onnx_opset": ONNX_OPSET, "parity": check_onnx(src, tmp) if check else None}
        os.replace(tmp, path)
        return record
    finally:
        tmp.unlink(missing_ok=True)


def check_onnx(src: ExportSource, path: Path | str, sizes: Sequence[tuple[int, ...]] | None = None, batch: int = 2) -> dict[str, Any]:
    """Run the ONNX graph at ``path`` and the PyTorch network on the same random inputs; raise if they differ."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ExportError("checking an ONNX export needs onnxruntime: pip install 'imrestore[onnx]'") from None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    worst, per_size = 0.0, {}
    for size in sizes or parity_sizes(src):
        x = rng.random((batch, src.input_channels, *size), dtype=np.float32)
        ref = run_torch(src.model, x)
        out = session.run(None, {INPUT: x})[0]
        if out.shape != ref.shape:
            raise ExportError(f"the ONNX graph gives shape {out.shape} at input size {size}, PyTorch {ref.shape}")
        err = float(np.abs(out - ref).max())
        per_size["x".join(map(str, size))] = err
        worst = max(worst, err)
    if worst > PARITY_TOLERANCE:
        raise ExportError(f"the ONNX graph differs from PyTorch by {worst:.2e} (max abs; tolerance {PARITY_TOLERANCE:.0e}): {per_size}")
    return {"max_abs_error": worst, "per_size": per_size, "tolerance": PARITY_TOLERANCE}


# --------------------------------------------------------------------------- BioImage Model Zoo
def citations(src: ExportSource) -> list[dict[str, str]]:
    """The network's citations (its facts), and imrestore."""
    cites = [dict(c) for c in getattr(src.facts, "cite", ())]
    return cites or [{"text": "imrestore: a plugin-based image restoration toolkit", "url": "https://pypi.org/project/imrestore/"}]


def halo(src: ExportSource) -> int:
    """Output pixels on each side of a tile that a tiled prediction should crop (the network's facts)."""
    return int(getattr(src.facts, "halo", 0)) * src.scale if src.fixed_size is None else 0


def _cover(x: np.ndarray, y: np.ndarray, path: Path) -> None:
    """Input beside output, one PNG (grey, or the first three channels), each side as tall as the output."""
    from PIL import Image

    def picture(t: np.ndarray, side: int) -> np.ndarray:
        t = t[0]
        t = t[t.shape[0] // 2] if t.ndim == 4 else t  # the middle plane of a stack
        t = t[:3] if t.shape[0] >= 3 else t[:1]
        img = np.clip(np.moveaxis(t, 0, -1), 0, 1)
        img = img[..., 0] if img.shape[-1] == 1 else img
        im = Image.fromarray((img * 255 + 0.5).astype(np.uint8))
        return np.asarray(im.resize((side, side), Image.NEAREST).convert("RGB"))

    side = max(256, y.shape[-1])
    Image.fromarray(np.concatenate([picture(x, side), picture(y, side)], axis=1)).save(path)


def _readme(src: ExportSource, validation: dict[str, Any]) -> str:
    """The package's documentation: what the network is, what it needs, what imrestore does around it, its checks."""
    cfg = json.dumps(src.config)
    around = AROUND_THE_NETWORK.get(src.network, "imrestore runs this network as it is; the package holds it whole.")
    if src.meta.get("noise_map"):
        around = ("This is imrestore's plug-and-play prior: the second input channel is the noise level (standard deviation, "
                  "in the same [0, 1] units) the network removes; `restorer:pnp` calls it inside its loop.")
    if src.domain is not None:
        around = ("These weights were trained on the noisy data themselves (imrestore train --targets self), in a domain "
                  "that training fixed: the package takes and gives the data in their own [0, 1] units, with the way in "
                  f"({'the generalised Anscombe transform' if src.domain['model'] == 'poisson-gaussian' else 'x / sigma'} and "
                  "the affine map training chose) and the exact unbiased inverse baked into the network "
                  "(config.imrestore.self_supervised.domain). Feed it data of that acquisition only. imrestore's x8 "
                  "ensemble and its harm check are not in the package.")
    parity = validation.get("onnx", {}).get("parity") or {}
    lines = [
        f"# {src.title}", "",
        f"{src.network} from imrestore {__version__}, {src.describe()}.", "",
        "## Input and output", "",
        f"- Axes `{src.axes}`, {src.input_channels} input and {src.output_channels} output channel(s); float32.",
        "- Values in imrestore's unit domain: 0 and 1 are the ends of the stored dtype's range (uint8: 0 and 255; "
        "uint16: 0 and 65535; float data as they are). The package declares no scaling because that range depends "
        "on the file: scale your data to [0, 1] before it (a `scale_linear` with gain 1/255 for 8-bit data).",
        (f"- Any size: the network pads to a multiple of {'x'.join(map(str, src.multiples))} inside itself; the declared step is "
         "the size at which it computes without padding." if src.fixed_size is None else
         f"- Fixed size {'x'.join(map(str, src.fixed_size))}."),
        f"- Output {src.scale}x the input's size." if src.scale != 1 else "- Output the input's size.",
        f"- Halo for tiled prediction: {halo(src)} pixels per side." if src.fixed_size is None else "",
        f"- Network config: `{cfg}`.", "",
        "## What imrestore does around the network", "", around, "",
        "## Validation", "",
        "- Test tensors: the sample input and the network's float32 PyTorch output on it (CPU).",
        (f"- ONNX weights (opset {ONNX_OPSET}) against PyTorch: max abs difference {parity.get('max_abs_error', 0):.1e} "
         f"at sizes {', '.join(parity.get('per_size', {}))} (tolerance {PARITY_TOLERANCE:.0e})." if parity else ""),
        "- `bioimageio test` (bioimageio.core) passed for every weight format when the package was made.", "",
        "## Licence and citation", "",
        f"{src.licence}. Cite: " + "; ".join(c["text"] + (f" (doi:{c['doi']})" if c.get("doi") else "") for c in citations(src)) + ".",
        "",
    ]
    return "\n".join(line for line in lines if line is not None)


def _architecture_file(folder: Path) -> Path:
    """The package's architecture source: imrestore's network module, which needs torch alone."""
    target = folder / "imrestore_models.py"
    shutil.copyfile(models.__file__, target)
    return target


#: The checkpoint's record that an export carries (ONNX metadata, the package's config).
RECORD_KEYS = ("network", "config", "corruptions", "targets", "loss", "data", "self_supervised", "noise_map", "options", "normalisation")


def _tensors(src: ExportSource, work: Path) -> tuple[list, list]:
    """The package's input and output tensor descriptions: axes, sizes (fixed, or min/step with the halo), test tensors."""
    from bioimageio.spec.model.v0_5 import (AxisId, BatchAxis, ChannelAxis, EnsureDtypeDescr, EnsureDtypeKwargs, FileDescr,
                                            Identifier, InputTensorDescr, OutputTensorDescr, ParameterizedSize, SizeReference,
                                            SpaceInputAxis, SpaceOutputAxis, SpaceOutputAxisWithHalo, TensorId)

    tensor_in, tensor_out = TensorId(INPUT), TensorId(OUTPUT)

    def channel_axis(n: int):
        return ChannelAxis(channel_names=[Identifier(f"c{i}") for i in range(n)])

    in_axes: list = [BatchAxis(), channel_axis(src.input_channels)]
    out_axes: list = [BatchAxis(), channel_axis(src.output_channels)]
    for i, (a, (smallest, step)) in enumerate(zip("zyx"[-src.dims:], input_sizes(src))):
        if src.fixed_size is not None:
            in_axes.append(SpaceInputAxis(id=AxisId(a), size=src.fixed_size[i]))
            out_axes.append(SpaceOutputAxis(id=AxisId(a), size=src.fixed_size[i] * src.scale))
            continue
        pad = halo(src) // src.scale if a != "z" else 0
        in_axes.append(SpaceInputAxis(id=AxisId(a), size=ParameterizedSize(min=smallest, step=step)))
        ref = SizeReference(tensor_id=tensor_in, axis_id=AxisId(a))
        out_axes.append(SpaceOutputAxisWithHalo(id=AxisId(a), size=ref, scale=1 / src.scale, halo=pad * src.scale) if pad
                        else SpaceOutputAxis(id=AxisId(a), size=ref, scale=1 / src.scale))
    inputs = [InputTensorDescr(id=tensor_in, axes=in_axes, test_tensor=FileDescr(source=work / "test_input.npy"),
                               description="float32 in [0, 1]: 0 and 1 are the ends of the stored dtype's range",
                               preprocessing=[EnsureDtypeDescr(kwargs=EnsureDtypeKwargs(dtype="float32"))])]
    outputs = [OutputTensorDescr(id=tensor_out, axes=out_axes, test_tensor=FileDescr(source=work / "test_output.npy"),
                                 description="float32 in the input's units")]
    return inputs, outputs


def _weights(src: ExportSource, work: Path):
    """The package's weights: the state dict with imrestore's network module as its architecture, and the ONNX graph."""
    from bioimageio.spec.model.v0_5 import (ArchitectureFromFileDescr, Identifier, OnnxWeightsDescr,
                                            PytorchStateDictWeightsDescr, Version, WeightsDescr)

    torch.save({k: v.detach().cpu() for k, v in src.model.state_dict().items()}, work / "weights.pt")
    callable_name, kwargs = src.architecture
    arch = ArchitectureFromFileDescr(source=_architecture_file(work), callable=Identifier(callable_name), kwargs=kwargs)
    return WeightsDescr(
        pytorch_state_dict=PytorchStateDictWeightsDescr(source=work / "weights.pt", architecture=arch,
                                                        pytorch_version=Version(torch.__version__.split("+")[0])),
        onnx=OnnxWeightsDescr(source=work / "weights.onnx", opset_version=ONNX_OPSET, parent="pytorch_state_dict"),
    )


def write_bmz(src: ExportSource, path: Path | str, *, sample: np.ndarray | None = None, test: bool = True) -> dict[str, Any]:
    """Write a BioImage Model Zoo package (format 0.5) of ``src`` to ``path`` (a .zip).

    Weights as a PyTorch state dict (architecture: imrestore's network module, torch only) and as ONNX; test
    tensors from ``sample`` (see :func:`sample_input`); a cover from the network's own output; a README with a
    Validation section.  With ``test`` the package must pass ``bioimageio.core``'s test (status ``passed``) or
    nothing is written.  Returns the validation record.
    """
    try:
        from bioimageio.core import save_bioimageio_package
        from bioimageio.spec.model.v0_5 import Author, CiteEntry, FileDescr, ModelDescr, Version
    except ImportError:
        raise ExportError("BioImage Model Zoo export needs bioimageio.core: pip install 'imrestore[bmz]'") from None
    path = Path(path)
    x = fit_sample(src, sample_input(src) if sample is None else np.asarray(sample, np.float32))
    y = run_torch(src.model, x)
    with tempfile.TemporaryDirectory(prefix="imrestore-bmz-") as tmp_dir:
        work = Path(tmp_dir)
        np.save(work / "test_input.npy", x)
        np.save(work / "test_output.npy", y)
        _cover(x, y, work / "cover.png")
        validation: dict[str, Any] = {"onnx": write_onnx(src, work / "weights.onnx")}
        (work / "README.md").write_text(_readme(src, validation))
        inputs, outputs = _tensors(src, work)
        descr = ModelDescr(
            name=f"imrestore {src.network} {Path(src.weights).stem}"[:128],
            description=f"{src.network} from imrestore, {src.describe()}"[:1024],
            authors=[Author(**a) for a in src.authors], cite=[CiteEntry(**c) for c in citations(src)], license=src.licence,
            documentation=FileDescr(source=work / "README.md"), covers=[FileDescr(source=work / "cover.png")],
            inputs=inputs, outputs=outputs, weights=_weights(src, work),
            tags=["imrestore", src.network, "restoration", "denoising" if src.scale == 1 else "super-resolution"],
            version=Version("1.0.0"),
            config={"imrestore": {**{k: src.meta[k] for k in RECORD_KEYS if k in src.meta}, "exported_by": f"imrestore {__version__}",
                                  "axes": src.axes, "input": "unit domain", "halo": halo(src)}},
        )
        packed = work / path.name
        save_bioimageio_package(descr, output_path=packed)
        if test:
            validation["bioimageio_test"] = test_package(packed)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.imrestore-tmp")
        shutil.copyfile(packed, tmp)
        os.replace(tmp, path)
    return validation


def test_package(path: Path | str) -> dict[str, Any]:
    """``bioimageio.core``'s test of a package (its test tensors reproduced by every weight format); raise unless passed."""
    from bioimageio.core import test_model

    summary = test_model(Path(path))
    status = str(summary.status)
    failed = [d.name for d in summary.details if str(d.status) == "failed"]
    if status != "passed":
        errors = [f"{d.name}: {'; '.join(str(e.msg) for e in d.errors)[:300]}" for d in summary.details if str(d.status) == "failed"]
        raise ExportError(f"the package did not pass bioimageio.core's test (status {status}): {' | '.join(errors) or failed}")
    return {"status": status, "checks": len(summary.details)}

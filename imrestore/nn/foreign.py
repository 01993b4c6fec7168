"""Models made elsewhere, run as imrestore networks: ONNX graphs and BioImage Model Zoo (BMZ) packages.

A :class:`ForeignModel` takes one array in the model's own input axes (``bcyx``, ``bczyx``...) and returns one in
its output axes.  Inside: the package's preprocessing (bioimageio.core's operators, on the whole image, so that
per-image statistics are the image's), the network tiled with the package's halo where the image is larger than
a tile or not of a size the network takes, then the package's postprocessing.

No code from a package runs unless ``trust=True``: ONNX runs on onnxruntime; ``pytorch_state_dict`` weights of a
known architecture (:mod:`imrestore.nn.architectures`) are built by imrestore and loaded as tensors
(``torch.load(weights_only=True)``); other architectures need ``trust``.
"""
from __future__ import annotations

import io
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..errors import ImrestoreUsageError
from .architectures import build_known, is_known, size_multiple
from .inference import predict

log = logging.getLogger("imrestore")


class ForeignModelError(ImrestoreUsageError):
    """A model file or package that cannot be run as asked."""


@dataclass
class SizeRule:
    """The sizes a spatial axis takes: ``minimum + k * step`` (``fixed``: only ``minimum``)."""

    minimum: int = 1
    step: int = 1
    fixed: bool = False

    def fit(self, size: int) -> int:
        """The smallest size this rule takes that is at least ``size`` (a fixed one: its size, if ``size`` fits)."""
        if self.fixed:
            return self.minimum
        if size <= self.minimum:
            return self.minimum
        return self.minimum + math.ceil((size - self.minimum) / self.step) * self.step


class NumpyModule(torch.nn.Module):
    """A NumPy forward function seen as a torch module, so :func:`imrestore.nn.inference.predict` tiles it."""

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray]):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.fn(x.detach().cpu().numpy().astype(np.float32)), np.float32))


def _pad_to(x: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Pad the spatial axes of ``x`` (NC + spatial) at their ends to ``sizes``: reflect where it can, else replicate."""
    extra = [(0, max(s - n, 0)) for s, n in zip(sizes, x.shape[2:])]
    if not any(e for _, e in extra):
        return x
    mode = "reflect" if all(e < n for (_, e), n in zip(extra, x.shape[2:])) else "edge"
    return np.pad(x, [(0, 0), (0, 0), *extra], mode=mode)


@dataclass
class ForeignModel:
    """A network from elsewhere: what it takes, what it gives, and how to run it on a whole array."""

    name: str
    source: str
    #: Input and output axes in BMZ letters (``b``, ``c``, ``z``, ``y``, ``x``).
    axes: str
    out_axes: str
    in_channels: int
    out_channels: int
    rules: list[SizeRule]
    forward: Callable[[np.ndarray], np.ndarray]
    scale: int = 1
    halo: int = 0
    version: str = ""
    citation: str = ""
    weights_format: str = ""
    #: From the package's own writer: its input is imrestore's unit domain ([0, 1] = the dtype's range).
    unit_domain: bool = False
    preprocess: Callable[[np.ndarray], tuple[np.ndarray, Any]] | None = None
    postprocess: Callable[[np.ndarray, Any], np.ndarray] | None = None
    record: dict[str, Any] = field(default_factory=dict)
    #: A package's test input and output (``NC(Z)YX``), and its (relative, absolute) tolerance.
    test_tensors: tuple[np.ndarray, np.ndarray] | None = None
    tolerance: tuple[float, float] = (1e-3, 1e-4)

    @property
    def spatial(self) -> str:
        return "".join(a for a in self.axes if a in "zyx")

    def network(self, x: np.ndarray, tile: int, overlap: int) -> np.ndarray:
        """The network alone on ``x`` (``NC`` + spatial, float32), padded to sizes it takes and tiled above ``tile``."""
        sizes = list(x.shape[2:])
        n, c = x.shape[:2]
        if len(self.spatial) == 3:  # 3-D: no Z tiling; the whole depth at once
            padded = _pad_to(x, [r.fit(s) for r, s in zip(self.rules, sizes)])
            out = self.forward(padded)
            return out[(..., *(slice(0, s * self.scale) for s in sizes))]
        rules = self.rules
        fixed = any(r.fixed for r in rules)
        if fixed:  # tiles of exactly the fixed size
            tile_hw = [r.minimum for r in rules]
        else:
            tile_hw = [max(r.fit(min(tile, s)), r.minimum) for r, s in zip(rules, sizes)]
        padded = _pad_to(x, [max(r.fit(s) if not r.fixed else r.minimum, s) for r, s in zip(rules, sizes)])
        if fixed and any(p % t for p, t in zip(padded.shape[2:], tile_hw)) and any(s > t for s, t in zip(sizes, tile_hw)):
            overlap = min(overlap, min(tile_hw) // 4)
        images = [np.moveaxis(padded[i], 0, -1) for i in range(n)]  # YXC, as predict takes them
        step = rules[0].step if not fixed else tile_hw[0]
        outs = predict(NumpyModule(self.forward), images, tile=max(tile_hw), overlap=overlap, scale=self.scale,
                       multiple=step, minimum=min(tile_hw), batch_size=1)
        out = np.stack([o[..., None] if o.ndim == 2 else o for o in outs])
        out = np.moveaxis(out, -1, 1)
        return np.ascontiguousarray(out[:, :, :sizes[0] * self.scale, :sizes[1] * self.scale])

    def __call__(self, x: np.ndarray, tile: int = 1024, overlap: int = 32) -> np.ndarray:
        """Pre-processing, the tiled network, post-processing: the model on ``x`` (``NC`` + spatial float32)."""
        state = None
        if self.preprocess is not None:
            x, state = self.preprocess(x)
        y = self.network(np.asarray(x, np.float32), tile, max(overlap, self.halo))
        if self.postprocess is not None:
            y = self.postprocess(y, state)
        return np.asarray(y, np.float32)


# --------------------------------------------------------------------------- ONNX
def _file_bytes(source) -> bytes:
    """The bytes of a file a package names (inside its zip, or beside its rdf.yaml)."""
    from bioimageio.spec.utils import download

    return download(source).read()


def onnx_session(path: Path | bytes):
    try:
        import onnxruntime as ort
    except ImportError:
        raise ForeignModelError("ONNX models run on onnxruntime: pip install 'imrestore[onnx]'") from None
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(path if isinstance(path, bytes) else str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        what = "the package's ONNX weights are" if isinstance(path, bytes) else f"{path} is"
        raise ForeignModelError(f"{what} not an ONNX model onnxruntime can load ({str(exc).splitlines()[0][:200]})") from None


def onnx_forward(session) -> Callable[[np.ndarray], np.ndarray]:
    name = session.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        try:
            return session.run(None, {name: np.ascontiguousarray(x, np.float32)})[0]
        except Exception as exc:
            raise ForeignModelError(f"the ONNX model failed on an input of shape {x.shape}: {str(exc).splitlines()[0][:200]}; "
                                    "if it needs sizes of a multiple, say multiple=N") from None
    return run


def load_onnx(path: Path | str, multiple: int = 0) -> ForeignModel:
    """An ONNX graph with one ``NC(Z)YX`` float input: its fixed sizes from the graph, imrestore's record if it has one."""
    path = Path(path)
    if not path.is_file():
        raise ForeignModelError(f"ONNX model {path} does not exist")
    session = onnx_session(path)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) < 1:
        raise ForeignModelError(f"{path}: imrestore runs models of one input; this one has {len(inputs)}")
    shape = inputs[0].shape
    if len(shape) not in (4, 5) or "float" not in inputs[0].type:
        raise ForeignModelError(f"{path}: the input {inputs[0].name} is {inputs[0].type} of rank {len(shape)}; imrestore runs "
                                "float NCYX or NCZYX models")
    meta = session.get_modelmeta().custom_metadata_map or {}
    record = json.loads(meta["imrestore"]) if "imrestore" in meta else {}
    channels = shape[1] if isinstance(shape[1], int) else 1
    out_shape = outputs[0].shape
    out_channels = out_shape[1] if len(out_shape) > 1 and isinstance(out_shape[1], int) else channels
    rules = [SizeRule(d, d, True) if isinstance(d, int) and d > 0 else SizeRule(max(multiple, 1), max(multiple, 1))
             for d in shape[2:]]
    scale = int(record.get("scale", 1))
    if not record and all(isinstance(d, int) for d in shape[2:]) and all(isinstance(d, int) for d in out_shape[2:]):
        scale = max(int(out_shape[-1]) // int(shape[-1]), 1)
    axes = "bczyx" if len(shape) == 5 else "bcyx"
    return ForeignModel(name=path.stem, source=str(path), axes=axes, out_axes=axes, in_channels=channels, out_channels=out_channels,
                        rules=rules, forward=onnx_forward(session), scale=scale, halo=int(record.get("halo", 0)),
                        weights_format="onnx", unit_domain=bool(record), record={"imrestore": record} if record else {},
                        citation=meta.get("citation", ""))


# --------------------------------------------------------------------------- BioImage Model Zoo
def _load_description(source: Path | str):
    try:
        from bioimageio.spec import InvalidDescr, load_model_description
    except ImportError:
        raise ForeignModelError("BioImage Model Zoo packages need bioimageio.core: pip install 'imrestore[bmz]'") from None
    path = Path(source)
    if not path.exists():  # bioimageio.spec would take it as a zoo id and go to the network
        raise ForeignModelError(f"package {path} does not exist (give a .zip, a folder or its rdf.yaml; imrestore does not download)")
    if path.is_dir():
        found = [p for p in (path / "rdf.yaml", path / "bioimageio.yaml") if p.exists()]
        if not found:
            raise ForeignModelError(f"{path} holds no rdf.yaml or bioimageio.yaml")
        path = found[0]
    try:
        descr = load_model_description(path, perform_io_checks=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()
        raise ForeignModelError(f"{path} is not a valid BioImage Model Zoo model: {' '.join(first[:3])[:300]}") from None
    if isinstance(descr, InvalidDescr) or getattr(descr, "type", "model") != "model":
        raise ForeignModelError(f"{path} is not a valid BioImage Model Zoo model")
    if str(getattr(descr, "format_version", "0.5")).startswith("0.4"):
        raise ForeignModelError(f"{path}: format {descr.format_version}; imrestore reads format 0.5 packages (update it with "
                                "`bioimageio update-format`)")
    return descr


def _axis_letter(axis) -> str:
    kind = str(axis.type)
    if kind in ("batch", "channel"):
        return kind[0]
    if kind == "space":
        return str(axis.id)[0].lower()
    raise ForeignModelError(f"the package has a {kind} axis {axis.id}; imrestore maps batch, channel and space axes only")


def _size_rule(axis) -> SizeRule:
    from bioimageio.spec.model.v0_5 import ParameterizedSize

    size = axis.size
    if isinstance(size, int):
        return SizeRule(size, size, True)
    if isinstance(size, ParameterizedSize):
        return SizeRule(int(size.min), int(size.step))
    raise ForeignModelError(f"axis {axis.id}: a size that refers to another tensor ({size}) is not supported for inputs")


def _torch_weights(descr, trust: bool) -> tuple[torch.nn.Module, str]:
    """The package's ``pytorch_state_dict`` network: a known architecture built here, or (``trust``) its own code."""
    from bioimageio.spec.model.v0_5 import ArchitectureFromFileDescr

    weights = descr.weights.pytorch_state_dict
    arch = weights.architecture
    where = Path(str(arch.source)).name if isinstance(arch, ArchitectureFromFileDescr) else str(arch.import_from)
    name = str(arch.callable)
    if is_known(where, name):
        try:
            net = build_known(where, name, dict(arch.kwargs))
            state = torch.load(io.BytesIO(_file_bytes(weights.source)), map_location="cpu", weights_only=True)
            net.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state, strict=True)
        except (RuntimeError, ValueError, TypeError, KeyError) as exc:
            raise ForeignModelError(f"the weights do not fit the {where}.{name} architecture imrestore implements: "
                                    f"{str(exc).splitlines()[0][:200]}") from None
        return net.eval(), f"{where}.{name}, built by imrestore from the state dict"
    if not trust:
        raise _NeedsTrust(f"the package's network is code to run ({where}: {name}), which imrestore does not know; "
                                "pass trust=true to run the package's code (only for packages you trust), or use its onnx or "
                                "torchscript weights if it has them")
    from bioimageio.core.backends.pytorch_backend import load_torch_model

    log.warning(f"trust=true: running the package's own code ({where}: {name})")
    return load_torch_model(weights, load_state=True, devices=["cpu"]).eval(), f"{where}.{name}, the package's own code (trust=true)"


class _NeedsTrust(ForeignModelError):
    """The package's network is code imrestore does not know, and trust was not given."""


def _load_weights(descr, fmt: str, trust: bool) -> tuple[Callable[[np.ndarray], np.ndarray], str, int]:
    """The forward function of the package's ``fmt`` weights, how it runs, and the size multiple of a known
    architecture (0: keep the package's declared sizes)."""
    if fmt == "onnx":
        return onnx_forward(onnx_session(_file_bytes(descr.weights.onnx.source))), "ONNX on onnxruntime", 0
    if fmt == "torchscript":
        net = torch.jit.load(io.BytesIO(_file_bytes(descr.weights.torchscript.source)), map_location="cpu").eval()
        how, known = "TorchScript", False
    else:
        net, how = _torch_weights(descr, trust)
        known = "built by imrestore" in how

    def forward(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return net(torch.from_numpy(np.ascontiguousarray(x, np.float32))).float().numpy()

    return forward, how, size_multiple(net) if known else 0


def _pipeline(descr):
    """bioimageio.core's pre- and post-processing of ``descr``, with no network loaded (imrestore runs it)."""
    from bioimageio.core import create_prediction_pipeline
    from bioimageio.core._model_adapter import ModelAdapter

    class _ProcessingOnly(ModelAdapter):
        def load(self) -> None:
            self._loaded = True

        def forward(self, inputs):  # pragma: no cover - imrestore runs the network itself
            raise RuntimeError("imrestore runs the network itself")

        def unload(self) -> None:
            self._loaded = False

    return create_prediction_pipeline(descr, model_adapter=_ProcessingOnly(descr, devices=None))


def _to_model(x: np.ndarray, axes: str) -> np.ndarray:
    """``NC(Z)YX`` -> the package's axis order ``axes`` (which may lack b or c)."""
    order = "bc" + "".join(a for a in axes if a in "zyx")
    if "b" not in axes:
        x, order = x[0], order[1:]
    if "c" not in axes:
        x = x[:, 0] if "b" in axes else x[0]
        order = order.replace("c", "")
    return np.transpose(x, [order.index(a) for a in axes])


def _from_model(y: np.ndarray, letters: str) -> np.ndarray:
    """The package's axis order ``letters`` -> ``NC(Z)YX``."""
    if "b" not in letters:
        y, letters = y[None], "b" + letters
    if "c" not in letters:
        y, letters = y[:, None], "bc" + letters[1:]
    target = "bc" + "".join(a for a in letters if a in "zyx")
    return np.transpose(y, [letters.index(a) for a in target])


def _choose_weights(descr, source, weights: str, trust: bool) -> tuple[Callable[[np.ndarray], np.ndarray], str, int, str]:
    """The forward function, how it runs, a known architecture's size multiple (0: none) and the format chosen."""
    available = [k for k in ("onnx", "pytorch_state_dict", "torchscript") if getattr(descr.weights, k, None) is not None]
    if weights == "auto":
        order = list(available)
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            order = [k for k in order if k != "onnx"]
        if not order:
            raise ForeignModelError(f"{source} has weights {available or 'of other formats only'}; imrestore runs onnx "
                                    "(with onnxruntime), pytorch_state_dict and torchscript")
    elif weights not in available:
        raise ForeignModelError(f"{source} has no {weights} weights; it has {available}")
    else:
        order = [weights]
    refusal: ForeignModelError | None = None
    for chosen in order:
        try:
            return (*_load_weights(descr, chosen, trust), chosen)
        except _NeedsTrust as exc:  # an unknown architecture: another format may still run without its code
            refusal = exc
    assert refusal is not None
    raise refusal


def _processing(descr, axes: str, out_axes: str):
    """The package's pre- and post-processing as functions of ``NC(Z)YX`` arrays (bioimageio.core's operators)."""
    from bioimageio.core import Sample, Tensor

    pipeline = _pipeline(descr)
    tin, tout = descr.inputs[0], descr.outputs[0]
    in_ids, out_ids = [a.id for a in tin.axes], [a.id for a in tout.axes]

    def preprocess(x: np.ndarray):
        sample = Sample(members={tin.id: Tensor.from_numpy(_to_model(x, axes), dims=in_ids)}, stat={}, id="imrestore")
        pipeline.apply_preprocessing(sample)
        return _from_model(np.asarray(sample.members[tin.id].transpose(in_ids).data.values, np.float32), axes), sample.stat

    def postprocess(y: np.ndarray, stat) -> np.ndarray:
        sample = Sample(members={tout.id: Tensor.from_numpy(_to_model(y, out_axes), dims=out_ids)}, stat=stat, id="imrestore")
        pipeline.apply_postprocessing(sample)
        return _from_model(np.asarray(sample.members[tout.id].transpose(out_ids).data.values, np.float32), out_axes)

    return preprocess, postprocess


def _imrestore_record(descr) -> dict | None:
    """The record ``imrestore export`` writes into a package's config, if it has one."""
    config = getattr(descr, "config", None)
    extra = dict(getattr(config, "model_extra", None) or {}) if config is not None else {}
    record = extra.get("imrestore")
    return record if isinstance(record, dict) else None


def load_bmz(source: Path | str, weights: str = "auto", trust: bool = False) -> ForeignModel:
    """A BMZ package (.zip, folder or rdf.yaml, format 0.5) as a :class:`ForeignModel`.

    ``weights``: auto (onnx when onnxruntime is installed, then pytorch_state_dict, then torchscript), or one of those.
    """
    descr = _load_description(source)
    if len(descr.inputs) != 1 or len(descr.outputs) < 1:
        raise ForeignModelError(f"{source}: imrestore runs models of one input tensor; this one has {len(descr.inputs)}")
    tin, tout = descr.inputs[0], descr.outputs[0]
    axes = "".join(_axis_letter(a) for a in tin.axes)
    out_axes = "".join(_axis_letter(a) for a in tout.axes)
    if set(axes) - set("bczyx") or "y" not in axes or "x" not in axes:
        raise ForeignModelError(f"{source}: input axes {axes}; imrestore maps b, c, z, y, x")
    spatial = [a for a in tin.axes if str(a.type) == "space"]
    out_spatial = [a for a in tout.axes if str(a.type) == "space"]
    channel = [a for a in tin.axes if str(a.type) == "channel"]
    out_channel = [a for a in tout.axes if str(a.type) == "channel"]
    halo = max((int(getattr(a, "halo", 0) or 0) for a in out_spatial), default=0)
    scale = max([1] + [int(round(float(i.scale) / float(o.scale))) for i, o in zip(spatial, out_spatial)
                       if getattr(i, "scale", None) and getattr(o, "scale", None)])
    forward, how, multiple_of, chosen = _choose_weights(descr, source, weights, trust)
    rules = [_size_rule(a) for a in spatial]
    record = _imrestore_record(descr)
    if multiple_of:  # a known architecture: its own constraint, not the sizes the package happened to declare
        rules = [SizeRule(multiple_of, multiple_of) for _ in rules]  # (CAREamics declares its patch size as fixed)
    elif record is not None and not any(r.fixed for r in rules):  # imrestore's own networks pad inside, in either format
        rules = [SizeRule(1, 1) for _ in rules]
    preprocess, postprocess = _processing(descr, axes, out_axes)
    cites = "; ".join(str(c.text) + (f" (doi:{c.doi})" if getattr(c, "doi", None) else "") for c in (descr.cite or []))
    return ForeignModel(name=str(descr.name), source=str(source), axes="bc" + "".join(a for a in axes if a in "zyx"),
                        out_axes=out_axes, in_channels=len(channel[0].channel_names) if channel else 1,
                        out_channels=len(out_channel[0].channel_names) if out_channel else 1, rules=rules, forward=forward,
                        scale=scale, halo=halo // max(scale, 1), version=str(descr.version or ""), citation=cites,
                        weights_format=chosen, unit_domain=record is not None, preprocess=preprocess,
                        postprocess=postprocess,
                        record={"name": str(descr.name), "version": str(descr.version or ""), "weights": chosen, "network": how,
                                "citation": cites, "license": str(descr.license or "")},
                        test_tensors=_test_tensors(descr, axes, out_axes), tolerance=_tolerance(descr, chosen))


def _test_tensors(descr, axes: str, out_axes: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The package's test input and expected output, as NC(Z)YX float32."""
    from bioimageio.spec.utils import load_array

    try:
        x = np.asarray(load_array(descr.inputs[0].test_tensor), np.float32)
        y = np.asarray(load_array(descr.outputs[0].test_tensor), np.float32)
    except Exception:  # noqa: BLE001 - a package without readable test tensors is reported, not fatal
        return None
    return _from_model(x, axes), _from_model(y, out_axes)


def _tolerance(descr, fmt: str) -> tuple[float, float]:
    """(relative, absolute) tolerance of the package's own test: what it declares, else bioimageio.core's 1e-3, 1e-4."""
    rel, abs_ = 1e-3, 1e-4
    cfg = getattr(descr, "config", None)
    extra = dict(getattr(cfg, "model_extra", None) or {}) if cfg is not None else {}
    bio = getattr(cfg, "bioimageio", None)
    kwargs = (getattr(bio, "model_extra", None) or {}).get("test_kwargs", {}) if bio is not None else {}
    kwargs = kwargs or (extra.get("bioimageio", {}) or {}).get("test_kwargs", {})
    for entry in getattr(bio, "reproducibility_tolerance", ()) or ():
        rel, abs_ = float(entry.relative_tolerance), float(entry.absolute_tolerance)
    mine = kwargs.get(fmt, {}) if isinstance(kwargs, dict) else {}
    return float(mine.get("relative_tolerance", rel)), float(mine.get("absolute_tolerance", abs_))


def check_test_tensors(model: ForeignModel, tile: int = 1024, overlap: int = 32) -> float | None:
    """Run the package's test input through ``model`` as imrestore runs it; raise unless its test output comes out.

    Returns the largest absolute difference (None when the package has no readable test tensors).
    """
    tensors = model.test_tensors
    if tensors is None:
        return None
    x, expected = tensors
    out = model(x, tile=max(tile, *x.shape[2:]), overlap=overlap)
    rel, abs_ = model.tolerance
    if out.shape != expected.shape:
        raise ForeignModelError(f"{model.name} fails its own test tensors: output shape {out.shape}, expected {expected.shape}")
    err = float(np.abs(out - expected).max())
    if not np.allclose(out, expected, rtol=rel, atol=abs_):
        raise ForeignModelError(f"{model.name} fails its own test tensors: max abs difference {err:.3g} "
                                f"(tolerance {abs_:g} + {rel:g} x |expected|)")
    return err

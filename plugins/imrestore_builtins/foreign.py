"""Models made elsewhere as restorers: ``restorer:bmz:package=model.zip`` and ``restorer:onnx:model=model.onnx``.

They run inside any chain, on images and on volumes (plane by plane, or a 3-D model on slabs), tiled with the
model's halo or ``overlap`` where the image is larger than ``tile`` or not of a size the model takes.  A BioImage
Model Zoo package's pre- and post-processing are applied (bioimageio.core's operators), its test tensors are
checked before the first image, and it appears in the report with its name, version, weights and citation.

A package's Python never runs unless ``trust=true`` (see :mod:`imrestore.nn.foreign`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np

from imrestore import hookimpl
from imrestore.errors import ParameterError
from imrestore.interfaces import Restorer
from imrestore.params import param

log = logging.getLogger("imrestore")


@dataclass
class ForeignRestorer(Restorer):
    """Base of the restorers that run a model from elsewhere (not registered itself)."""

    #: The field that names the model file, and its key in a spec.
    source_field: ClassVar[str] = ""
    source_key: ClassVar[str] = ""

    tile: int = param(1024, min=16, max=65536, help="tile side in input pixels: larger images are cut into overlapping tiles")
    overlap: int = param(32, min=0, max=4096, help="overlap between tiles in input pixels (at least the model's own halo)")
    units: str = param("auto", choices=("auto", "unit", "raw"),
                       help="what the model takes: unit ([0, 1], 0 and 1 the ends of the file's dtype range or --range), or raw "
                            "(the file's stored values, as a package's own normalisation expects them); auto: unit for "
                            "models exported by imrestore and plain ONNX graphs, raw for other packages")

    def __post_init__(self) -> None:
        super().__post_init__()
        self._model = None
        self._said_units = False

    def __getstate__(self):  # workers load the model themselves
        state = self.__dict__.copy()
        state["_model"] = None
        return state

    def _load(self):
        """The model this restorer names (a :class:`~imrestore.nn.foreign.ForeignModel`); each subclass loads its kind."""
        raise TypeError(f"{type(self).__name__} must override _load (how its model file is read)")

    @property
    def model(self):
        """The loaded model (loaded, and checked, once)."""
        if self._model is None:
            if not getattr(self, self.source_field):
                raise ParameterError(f"{self.name} needs {self.source_key}=FILE (e.g. restorer:{self.name}:{self.source_key}=model"
                                     f"{'.zip' if self.name == 'bmz' else '.onnx'})")
            model = self._load()
            self._model = model
            self.scale = model.scale
            self.spatial_ndim = 3 if "z" in model.axes else 2
            if self.spatial_ndim == 3:  # slabs as imrestore's own 3-D networks get them
                self.slab_depth, self.slab_halo = 16, 8
        return self._model

    def prepare(self, corruptions: list) -> None:
        model = self.model
        cite = f"; cite: {model.citation}" if model.citation else ""
        log.info(f"{self.name}: {model.name}{' ' + model.version if model.version else ''} ({model.record.get('network', model.weights_format)})"
                 f", axes {model.axes}, {model.in_channels} -> {model.out_channels} channel(s){', x' + str(model.scale) if model.scale != 1 else ''}{cite}")

    def _channels_plan(self, channels: int) -> str:
        """How an image of ``channels`` channels goes through the model: as is, channel by channel, or grey via RGB."""
        want = self.model.in_channels
        if channels == want:
            return "as-is"
        if want == 1:
            return "per-channel"
        if want == 3 and channels == 1:
            return "grey-via-rgb"
        raise ParameterError(f"{self.name}: the model takes {want} channel(s), the image has {channels}")

    def check_shape(self, shape: tuple[int, ...]) -> None:
        if self.spatial_ndim == 3:
            if len(shape) == 3 and shape[-1] in (3, 4):
                raise ParameterError(f"{self.name}: the model is 3-D and grey; colour volumes are not supported")
            return
        self._channels_plan(1 if len(shape) == 2 else shape[-1])

    def _units(self, degradation: dict) -> tuple[float, float] | None:
        """The stored values of 0 and 1 when the model takes raw values, else None."""
        model = self.model
        raw = self.units == "raw" or (self.units == "auto" and not model.unit_domain and self.name == "bmz")
        if not raw:
            return None
        span = degradation.get("value_range")
        if span is None:
            if not self._said_units:
                self._said_units = True
                log.warning(f"{self.name}: the model takes the file's own values, but the record does not say which they are; "
                            "it is given [0, 1] values")
            return None
        return float(span[0]), float(span[1])

    def restore_one(self, image: np.ndarray, degradation: dict) -> np.ndarray:
        model = self.model
        span = self._units(degradation)
        x = np.asarray(image, np.float32)
        if span is not None:
            x = (span[0] + x.astype(np.float64) * (span[1] - span[0])).astype(np.float32)
        if self.spatial_ndim == 3:
            volume = x[None] if x.ndim == 2 else x
            out = model(volume[None, None], tile=self.tile, overlap=self.overlap)[0, 0]
            y = out[0] if x.ndim == 2 else out
        else:
            channels = 1 if x.ndim == 2 else x.shape[2]
            plan = self._channels_plan(channels)
            nc = x[None, None] if x.ndim == 2 else np.moveaxis(x, -1, 0)[None]
            if plan == "per-channel":
                nc = np.moveaxis(nc, 1, 0)  # channels as a batch of grey images
            elif plan == "grey-via-rgb":
                nc = np.repeat(nc, 3, axis=1)
            out = model(np.ascontiguousarray(nc), tile=self.tile, overlap=self.overlap)
            if plan == "per-channel":
                out = np.moveaxis(out, 0, 1)
            elif plan == "grey-via-rgb":
                out = out.mean(axis=1, keepdims=True)
            y = out[0, 0] if out.shape[1] == 1 and x.ndim == 2 else np.moveaxis(out[0], 0, -1)
        if span is not None:
            y = ((y.astype(np.float64) - span[0]) / (span[1] - span[0])).astype(np.float32)
        degradation.setdefault("estimated", {})["model"] = {**model.record, "units": "raw" if span else "unit"}
        return np.asarray(y, np.float32)


@dataclass
class BmzRestorer(ForeignRestorer):
    """A BioImage Model Zoo package (format 0.5: .zip, folder or rdf.yaml), with its own pre- and post-processing.

    Weights: ONNX (onnxruntime), a PyTorch state dict of an architecture imrestore implements (CAREamics' U-Net,
    imrestore's own networks), TorchScript; any other architecture is the package's code and needs trust=true.
    Its test tensors must come out before the first image is restored.
    """

    name = "bmz"
    source_field = source_key = "package"

    package: Optional[str] = param(None, help="the package: a .zip, an unpacked folder or its rdf.yaml (never downloaded)")
    weights: str = param("auto", choices=("auto", "onnx", "pytorch_state_dict", "torchscript"),
                         help="which of the package's weights to run; auto: onnx (with onnxruntime), then pytorch_state_dict, then torchscript")
    trust: bool = param(False, help="run the package's own Python where imrestore does not know its architecture (only for "
                        "packages you trust: it is code from the package)")
    check: bool = param(True, help="before the first image, run the package's test input and compare with its test output")

    def _load(self):
        # lazy: torch takes seconds to import
        from imrestore.nn.foreign import check_test_tensors, load_bmz

        model = load_bmz(self.package, weights=self.weights, trust=self.trust)
        if self.check:
            err = check_test_tensors(model, tile=self.tile, overlap=self.overlap)
            if err is not None:
                model.record["test_tensors_max_abs_error"] = err
                log.info(f"bmz: the package's test tensors come out (max abs difference {err:.2g})")
        return model


@dataclass
class OnnxRestorer(ForeignRestorer):
    """An ONNX graph with one float NCYX (or NCZYX) input, on onnxruntime: fixed sizes from the graph, the rest tiled.

    Graphs written by ``imrestore export`` carry their record (scale, halo, the unit domain) and need nothing more.
    """

    name = "onnx"
    source_field, source_key = "model_file", "model"

    model_file: Optional[str] = param(None, key="model", help="the .onnx file")
    multiple: int = param(0, min=0, max=4096, help="the model takes sizes that are multiples of this (0: any, or what the graph fixes)")

    def _load(self):
        # lazy: torch takes seconds to import
        from imrestore.nn.foreign import load_onnx

        return load_onnx(self.model_file, multiple=self.multiple)


BUILTIN_FOREIGN = (BmzRestorer, OnnxRestorer)


@hookimpl
def register_restorers(register):
    for cls in BUILTIN_FOREIGN:
        register(cls)

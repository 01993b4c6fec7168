"""The plugin interfaces: corruptions, restorers, metrics, readers, writers.

Inside the pipeline an image is a float32 NumPy array in [0, 1] with the axes
``YX`` (grey) or ``YXC`` (channels last).  Readers record what is needed to
write the result back as the input was (dtype, value range, metadata).

Every plugin is a dataclass whose fields are declared with
:func:`imrestore.params.param`; the base class validates them on creation.

Example
-------
>>> from dataclasses import dataclass
>>> import numpy as np
>>> from imrestore.params import param
>>> @dataclass
... class Darken(Corruption):
...     name = "darken"
...     amount: float = param(0.5, min=0, max=1, help="fraction removed")
...     def forward(self, image, rng):
...         return image * (1 - self.amount), {}
>>> Darken(amount=0.25)(np.ones((2, 2), np.float32), np.random.default_rng(0))
array([[0.75, 0.75],
       [0.75, 0.75]], dtype=float32)
"""
from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .errors import ParameterError
from .params import format_spec, params_of, validate_params


class Plugin(abc.ABC):
    """Common base: a name, aliases, typed parameters and a canonical spec."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        validate_params(self)

    def params(self) -> dict[str, Any]:
        """The parameter values of this instance, by name."""
        return {p.name: getattr(self, p.field) for p in params_of(self)}

    @property
    def spec(self) -> str:
        """The canonical spec string that rebuilds this plugin."""
        return format_spec(self.kind, self.name, self.params())

    def __str__(self) -> str:
        return self.spec


@dataclass
class Image:
    """A float32 image in [0, 1] plus what is needed to write it back.

    Attributes
    ----------
    data : ndarray
        float32, axes given by ``axes`` (``YX`` or ``YXC``), values in [0, 1].
    axes : str
        Axis names, channels last.
    dtype : numpy.dtype
        The dtype of the file it came from (``uint8``, ``uint16``, ``float32``).
    value_range : (float, float)
        The values that map to 0 and 1 (``(0, 255)`` for ``uint8``).
    metadata : dict
        Format-specific data the writer puts back (resolution, alpha, ...).
    """

    data: np.ndarray
    axes: str = "YX"
    dtype: np.dtype = field(default_factory=lambda: np.dtype(np.float32))
    value_range: tuple[float, float] = (0.0, 1.0)
    metadata: dict[str, Any] = field(default_factory=dict)

    def with_data(self, data: np.ndarray) -> "Image":
        """A copy with other pixel data (same dtype and metadata)."""
        axes = self.axes if data.ndim == len(self.axes) else ("YX" if data.ndim == 2 else "YXC")
        return dataclasses.replace(self, data=data, axes=axes)


class Corruption(Plugin):
    """A degradation: ``__call__(image, rng) -> image``, deterministic per rng.

    Subclasses implement :meth:`forward`, which also returns what a restorer
    may need to know about the degradation (the PSF, the mask, the factor).
    """

    kind: ClassVar[str] = "corruption"
    #: Keys that :meth:`forward` puts into the degradation record.
    provides: ClassVar[tuple[str, ...]] = ()
    #: Statistics of the clean value the corruption keeps ("mean", "median",
    #: "mode"): Noise2Noise training needs the one its loss estimates.
    preserves: ClassVar[frozenset[str]] = frozenset()

    def preserved(self) -> frozenset[str]:
        """What this corruption, with these parameters, keeps of the clean value."""
        return self.preserves

    #: Raw measurements this corruption can work on instead of the image
    #: (``"kspace"``: a scanner's k-space); see :meth:`forward_measured`.
    consumes: ClassVar[tuple[str, ...]] = ()

    def forward_measured(self, image: np.ndarray, measured: dict, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """Corrupt the measurements a file holds (``measured``) rather than ``image``, the reference made from them."""
        return self.forward(image, rng)

    @abc.abstractmethod
    def forward(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """Return the corrupted image and a dict describing the degradation."""

    #: Noise: it perturbs the image but maps nothing (the identity, for a restorer that inverts operators).
    is_noise: ClassVar[bool] = False

    def operator(self, info: dict, in_shape: tuple[int, ...]) -> Any:
        """The linear map this corruption applied to an image of ``in_shape``, rebuilt from what :meth:`forward`
        recorded (``info``): an :class:`imrestore.operators.LinearOperator`, whose ``forward`` reproduces the
        corruption and which passes :func:`imrestore.operators.check_adjoint`; None where it is not linear (noise,
        or a corruption that declares none).  Masks zero the replaced pixels: what they held is not a measurement."""
        return None

    def __call__(self, image: np.ndarray, rng: np.random.Generator | int | None = None) -> np.ndarray:
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        return self.forward(np.asarray(image, dtype=np.float32), rng)[0]


#: The degradation record's key under which a restorer hands arrays beside its output, e.g. ``{"std": array}``.
EXTRA_OUTPUTS = "outputs"


class Restorer(Plugin):
    """A restoration method: ``restore(batch) -> batch``.

    The metadata contract tells the pipeline what the restorer accepts.  A restorer may give arrays beside its output
    (a sampler's per-pixel standard deviation) in ``degradation[EXTRA_OUTPUTS]``, by name, each of the output's shape
    and units: a run writes them next to the output as ``NAME.<name>.EXT`` and the report shows them.
    """

    kind: ClassVar[str] = "restorer"
    #: Allowed channel counts (1 = grey, 3 = RGB); ``None`` accepts any.
    channels: ClassVar[tuple[int, ...] | None] = None
    #: Output size / input size (2 for a x2 super-resolution network).
    scale: ClassVar[int] = 1
    #: Degradation keys this restorer needs, unless a parameter supplies them.
    needs: ClassVar[tuple[str, ...]] = ()
    #: Raw measurements a volume may hold (a scan's k-space) that the restorer reconstructs from when no corruption
    #: in the chain takes them: real data, as acquired.  They satisfy the needs of the same names.
    consumes: ClassVar[tuple[str, ...]] = ()
    #: For each need, the parameters that can supply it (what a run on real data must give), e.g. ``{"psf": ("psf=FILE", "sigma=PIXELS")}``.
    need_params: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: 3 for restorers that work on ZYX blocks: volume runs give them slabs of
    #: ``slab_depth`` planes with ``slab_halo`` extra planes on each side.
    spatial_ndim: ClassVar[int] = 2
    slab_depth: ClassVar[int] = 16
    slab_halo: ClassVar[int] = 4

    def prepare(self, corruptions: list["Corruption"]) -> None:
        """Called once the chain is known (e.g. to pick weights trained for it)."""

    @property
    def extra_outputs(self) -> tuple[str, ...]:
        """The names of the arrays this restorer, as configured, hands beside its output (see :data:`EXTRA_OUTPUTS`)."""
        return ()

    def check_shape(self, shape: tuple[int, ...]) -> None:
        """Refuse, before a run writes anything, an input of this shape (``YX``/``YXC``, a volume's plane) that the
        restorer's parameters cannot serve (a mask of another size); raise :class:`~imrestore.errors.ParameterError`."""

    def check_measured(self, measured: dict) -> None:
        """Refuse, before a run writes anything, the raw measurements of a volume's first plane (``consumes``: a
        scan's k-space and sampling mask) that the restorer cannot reconstruct from; raise ``ParameterError``."""

    def missing(self, provided: set[str]) -> list[str]:
        """Degradation keys needed but neither provided nor set by a parameter."""
        return [k for k in self.needs if k not in provided and not self.overrides(k)]

    def overrides(self, key: str) -> bool:
        """Whether a parameter of this restorer supplies degradation ``key``."""
        return False

    def restore_one(self, image: np.ndarray, degradation: dict) -> np.ndarray:
        """Restore one float32 image (``YX`` or ``YXC``); override this or :meth:`restore`."""
        raise TypeError(f"{type(self).__name__} must override restore_one (one image) or restore (a batch)")

    def restore(self, batch: list[np.ndarray], degradations: list[dict] | None = None) -> list[np.ndarray]:
        """Restore a batch of images; the default loops over :meth:`restore_one`."""
        degradations = degradations or [{} for _ in batch]
        return [self.restore_one(np.asarray(x, np.float32), d) for x, d in zip(batch, degradations)]

    def __call__(self, image: np.ndarray, degradation: dict | None = None) -> np.ndarray:
        return self.restore([image], [degradation or {}])[0]


class Metric(Plugin):
    """A metric: ``__call__(reference, estimate) -> float``.

    A full-reference metric (``needs_reference = True``) compares the estimate
    with the clean image.  A no-reference metric judges the estimate alone, or
    against the *measurement* it was restored from (then ``reference`` is the
    input as acquired): it is what a run without a clean image reports.
    """

    kind: ClassVar[str] = "metric"
    higher_is_better: ClassVar[bool] = True
    #: Whether the metric needs the clean image (False: it works on real acquisitions, where there is none).
    needs_reference: ClassVar[bool] = True
    #: Whether it judges the estimate alone, ignoring ``reference`` (a noise level): then it is measured on outputs
    #: of another size than the input too (a super-resolution of real data).
    estimate_only: ClassVar[bool] = False
    #: How the data range is chosen: ``"unit"`` (images in [0, 1]) or
    #: ``"reference-max"`` (fastMRI: the maximum of the reference).
    data_range_policy: ClassVar[str] = "unit"

    #: Whether ``compute`` takes float32 arrays as they come (it accumulates in float64 itself, in bounded memory);
    #: otherwise it gets float64 copies of both images, which cost four times a float32 plane.
    float32: ClassVar[bool] = False

    @property
    def spatial_ndim(self) -> int:
        """2: measured plane by plane (a volume's value is then the mean over planes, or fastMRI's sums); 3: measured on
        a volume's ``ZYX`` stack as a whole, in blocks of planes (:meth:`measure_blocks`), never plane by plane."""
        return 2

    def measure_blocks(self, shape: tuple[int, ...], read) -> float:
        """A 3-D metric's value on a stack of ``shape`` that ``read(lo, hi)`` hands over in blocks of float32
        (reference, estimate) pairs, from ``lo`` to ``hi`` along the leading axes (see :func:`imrestore.similarity.block_ssim`).

        A metric whose :attr:`spatial_ndim` is 3 overrides this; by default a metric is its mean over the stack's
        planes (what a 2-D metric's volume value is), taking each plane whole.
        """
        values = []
        for z in range(shape[0]):
            ref, est = read([z, 0], [z + 1, shape[1]])
            values.append(self(ref[0], est[0]))
        return float(np.mean(values))

    def from_sums(self, squared_error: float, squared_reference: float, count: float) -> float | None:
        """The value from the error sums a volume run takes of every plane anyway (PSNR, MSE, NMSE), else None."""
        return None

    @abc.abstractmethod
    def compute(self, reference: np.ndarray, estimate: np.ndarray) -> float:
        """The metric between two arrays of the same shape: float64, or float32 where ``float32`` is set."""

    def _as_input(self, array) -> np.ndarray:
        """What ``compute`` takes: float64 (a copy unless it is already), or, where ``float32`` is set, float data as they are."""
        array = np.asarray(array)
        if self.float32 and array.dtype in (np.float32, np.float64):
            return array
        return array.astype(np.float32 if self.float32 else np.float64, copy=False)

    def __call__(self, reference: np.ndarray, estimate: np.ndarray) -> float:
        reference, estimate = self._as_input(reference), self._as_input(estimate)
        if reference.shape != estimate.shape:
            raise ValueError(
                f"{self.name}: shapes differ, reference {reference.shape} vs estimate {estimate.shape}"
            )
        return float(self.compute(reference, estimate))


class Reader(Plugin):
    """Reads files of some suffixes into :class:`Image` objects."""

    kind: ClassVar[str] = "reader"
    suffixes: ClassVar[tuple[str, ...]] = ()

    @abc.abstractmethod
    def read(self, path: Path) -> Image:
        """Read one file into an :class:`Image`."""


class Writer(Plugin):
    """Writes :class:`Image` objects to files of some suffixes."""

    kind: ClassVar[str] = "writer"
    suffixes: ClassVar[tuple[str, ...]] = ()
    #: Lossy formats (JPEG) are measured on the file as written.
    lossy: ClassVar[bool] = False

    @abc.abstractmethod
    def write(self, image: Image, path: Path) -> None:
        """Write an :class:`Image` to ``path`` (the pipeline makes it atomic)."""


@dataclass
class VolumeInfo:
    """What a volume is, plane by plane: shape, dtype, axis names and metadata.

    A *plane* is what a 2-D restorer sees: the trailing ``YX`` (or ``YXS`` for
    RGB samples) axes.  Every other axis (``Z``, ``T``, ``C``...) is iterated.

    >>> info = VolumeInfo((4, 3, 8, 8), np.dtype("uint16"), "ZCYX")
    >>> info.n_planes, info.plane_shape, info.plane_index(5)
    (12, (8, 8), (1, 2))
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    axes: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.shape = tuple(int(n) for n in self.shape)
        self.dtype = np.dtype(self.dtype).newbyteorder("=")  # planes are handed out in native byte order
        if len(self.axes) != len(self.shape):
            raise ValueError(f"axes {self.axes!r} do not match the shape {self.shape}")

    @property
    def plane_ndim(self) -> int:
        return 3 if self.axes.endswith("S") else 2

    @property
    def plane_shape(self) -> tuple[int, ...]:
        return self.shape[len(self.shape) - self.plane_ndim :]

    @property
    def n_planes(self) -> int:
        return int(np.prod(self.shape[: len(self.shape) - self.plane_ndim], dtype=np.int64))

    def plane_index(self, i: int) -> tuple[int, ...]:
        """The index of plane ``i`` along the leading axes (C order)."""
        lead = self.shape[: len(self.shape) - self.plane_ndim]
        return tuple(int(v) for v in np.unravel_index(i, lead)) if lead else ()


class _Closing:
    """A file-backed object used as a context manager: ``close`` on the way out."""

    def close(self) -> None:
        """Release the file."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class VolumeSource(_Closing, abc.ABC):
    """An open volume, read one plane at a time (a context manager)."""

    info: VolumeInfo

    @abc.abstractmethod
    def read_plane(self, i: int) -> np.ndarray:
        """Plane ``i`` (C order over the leading axes) in the file's dtype."""

    def read_measurements(self, i: int) -> dict:
        """Raw measurements behind plane ``i`` (e.g. ``{"kspace": ...}``), for corruptions that consume them."""
        return {}


class VolumeSink(_Closing, abc.ABC):
    """An output volume being filled plane by plane (a context manager)."""

    @abc.abstractmethod
    def write_plane(self, i: int, data: np.ndarray) -> None:
        """Store plane ``i`` (already in the output dtype)."""

    def flush(self) -> None:
        """Make what was written durable (called before a plane is recorded as done)."""


class VolumeFormat(Plugin):
    """Reads and writes volumes of some suffixes, plane by plane.

    ``open`` reads; ``create`` makes an empty output shaped like a source (same
    shape, dtype, axes and metadata) at a temporary path that the pipeline
    renames once every plane is in; ``reopen`` continues such a partial output.
    ``path`` may name an inner dataset (``file.h5:/group/data``).
    """

    kind: ClassVar[str] = "volume"
    suffixes: ClassVar[tuple[str, ...]] = ()
    #: Whether several processes may write different planes of one partial output at once
    #: (each plane in its own chunks or byte range).  Then parallel runs (-j N, Dask) have
    #: each worker write its planes itself instead of sending them to the main process.
    parallel_writes: ClassVar[bool] = False

    def accepts(self, path: Path) -> bool:
        """Whether this file is a volume (a single-page TIFF is an image, not a volume)."""
        return True

    @abc.abstractmethod
    def open(self, path: Path, inner: str | None = None) -> VolumeSource:
        """Open a volume for reading."""

    @abc.abstractmethod
    def create(self, path: Path, like: VolumeInfo, source: Path | None = None, inner: str | None = None) -> VolumeSink:
        """Create an empty output shaped like ``like``; ``source`` is the input file to mirror."""

    @abc.abstractmethod
    def reopen(self, path: Path, like: VolumeInfo, inner: str | None = None) -> VolumeSink:
        """Continue filling a partial output made by :meth:`create`."""


class NoiseModel(Plugin):
    """A model of the noise in an image: its variance as a function of the clean signal, and a stabilising transform."""

    kind: ClassVar[str] = "noise-model"

    @abc.abstractmethod
    def variance(self, signal: np.ndarray | float) -> np.ndarray | float:
        """The noise variance at clean signal level ``signal`` ([0, 1] units)."""

    def std_at(self, signal: float) -> float:
        return float(np.sqrt(max(float(self.variance(signal)), 0.0)))

    @abc.abstractmethod
    def stabilise(self, image: np.ndarray) -> np.ndarray:
        """A transform of ``image`` whose noise is white with unit variance."""

    @abc.abstractmethod
    def unstabilise(self, stabilised: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`stabilise` for a denoised image (unbiased: maps expectations to expectations)."""

    def describe(self) -> str:
        """One line for reports and logs."""
        return self.spec

    @classmethod
    def estimate(cls, image: np.ndarray) -> "NoiseModel":
        """Fit this model to one noisy image (``YX`` or ``YXC``, [0, 1] units)."""
        raise ParameterError(f"the noise model {cls.name} cannot be estimated from an image; give its parameters")



# --------------------------------------------------------------------------- the plugin kinds, in one table
@dataclass(frozen=True)
class Kind:
    """One kind of plugin: its base class, the hook that registers it, and how specs and listings treat it."""

    name: str
    base: type[Plugin]
    hook: str
    in_specs: bool  #: a spec may name it (``kind:name``)
    io: bool  #: reads or writes files (listed with its suffixes)


PLUGIN_KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("corruption", Corruption, "register_corruptions", in_specs=True, io=False),
    Kind("restorer", Restorer, "register_restorers", in_specs=True, io=False),
    Kind("metric", Metric, "register_metrics", in_specs=True, io=False),
    Kind("reader", Reader, "register_readers", in_specs=True, io=True),
    Kind("writer", Writer, "register_writers", in_specs=True, io=True),
    Kind("volume", VolumeFormat, "register_volume_formats", in_specs=False, io=True),
    Kind("noise-model", NoiseModel, "register_noise_models", in_specs=False, io=False),
)}
#: Every kind, in the order listings show them.
KINDS: tuple[str, ...] = tuple(PLUGIN_KINDS)
#: The kinds a chain is made of (what a bare name is looked up among).
CHAIN_KINDS: tuple[str, ...] = ("corruption", "restorer", "metric")
#: The kinds a spec string may name.
SPEC_KINDS: tuple[str, ...] = tuple(k for k, v in PLUGIN_KINDS.items() if v.in_specs)
#: The kinds that read or write files.
IO_KINDS: tuple[str, ...] = tuple(k for k, v in PLUGIN_KINDS.items() if v.io)

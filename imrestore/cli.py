"""The ``imrestore`` command line: a thin layer over the Python API.

Exit codes: 0 every item succeeded; 1 some items failed (the others are
written); 2 usage errors (unknown plugin, bad parameter, missing path).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__
from .errors import ImrestoreUsageError

EXIT_OK, EXIT_ITEMS_FAILED, EXIT_USAGE = 0, 1, 2

RUN_EPILOG = """\b
Examples:
  imrestore run gaussian:sigma=25 restorer:nlmeans in/ out/
  imrestore run blur:sigma=2 gaussian:sigma=2.55 restorer:deconv in/ out/
  imrestore run downsample:factor=2 restorer:interp:order=bicubic photo.png out/
  imrestore run erase:p=0.5 inpaint in/ out/ --metric psnr --metric nmse

\b
A SPEC is [kind:]name[:key=value,...]; kind is corruption, restorer or
metric and is needed only when a name is ambiguous. List the plugins and
their parameters with `imrestore plugins` (or `imrestore plugins NAME`).
Corruptions come first, then at most one restorer. Outputs mirror the input
tree (names, formats, dtypes); existing outputs are kept unless --overwrite,
so rerunning a stopped command resumes it. OUTPUT/report.json and
OUTPUT/report.csv hold per-item and mean metrics of the corrupted and the
restored images against the input.
"""


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


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
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary table.")
def run_cmd(specs, input_path, output_path, metrics, seed, save_corrupted, workers, overwrite, quiet):
    """Run corruptions and a restorer over INPUT (a file or folder) into OUTPUT."""
    from .chain import Chain
    from .pipeline import run

    metric_specs = None if not metrics else ([] if list(metrics) == ["none"] else list(metrics))
    chain = Chain.from_specs(specs, metric_specs)
    report = run(chain, input_path, output_path, seed=seed, workers=workers, overwrite=overwrite,
                 save_corrupted=save_corrupted, progress=not quiet, command=sys.argv[:])
    if not quiet:
        click.echo(report.summary())
        click.echo(f"\nreport: {Path(report.output) if Path(report.output).is_dir() else Path(report.output).parent}")
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
def eval_cmd(reference, estimate, metrics, output, as_json):
    """Metrics between two files, or two folders matched by relative path.

    \b
    Example:
      imrestore eval clean/ restored/ --metric psnr --metric ssim
    """
    from .evaluate import evaluate_files

    report = evaluate_files(reference, estimate, list(metrics) or None)
    if output:
        report.write(output)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.summary())
    sys.exit(EXIT_ITEMS_FAILED if report.failed else EXIT_OK)


@cli.command("demo")
@click.argument("output", required=False, default="imrestore-demo", type=click.Path(path_type=Path))
@click.option("--overwrite", is_flag=True, help="Recompute outputs that already exist.")
def demo_cmd(output, overwrite):
    """Run a tour of chains on scikit-image's sample images (under two minutes).

    Writes the images, one report per chain, summary.md and figure.png (rows
    original / corrupted / restored, PSNR under each tile) into OUTPUT.
    """
    from .demo import run_demo

    summary = run_demo(output, overwrite=overwrite, progress=True)
    click.echo(summary)


def main(argv: list[str] | None = None) -> None:
    """Entry point: map library errors to one-line messages and exit codes."""
    try:
        cli.main(args=argv, prog_name="imrestore", standalone_mode=False)
        sys.exit(EXIT_OK)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        _fail("aborted", 130)
    except ImrestoreUsageError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted; finished outputs are kept, rerun the same command to resume", 130)
    except OSError as exc:
        _fail(str(exc))


if __name__ == "__main__":  # pragma: no cover
    main()

"""A batch's plan, before any work: pair each image with its mask by file stem, name its output, and find
the usage problems that concern the whole batch (InputError, the CLI's exit 2). No network."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from novita_ui.errors import InputError  # light: the errors module imports nothing

if TYPE_CHECKING:
    from novita_ui.config import Settings
    from novita_ui.normalise import Engine
    from novita_ui.pixels.imaging import OutputFormat

# How mask files are commonly named after their photo; an exact stem always wins over these.
MASK_SUFFIXES = ("_mask", "-mask", ".mask", " mask")


@dataclass(frozen=True, kw_only=True)
class BatchOptions:
    """One batch, as the command line describes it (engine None = eraser with a key, else local)."""

    input_dir: Path
    output_dir: Path
    mask: Path | None = None
    engine: Engine | None = None
    prompt: str | None = None
    format: OutputFormat | None = None  # None: the source's if jpeg/png/webp; HEIC/AVIF: jpeg; else png
    concurrency: int | None = None
    rate: str | None = None
    overwrite: bool = False
    grow: int = 0  # px; negative shrinks every mask
    progress: bool = True


@dataclass(frozen=True)
class Job:
    """One input image: where its mask and output are, or why it cannot run."""

    source: Path
    mask: Path | None
    output: Path
    format: OutputFormat
    problem: str | None = None


def _files(folder: Path, what: str) -> list[Path]:
    """Visible image files in ``folder`` (not recursive), sorted by name."""
    if not folder.is_dir():
        raise InputError(f"{what} {folder} {'is not a folder' if folder.exists() else 'not found'}.")
    try:
        entries = sorted(folder.iterdir())
    except OSError as error:
        raise InputError(f"cannot read {what} {folder}: {error.strerror or error}") from None
    visible = (p for p in entries if not p.name.startswith("."))
    from novita_ui.pixels.formats import INPUT_SUFFIXES

    return [p for p in visible if p.suffix.lower() in INPUT_SUFFIXES and p.is_file()]


def _strip_mask_suffix(stem: str) -> str | None:
    folded = stem.casefold()
    return next((stem[: -len(s)] for s in MASK_SUFFIXES if folded.endswith(s) and len(stem) > len(s)), None)


def match_mask(stem: str, masks: Mapping[str, Path]) -> Path | None:
    """The mask for ``stem``: exact stem, then ``stem_mask`` and kin; case-insensitively as a last resort."""
    names = [stem, *(stem + suffix for suffix in MASK_SUFFIXES)]
    for name in names:
        if name in masks:
            return masks[name]
    folded = {key.casefold(): path for key, path in reversed(list(masks.items()))}
    return next((folded[n.casefold()] for n in names if n.casefold() in folded), None)


def _sources_and_masks(options: BatchOptions) -> tuple[list[Path], dict[str, Path] | None]:
    images = _files(options.input_dir, "input folder")
    if options.output_dir.resolve() == options.input_dir.resolve():  # earlier outputs are not inputs
        images = [p for p in images if not p.stem.endswith("-cleaned")]
    if options.mask is None or not options.mask.is_dir():
        return images, None
    if options.mask.resolve() == options.input_dir.resolve():
        # Photos and masks side by side: photo.jpg + photo_mask.png. A photo must not be its own mask.
        masks = [p for p in images if _strip_mask_suffix(p.stem)]
        images = [p for p in images if not _strip_mask_suffix(p.stem)]
    else:
        masks = _files(options.mask, "mask folder")
    if not masks:
        from novita_ui.pixels.formats import ACCEPTED

        raise InputError(f"the mask folder {options.mask} holds no masks ({ACCEPTED}).")
    index: dict[str, Path] = {}
    for path in masks:
        index.setdefault(path.stem, path)  # two masks with one stem: the first by name
    return images, index


def plan_batch(options: BatchOptions, engine: Engine) -> list[Job]:
    """Pair images with masks and outputs; raises InputError for usage problems (CLI exit 2)."""
    from novita_ui.normalise import format_for_path, mask_or_prompt_problem, text_or_none
    from novita_ui.pixels.formats import ACCEPTED, PHONE_SUFFIXES
    from novita_ui.service import output_name

    images, masks = _sources_and_masks(options)
    if not images:
        raise InputError(f"no images in {options.input_dir} ({ACCEPTED}).")
    prompt_only = mask_or_prompt_problem(engine, False, text_or_none(options.prompt)) is None
    jobs: list[Job] = []
    taken: dict[str, str] = {}
    for source in images:
        # A phone photo (HEIC, AVIF) comes back as JPEG, any other source it cannot be written as as PNG.
        fallback: OutputFormat = "jpeg" if source.suffix.lower() in PHONE_SUFFIXES else "png"
        fmt = options.format or format_for_path(source, fallback)
        output = options.output_dir / output_name(source.name, fmt)
        mask = options.mask if masks is None else match_mask(source.stem, masks)
        problem = None
        if masks is not None and mask is None and not prompt_only:
            problem = f"no mask named {source.stem}.* in {options.mask}"
        if output.name in taken:
            problem = f"its output {output.name} is already the output of {taken[output.name]}; rename one"
        taken.setdefault(output.name, source.name)
        jobs.append(Job(source, mask, output, fmt, problem))
    return jobs


def check_options(options: BatchOptions, engine: Engine, settings: Settings) -> None:
    """Usage problems that concern the whole batch, found before any work starts."""
    from novita_ui.normalise import mask_or_prompt_problem, text_or_none

    prompt = text_or_none(options.prompt)
    if prompt and engine != "eraser":
        hint = " Set NOVITA_API_KEY to use it." if not settings.api_key else ""
        raise InputError(f"--prompt works only with the Novita eraser (engine: {engine}).{hint}")
    if engine == "remove-text" and options.mask is not None:
        raise InputError("remove-text takes no --mask: Novita finds the text itself. Leave --mask out.")
    if mask_or_prompt_problem(engine, options.mask is not None, prompt):
        raise InputError("give --mask (a mask file or a folder of masks), or --prompt with the eraser.")
    if options.mask is not None and not options.mask.exists():
        raise InputError(f"mask {options.mask} not found.")
    if engine != "local" and not settings.api_key:
        raise InputError(
            f"the {engine} engine needs a Novita key: set NOVITA_API_KEY, or use --engine local."
        )
    if options.concurrency is not None and options.concurrency < 1:
        raise InputError("--concurrency must be at least 1.")


def read_single_mask(path: Path) -> bytes:
    """The one mask file every image shares, checked to be an image."""
    from novita_ui.pixels import results

    try:
        data = path.read_bytes()
        results.probe_image(data)
    except OSError as error:
        raise InputError(f"cannot read mask {path}: {error.strerror or error}") from None
    except ValueError:
        raise InputError(f"mask {path} is not an image this app can read.") from None
    return data

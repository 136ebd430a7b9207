"""Horses and zebras: two unpaired image domains drawn offline, and the loader for the real horse2zebra set.

The offline default, :func:`horses_and_zebras`, draws both domains from scikit-image's horse silhouette
(:func:`helpers.data.horse_silhouette`). A *pose* places the silhouette in the picture (scale, rotation,
shift, left-right flip); a *scene* paints it on textured grass:

- domain A, horses: the animal in one brown shade (random hue, lightness), with soft shading;
- domain B, zebras: the animal in black-and-white stripes of random angle, period and phase.

Training images of the two domains are drawn independently: no zebra is "the" zebra of any horse, as in the
real horse2zebra set. The test split keeps a hidden pairing: test horse ``i`` and test zebra ``i`` share
their pose and their grass, so a zebra's translation into a horse can be compared with the true horse (up to
its brown shade), and ``test_mask[i]`` is the silhouette both share. Everything is deterministic given the
seed. Images are float tensors (N, 3, S, S) in [0, 1]; masks are bool (N, 1, S, S) (animal: True).

The real data: :func:`load_image_folders` reads the reference layout ``trainA/ trainB/ testA/ testB/`` (as in
Zhu et al.'s horse2zebra); :func:`download_dataset` fetches and unpacks an archive, checking its sha256.
"""

from __future__ import annotations

import math
import shutil
import urllib.request
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .data import horse_silhouette
from .validation import check_images, check_int, sha256_of  # sha256_of is part of this module's API

__all__ = [
    "DOMAINS", "HORSE2ZEBRA_URL", "IMAGE_SUFFIXES", "HorsesZebras", "download_dataset", "horses_and_zebras",
    "load_image_folders", "other_animals", "sha256_of",
]

DOMAINS = ("trainA", "trainB", "testA", "testB")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
# Where Zhu et al. host horse2zebra (about 111 MB; trainA 1,067 horses, trainB 1,334 zebras, testA 120,
# testB 140, 256x256 JPEGs). No checksum is pinned here: pass the sha256 you trust to download_dataset.
HORSE2ZEBRA_URL = "https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/horse2zebra.zip"

_SUPERSAMPLE = 4  # the silhouette is drawn at 4x and averaged down: anti-aliased edges
_MARGIN = 0.04  # of the picture's half-width, kept free around the animal


@dataclass(frozen=True)
class HorsesZebras:
    """The synthetic data set (all images (N, 3, S, S) float in [0, 1]; masks (N, 1, S, S) bool).

    ``train_a`` (horses) and ``train_b`` (zebras) are independent draws; ``train_a_mask`` /
    ``train_b_mask`` are their silhouettes (for evaluators only: CycleGAN never sees them).
    ``test_a[i]`` and ``test_b[i]`` are the same pose on the same grass, horse and zebra; ``test_mask[i]``
    is that pose's silhouette. Built with tensors of other shapes or values, it raises ``ValueError``.
    """

    train_a: torch.Tensor
    train_b: torch.Tensor
    test_a: torch.Tensor
    test_b: torch.Tensor
    train_a_mask: torch.Tensor
    train_b_mask: torch.Tensor
    test_mask: torch.Tensor

    def __post_init__(self):
        for name, mask_name in (("train_a", "train_a_mask"), ("train_b", "train_b_mask"), ("test_a", "test_mask"),
                                ("test_b", "test_mask")):
            images, mask = check_images(getattr(self, name), name=name), getattr(self, mask_name)
            if images.shape[2:] != self.train_a.shape[2:]:
                raise ValueError(f"{name} must have the images' size {tuple(self.train_a.shape[2:])}, got "
                                 f"{tuple(images.shape)}")
            expected = (len(images), 1, *images.shape[2:])
            if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != expected:
                found = f"{getattr(mask, 'dtype', type(mask).__name__)} {tuple(getattr(mask, 'shape', ()))}"
                raise ValueError(f"{mask_name} must be a bool tensor {expected} (one silhouette per image of {name}), "
                                 f"got {found}")
        if self.test_a.shape != self.test_b.shape:
            raise ValueError(f"test_a and test_b must be paired (one shape), got {tuple(self.test_a.shape)} and "
                             f"{tuple(self.test_b.shape)}")


@lru_cache(maxsize=1)
def _silhouette() -> torch.Tensor:
    """The horse (1, 1, H, W) float (1 = animal), cropped to its bounding box."""
    animal = ~horse_silhouette()
    rows, cols = np.flatnonzero(animal.any(1)), np.flatnonzero(animal.any(0))
    crop = animal[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return torch.from_numpy(crop.astype(np.float32))[None, None]


def _uniform(generator: torch.Generator, n: int, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def _poses(n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Random poses: half-width of the animal (fraction of the picture's half-width), rotation (radians),
    left-right flip (+1/-1) and centre (normalised coordinates in [-1, 1]), chosen to keep it in view."""
    _, _, h, w = _silhouette().shape
    aspect = h / w
    scale = _uniform(generator, n, 0.6, 0.9)
    angle = _uniform(generator, n, -math.radians(12), math.radians(12))
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    # half-extent of the rotated box, so that the whole animal stays inside the picture
    extent_x = scale * (angle.cos().abs() + aspect * angle.sin().abs())
    extent_y = scale * (aspect * angle.cos().abs() + angle.sin().abs())
    room_x, room_y = (1 - _MARGIN - extent_x).clamp_min(0), (1 - _MARGIN - extent_y).clamp_min(0)
    centre_x = (2 * torch.rand(n, generator=generator) - 1) * room_x
    centre_y = (2 * torch.rand(n, generator=generator) - 1) * room_y
    return {"scale": scale, "angle": angle, "flip": flip, "centre_x": centre_x, "centre_y": centre_y}


def _coverage(poses: dict[str, torch.Tensor], size: int) -> torch.Tensor:
    """The share of each pixel the animal covers, (N, 1, S, S) in [0, 1] (anti-aliased)."""
    silhouette = _silhouette()
    _, _, h, w = silhouette.shape
    aspect = h / w
    cos, sin = poses["angle"].cos(), poses["angle"].sin()
    sx, sy = poses["scale"] * poses["flip"], poses["scale"] * aspect
    # affine_grid maps output coordinates to silhouette coordinates: undo the shift, the rotation, the scale
    theta = torch.stack([
        torch.stack([cos / sx, sin / sx, -(cos * poses["centre_x"] + sin * poses["centre_y"]) / sx], 1),
        torch.stack([-sin / sy, cos / sy, (sin * poses["centre_x"] - cos * poses["centre_y"]) / sy], 1),
    ], 1)
    n = len(theta)
    big = size * _SUPERSAMPLE
    grid = F.affine_grid(theta, [n, 1, big, big], align_corners=False)
    drawn = F.grid_sample(silhouette.expand(n, -1, -1, -1), grid, mode="bilinear", padding_mode="zeros",
                          align_corners=False)
    return F.avg_pool2d(drawn, _SUPERSAMPLE).clamp(0, 1)


def _smooth_noise(n: int, size: int, cells: int, generator: torch.Generator) -> torch.Tensor:
    """Noise (N, 1, S, S) with about ``cells`` blobs across, zero mean, values within about [-1, 1]."""
    coarse = 2 * torch.rand(n, 1, cells, cells, generator=generator) - 1
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)


def _grass(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """Textured grass (N, 3, S, S): a random green, with patches and blades varying only its brightness
    (so every grass pixel stays clearly green: green exceeds red and blue by >= 0.17)."""
    red = _uniform(generator, n, 0.1, 0.3)
    green = red + _uniform(generator, n, 0.35, 0.5)
    blue = _uniform(generator, n, 0.05, 0.2)
    base = torch.stack([red, green, blue], 1)[:, :, None, None]
    patches = _smooth_noise(n, size, 5, generator)
    blades = (torch.rand(n, 1, size, size, generator=generator) - 0.5) * torch.linspace(1, 0.4, size)[:, None]
    blades = F.avg_pool2d(F.pad(blades, (0, 0, 1, 1), mode="replicate"), (3, 1), stride=1)  # short vertical blades
    brightness = 1 + 0.15 * patches + 0.35 * blades
    return (base * brightness).clamp(0, 1)


def _brown(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """Horse coats (N, 3, S, S): one brown per horse (from chestnut to dark bay), softly shaded."""
    value = _uniform(generator, n, 0.3, 0.75)
    red = value
    green = red * _uniform(generator, n, 0.5, 0.72)
    blue = green * _uniform(generator, n, 0.4, 0.75)
    base = torch.stack([red, green, blue], 1)[:, :, None, None]
    shading = 1 + 0.1 * _smooth_noise(n, size, 4, generator)
    return (base * shading).clamp(0, 1)


def _stripes(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zebra coats (N, 3, S, S): black and white stripes, angle uniform in [0, pi), period 5-9 pixels (at
    64x64; it scales with the size), phase uniform; anti-aliased edges."""
    angle = _uniform(generator, n, 0.0, math.pi)
    period = _uniform(generator, n, 5.0, 9.0) * size / 64
    phase = _uniform(generator, n, 0.0, 2 * math.pi)
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    y, x = coords[:, None], coords[None, :]
    along = x * angle.cos()[:, None, None] + y * angle.sin()[:, None, None]
    wave = torch.cos(2 * math.pi * along / period[:, None, None] + phase[:, None, None])
    white = (0.5 + 1.5 * wave).clamp(0, 1)  # a soft square wave: a pixel-wide ramp between stripes
    dark, light = 0.08, 0.92
    return (dark + (light - dark) * white)[:, None].expand(-1, 3, -1, -1).contiguous()


def _seeded(seed: int, stream: int, block: int = 0) -> torch.Generator:
    """An independent generator for one block of one stream (train A, train B, test, others) of one seed."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, stream, block]).generate_state(1)[0]))


def _draw(n: int, size: int, generator: torch.Generator, coats: tuple[str, ...]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """``n`` poses on grass, painted with each coat of ``coats`` ("horse", "zebra"): images per coat and masks."""
    poses = _poses(n, generator)
    cover = _coverage(poses, size)
    grass = _grass(n, size, generator)
    painted = []
    for coat in coats:
        animal = _brown(n, size, generator) if coat == "horse" else _stripes(n, size, generator)
        painted.append((cover * animal + (1 - cover) * grass).clamp(0, 1).contiguous())
    return painted, cover >= 0.5


_BLOCK = 200  # images are drawn in blocks of 200, each from its own generator


def horses_and_zebras(n_train: int = 1000, n_test: int = 200, *, size: int = 64, seed: int = 0) -> HorsesZebras:
    """The synthetic horses (domain A) and zebras (domain B): see the module's docstring.

    ``n_train`` images per domain for training (independent draws), ``n_test`` paired test images;
    ``size`` pixels (>= 16) square; ``seed`` fixes everything: the same arguments give the same tensors,
    the three splits are independent draws, and image ``i`` of a split does not depend on ``n_train`` or
    ``n_test`` (a smaller set is the start of a larger one). Memory: each tensor takes
    ``12 * N * size**2`` bytes (1,000 images at 64x64: 49 MB).
    """
    check_int(n_train, "n_train", 1)
    check_int(n_test, "n_test", 1)
    check_int(size, "size", 16)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")

    def split(n: int, stream: int, coats: tuple[str, ...]) -> tuple[list[torch.Tensor], torch.Tensor]:
        parts = [_draw(_BLOCK, size, _seeded(seed, stream, block), coats) for block in range(-(-n // _BLOCK))]
        images = [torch.cat([p[0][k] for p in parts])[:n].contiguous() for k in range(len(coats))]
        return images, torch.cat([p[1] for p in parts])[:n].contiguous()

    (train_a,), train_a_mask = split(n_train, 0, ("horse",))
    (train_b,), train_b_mask = split(n_train, 1, ("zebra",))
    (test_a, test_b), test_mask = split(n_test, 2, ("horse", "zebra"))
    return HorsesZebras(train_a, train_b, test_a, test_b, train_a_mask, train_b_mask, test_mask)


def _decoy_coats(n: int, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Coats of neither domain (N, 3, S, S) and which of them must be blurred (N,) bool: a flat colour of
    any hue but brown's (greys included), black-and-white blotches (patches, not stripes), low-contrast
    stripes, per-pixel colour noise, or a horse's or a zebra's coat that will be blurred beyond recognition."""
    kind = torch.randint(6, (n,), generator=generator)
    hue = _uniform(generator, n, 0.17, 0.95)  # HSV hue in turns; red, orange and yellow (browns) left out
    saturation, value = _uniform(generator, n, 0.0, 1.0), _uniform(generator, n, 0.2, 1.0)
    k = (torch.stack([hue * 6 + 5, hue * 6 + 3, hue * 6 + 1], 1)) % 6  # the HSV -> RGB formula
    flat = value[:, None] - value[:, None] * saturation[:, None] * (torch.minimum(k, 4 - k).clamp(0, 1))
    flat = flat[:, :, None, None].expand(-1, -1, size, size)
    blotches = (_smooth_noise(n, size, 6, generator) > 0).float().expand(-1, 3, -1, -1) * 0.84 + 0.08
    stripes = _stripes(n, size, generator)
    faint = 0.5 + _uniform(generator, n, 0.1, 0.3)[:, None, None, None] * (2 * stripes - 1)
    noise = torch.rand(n, 3, size, size, generator=generator)
    coats = torch.stack([flat, blotches, faint, noise, _brown(n, size, generator), stripes])  # (6, N, 3, S, S)
    return coats[kind, torch.arange(n)], kind >= 4


def other_animals(n: int = 500, *, size: int = 64, seed: int = 0) -> torch.Tensor:
    """Animals that are neither horses nor zebras, (n, 3, S, S) in [0, 1]: the same poses and grass as
    :func:`horses_and_zebras`, in coats of any other kind (see ``_decoy_coats``), or a horse's or zebra's
    coat blurred with a 5x5 or 7x7 box filter over the whole picture; of the others, half are blurred with
    a 3x3 to 7x7 box. A third class for a domain classifier, so that "judged a zebra" means "has a zebra's
    coat", not merely "is not brown". One in eight is no scene at all, but colour noise. Deterministic given
    the seed."""
    check_int(n, "n", 1)
    check_int(size, "size", 16)
    check_int(seed, "seed", 0)
    generator = _seeded(seed, 3)
    poses = _poses(n, generator)
    cover = _coverage(poses, size)
    coats, must_blur = _decoy_coats(n, size, generator)
    images = (cover * coats + (1 - cover) * _grass(n, size, generator)).clamp(0, 1)
    blurred = must_blur | (torch.rand(n, generator=generator) < 0.5)
    width = torch.where(must_blur, 5 + 2 * torch.randint(2, (n,), generator=generator),
                        3 + 2 * torch.randint(3, (n,), generator=generator))
    for i in torch.nonzero(blurred).flatten().tolist():
        w = int(width[i]) * size // 64 | 1  # odd, scaled with the picture
        images[i] = F.avg_pool2d(F.pad(images[i:i + 1], (w // 2,) * 4, mode="replicate"), w, stride=1)[0]
    # one in eight is no scene at all: colour noise, fine or in blobs (what an untrained generator draws)
    scrambled = torch.rand(n, generator=generator) < 0.125
    fine = torch.rand(n, 3, size, size, generator=generator)
    blobs = (0.5 + 0.5 * torch.cat([_smooth_noise(n, size, 16, generator) for _ in range(3)], 1)).clamp(0, 1)
    noise = torch.where((torch.rand(n, generator=generator) < 0.5)[:, None, None, None], fine, blobs)
    images[scrambled] = noise[scrambled]
    return images.contiguous()


# --- the real data: folders and download ----------------------------------------------------------------


def _load_image(path: Path, size: int) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    try:  # a decompression bomb (a small file of huge pixel dimensions) is refused when it is opened
        with Image.open(path) as image:
            image = image.convert("RGB")
            if image.size != (size, size):
                image = image.resize((size, size), Image.Resampling.BICUBIC)
            array = np.asarray(image, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable image ({exc}); delete or replace it "
                         "(the data folder may be corrupt: download it again)") from exc
    return torch.from_numpy(array).permute(2, 0, 1)


def load_image_folders(root: str | Path, *, size: int = 256, max_images: int | None = None,
                       domains: tuple[str, ...] = DOMAINS) -> dict[str, torch.Tensor]:
    """Read an unpaired data set in the reference layout (Zhu et al.'s horse2zebra, apple2orange, ...).

    ``root`` holds one folder per domain and split, ``trainA/ trainB/ testA/ testB/``, of image files
    (.jpg, .jpeg, .png, .bmp, .webp; other files are ignored). Returns ``{name: images}`` for ``domains``,
    each (N, 3, size, size) float in [0, 1] (resized with bicubic filtering where needed; files read in
    sorted order, the first ``max_images`` of each folder if given). Memory: ``12 * N * size**2`` bytes per
    folder (horse2zebra's 2,661 images at 256x256: 2.1 GB; use size=128 or max_images on a small machine).

    Raises ``FileNotFoundError`` for a missing root or domain folder, ``ValueError`` for an empty folder or
    an unreadable (corrupt) image, naming the path, and for a decompression bomb (more pixels than PIL's
    ``Image.MAX_IMAGE_PIXELS`` allows twice over).
    """
    root = Path(root)
    check_int(size, "size", 16)
    if max_images is not None:
        check_int(max_images, "max_images", 1)
    unknown = [d for d in domains if d not in DOMAINS]
    if unknown or not domains:
        raise ValueError(f"domains must be a non-empty subset of {DOMAINS}, got {domains!r}")
    if not root.is_dir():
        raise FileNotFoundError(f"no data folder at {root}: expected {'/ '.join(DOMAINS)}/ inside it (e.g. "
                                "horse2zebra, see download_dataset); the offline default is horses_and_zebras()")
    missing = [d for d in domains if not (root / d).is_dir()]
    if missing:
        raise FileNotFoundError(f"{root} lacks the folder(s) {', '.join(missing)}: an unpaired data set has "
                                f"{'/ '.join(DOMAINS)}/ (download it again if it was cut short)")
    result = {}
    for domain in domains:
        files = sorted(p for p in (root / domain).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"{root / domain} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        files = files[:max_images] if max_images is not None else files
        result[domain] = torch.stack([_load_image(p, size) for p in files])
    return result


def download_dataset(dest: str | Path, *, sha256: str, url: str = HORSE2ZEBRA_URL) -> Path:
    """Download a zip archive of a data set (default: horse2zebra), check its sha256, unpack it into ``dest``.

    Optional: the course runs offline on :func:`horses_and_zebras`. ``sha256`` is required (64 hex digits:
    the checksum you trust, e.g. from a copy you verified); a mismatch deletes the download and raises
    ``ValueError`` saying both digests. Returns the unpacked folder to pass to :func:`load_image_folders`
    (the archive's single top-level folder, e.g. ``dest/horse2zebra``, or ``dest`` itself). A download that
    fails raises ``OSError`` naming the URL and the offline default.
    """
    if not isinstance(url, str) or not url:
        raise ValueError(f"url must be the archive's address as a string, got {url!r}")
    if not (isinstance(sha256, str) and len(sha256) == 64 and all(c in "0123456789abcdef" for c in sha256.lower())):
        raise ValueError(f"sha256 must be 64 hex digits, got {sha256!r}")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / (Path(urllib.request.urlparse(url).path).name or "dataset.zip")
    partial = archive.with_name(archive.name + ".part")
    try:
        with urllib.request.urlopen(url) as response, open(partial, "wb") as file:
            shutil.copyfileobj(response, file)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OSError(f"could not download {url} ({exc}); the course runs offline on "
                      "helpers.horses.horses_and_zebras()") from exc
    actual = sha256_of(partial)
    if actual != sha256.lower():
        partial.unlink()
        raise ValueError(f"{url} has sha256 {actual}, expected {sha256.lower()}: the download was deleted")
    partial.replace(archive)
    try:
        with zipfile.ZipFile(archive) as zipped:
            names = zipped.namelist()
            for name in names:  # refuse paths that would escape dest
                if Path(name).is_absolute() or ".." in Path(name).parts:
                    raise ValueError(f"{archive} holds an unsafe path {name!r}")
            zipped.extractall(dest)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{archive} is not a zip archive ({exc})") from exc
    tops = {Path(name).parts[0] for name in names if Path(name).parts}
    top = dest / next(iter(tops)) if len(tops) == 1 else dest
    return top if top.is_dir() else dest

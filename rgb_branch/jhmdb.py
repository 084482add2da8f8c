"""JHMDB (Jhuang et al., ICCV 2013): the reader for its frames, puppet masks, joint positions and splits,
and the clip dataset on them.

Layout under the JHMDB root (the official archives, unpacked side by side)::

    Rename_Images/<class>/<video>/00001.png        the frames (320 x 240; .png or .jpg)
    puppet_mask/<class>/<video>/puppet_mask.mat    part_mask: (240, 320, F), 1 = person
    joint_positions/<class>/<video>/joint_positions.mat   pos_img: (2, 15, F) x, y pixels
    splits/<class>_test_split<k>.txt               "<video>.avi 1" (train) or "... 2" (test), k = 1..3

Facts from ShangwuYao/Pose-guided-action-recognition (``c3d/README_puppet_mask.txt``,
``c3d/README_joint_positions.txt``, ``c3d/Dataloader.py``): the mask variable is ``part_mask`` (the
README calls it width x height x F; the loader uses it as height x width x F, which is how we read it),
``pos_img`` is 2 x 15 x F in the ``pose_guidance.layouts.JHMDB15`` order, and every joint has a
position (occluded ones sit at the puppet's neutral place). ``pos_img`` holds MATLAB's 1-based pixel
centres; we take ``pos - 0.5`` as continuous pixel positions (an assumption; the offset is 0.5 px).
Every file is checked when the dataset is built: one error names a missing or unreadable ``.mat``,
a missing variable, a frame folder without frames, or a mask whose size is not the frames'.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import scipy.io

from rgb_branch.clips import ClipDataset

JHMDB_CLASSES = ("brush_hair", "catch", "clap", "climb_stairs", "golf", "jump", "kick_ball", "pick", "pour",
                 "pullup", "push", "run", "shoot_ball", "shoot_bow", "shoot_gun", "sit", "stand",
                 "swing_baseball", "throw", "walk", "wave")
SPLITS = (1, 2, 3)
FRAMES_DIR, MASK_DIR, JOINTS_DIR, SPLITS_DIR = "Rename_Images", "puppet_mask", "joint_positions", "splits"
MASK_FILE, JOINTS_FILE = "puppet_mask.mat", "joint_positions.mat"
FRAME_SUFFIXES = (".png", ".jpg")
MATLAB_PIXEL_OFFSET = 0.5
NUM_JOINTS = 15


class JhmdbError(ValueError):
    """A JHMDB file that is missing, unreadable or of the wrong shape (the message names it)."""


def read_split(root: str | Path, split: int) -> dict[str, list[str]]:
    """``{"train": [...], "test": [...]}`` of ``<class>/<video>`` names for official split 1, 2 or 3."""
    if split not in SPLITS:
        raise JhmdbError(f"data.split must be 1, 2 or 3, found {split!r}")
    out: dict[str, list[str]] = {"train": [], "test": []}
    for cls in JHMDB_CLASSES:
        path = Path(root) / SPLITS_DIR / f"{cls}_test_split{split}.txt"
        if not path.is_file():
            raise JhmdbError(f"{path}: split file missing")
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or fields[1] not in ("1", "2"):
                raise JhmdbError(f"{path}:{number}: expected '<video>.avi 1|2', found {line.strip()!r}")
            video = fields[0].removesuffix(".avi")
            out["train" if fields[1] == "1" else "test"].append(f"{cls}/{video}")
    return out


def _load_mat(path: Path, variable: str) -> np.ndarray:
    if not path.is_file():
        raise JhmdbError(f"{path}: file missing")
    try:
        content = scipy.io.loadmat(str(path), variable_names=[variable])
    except Exception as err:  # scipy raises several types for damaged files
        raise JhmdbError(f"{path}: cannot read the .mat file ({err})") from err
    if variable not in content:
        raise JhmdbError(f"{path}: no variable {variable!r}")
    return np.asarray(content[variable])


def read_puppet_mask(path: str | Path) -> np.ndarray:
    """``part_mask`` -> ``(F, H, W)`` bool (1 = person)."""
    mask = _load_mat(Path(path), "part_mask")
    if mask.ndim == 2:
        mask = mask[:, :, None]
    if mask.ndim != 3:
        raise JhmdbError(f"{path}: part_mask has shape {mask.shape}, expected (height, width, frames)")
    return np.ascontiguousarray(mask.transpose(2, 0, 1) > 0)


def read_joint_positions(path: str | Path) -> np.ndarray:
    """``pos_img`` ``(2, 15, F)`` -> ``(F, 15, 2)`` float64 continuous pixel positions."""
    pos = _load_mat(Path(path), "pos_img")
    if pos.ndim == 2:
        pos = pos[:, :, None]
    if pos.ndim != 3 or pos.shape[:2] != (2, NUM_JOINTS):
        raise JhmdbError(f"{path}: pos_img has shape {pos.shape}, expected (2, {NUM_JOINTS}, frames)")
    return pos.transpose(2, 1, 0).astype(np.float64) - MATLAB_PIXEL_OFFSET


def video_frames(root: str | Path, name: str) -> list[Path]:
    """The frame files of ``<class>/<video>`` in order; an error names the folder when there are none."""
    folder = Path(root) / FRAMES_DIR / name
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in FRAME_SUFFIXES) if folder.is_dir() else []
    if not files:
        raise JhmdbError(f"{folder}: no frames ({'/'.join(FRAME_SUFFIXES)}) found")
    return files


def read_frame(path: Path) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise JhmdbError(f"{path}: cannot read the frame")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def check_video(root: str | Path, name: str) -> tuple[list[Path], np.ndarray]:
    """Frame files and joints ``(F, 15, 2)`` of one video after checking all three inputs; F is the
    shortest of the frames', masks' and joints' counts."""
    root = Path(root)
    files = video_frames(root, name)
    height, width = read_frame(files[0]).shape[:2]
    mask_path = root / MASK_DIR / name / MASK_FILE
    mask = read_puppet_mask(mask_path)
    if mask.shape[1:] != (height, width):
        raise JhmdbError(f"{mask_path}: masks are {mask.shape[2]}x{mask.shape[1]} but the frames of {name} "
                         f"are {width}x{height}")
    joints = read_joint_positions(root / JOINTS_DIR / name / JOINTS_FILE)
    count = min(len(files), len(mask), len(joints))
    return files[:count], joints[:count]


class JhmdbDataset(ClipDataset):
    """Clips of JHMDB videos ``names`` (``<class>/<video>``); labels are the class indices."""

    def __init__(self, root: str | Path, names: Sequence[str], **clip_options: object) -> None:
        super().__init__(**clip_options)  # type: ignore[arg-type]
        self.root = Path(root)
        self.sample_names = list(names)
        try:
            self.labels = np.array([JHMDB_CLASSES.index(n.split("/")[0]) for n in self.sample_names], np.int64)
        except ValueError as err:
            raise JhmdbError(f"{self.root}: a video name has no JHMDB class ({err})") from None
        checked = [check_video(self.root, name) for name in self.sample_names]
        self.files = [files for files, _ in checked]
        self.joints = [joints for _, joints in checked]
        self._masks: tuple[int, np.ndarray] | None = None  # the last video's masks: a clip reads one video

    def frame_count(self, index: int) -> int:
        return len(self.files[index])

    def load_frame(self, index: int, frame: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        if self._masks is None or self._masks[0] != index:
            self._masks = (index, read_puppet_mask(self.root / MASK_DIR / self.sample_names[index] / MASK_FILE))
        return read_frame(self.files[index][frame]), self._masks[1][frame], self.joints[index][frame][None]

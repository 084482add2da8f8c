"""What the synthetic generator makes: its configuration and the plan of every sample (names, noise)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from data.ntu import BENCHMARKS
from data.synthetic.body import ONE_PERSON_CLASSES, TWIN_CLASSES, TWO_PERSON_CLASSES, ActionClass

# ---------------------------------------------------------------- configuration and sample plan
NOISE_KINDS = ("short_body", "spread_body", "vanishing_body", "dropped_frames")


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate. Classes are the first `classes - two_person_classes - 2 * twin_pairs` of
    :data:`ONE_PERSON_CLASSES` (or those with the NTU actions `one_person_actions`, in that order), the
    first `twin_pairs` pairs of :data:`TWIN_CLASSES` (one motion, told apart only by a garment in the
    parsing maps and videos), then the first `two_person_classes` of :data:`TWO_PERSON_CLASSES`.
    Each noise kind goes to `ceil(noise_rate * samples)` samples; `missing` extra samples have no body;
    `videos` (at most one per class) samples get an RGB video."""

    seed: int = 0
    classes: int = 8
    two_person_classes: int = 2
    twin_pairs: int = 0
    one_person_actions: tuple[int, ...] = ()
    samples_per_class: int = 40
    min_frames: int = 40
    max_frames: int = 100
    setups: int = 4
    videos: int = 3
    missing: int = 2
    noise_rate: float = 0.08
    crlf_rate: float = 0.05
    parsing: bool = True

    def action_classes(self) -> list[ActionClass]:
        twins = 2 * self.twin_pairs
        ones = self.classes - self.two_person_classes - twins
        twos = self.two_person_classes
        if not (0 <= twins <= len(TWIN_CLASSES)):
            raise ValueError(f"twin_pairs must be 0-{len(TWIN_CLASSES) // 2}, found {self.twin_pairs}")
        if not (1 <= ones <= len(ONE_PERSON_CLASSES) and 0 <= twos <= len(TWO_PERSON_CLASSES)):
            raise ValueError(
                f"classes={self.classes}, two_person_classes={self.two_person_classes}, twin_pairs="
                f"{self.twin_pairs}: expected 1-{len(ONE_PERSON_CLASSES)} one-person classes besides the "
                f"{twins} twins and 0-{len(TWO_PERSON_CLASSES)} two-person classes"
            )
        chosen = ONE_PERSON_CLASSES[:ones]
        if self.one_person_actions:
            by_action = {c.action: c for c in ONE_PERSON_CLASSES}
            unknown = [a for a in self.one_person_actions if a not in by_action]
            if unknown or len(self.one_person_actions) != ones:
                raise ValueError(
                    f"one_person_actions={list(self.one_person_actions)}: expected {ones} of the one-person "
                    f"actions {sorted(by_action)}"
                )
            chosen = tuple(by_action[a] for a in self.one_person_actions)
        return [*chosen, *TWIN_CLASSES[:twins], *TWO_PERSON_CLASSES[:twos]]

    def validate(self) -> None:
        self.action_classes()
        # 4 samples per class are the least that give every benchmark split every class (see plan_samples)
        if not 4 <= self.samples_per_class <= 500:
            raise ValueError(f"samples_per_class must be 4-500, found {self.samples_per_class}")
        if not 30 <= self.min_frames <= self.max_frames <= 300:
            raise ValueError(
                f"expected 30 <= min_frames <= max_frames <= 300 (room for the noise), found "
                f"{self.min_frames}, {self.max_frames}"
            )
        if not 2 <= self.setups <= 17:
            raise ValueError(f"setups must be 2-17 (NTU60 setups, both parities), found {self.setups}")
        for key in ("noise_rate", "crlf_rate"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ValueError(f"{key} must be in [0, 1], found {getattr(self, key)}")
        if self.videos < 0 or self.missing < 0:
            raise ValueError(f"videos and missing must be >= 0, found {self.videos}, {self.missing}")


@dataclass(frozen=True)
class SamplePlan:
    """One sample to write: NTU name, class index, frame count, noise kinds, line endings, video."""

    name: str
    class_index: int
    sample_index: int
    frames: int
    noise: tuple[str, ...] = ()
    crlf: bool = False
    video: bool = False
    missing: bool = False


def plan_samples(config: SyntheticConfig) -> list[SamplePlan]:
    """Names, frame counts and noise of every sample, sorted by name.

    Sample `i` of a class uses camera `i % 3 + 1`, an odd setup for even `i` and an even one for odd
    `i`, and a subject of the NTU60 XSub train list when `(i // 2)` is even, else of its test list:
    any 4 consecutive samples put the class in the train and test split of all four benchmarks.
    """
    config.validate()
    classes = config.action_classes()
    rng = np.random.default_rng([config.seed, 0])
    xsub = BENCHMARKS["ntu60-xsub"]
    subjects = (xsub.train_ids, xsub.test_ids)
    odd_even = tuple([s for s in range(1, config.setups + 1) if s % 2 == parity] for parity in (1, 0))
    per_class, n_classes = config.samples_per_class, len(classes)
    slots = [(c, i, False) for c in range(n_classes) for i in range(per_class)]
    slots += [(j % n_classes, per_class + j // n_classes, True) for j in range(config.missing)]
    used: set[str] = set()
    plans = []
    for c, i, missing in slots:
        while True:  # another replication or subject when the name is taken
            setup, subject = int(rng.choice(odd_even[i % 2])), int(rng.choice(subjects[(i // 2) % 2]))
            replication = int(rng.integers(1, 3))
            name = f"S{setup:03d}C{i % 3 + 1:03d}P{subject:03d}R{replication:03d}A{classes[c].action:03d}"
            if name not in used:
                break
        used.add(name)
        frames = int(rng.integers(config.min_frames, config.max_frames + 1))
        plans.append(SamplePlan(name, c, i, frames, missing=missing))

    regular = [k for k, p in enumerate(plans) if not p.missing]
    noise: dict[int, list[str]] = {k: [] for k in regular}
    for kind in NOISE_KINDS:
        for k in rng.choice(regular, math.ceil(config.noise_rate * len(regular)), replace=False):
            noise[int(k)].append(kind)
    crlf = set(rng.choice(len(plans), math.ceil(config.crlf_rate * len(plans)), replace=False).tolist())
    # the first sample of a class gets its video: one-person class 0 and the first two-person class first
    video_order = [0, *([n_classes - config.two_person_classes] if config.two_person_classes else [])]
    video_order += [c for c in range(n_classes) if c not in video_order]
    videos = {(c, 0) for c in video_order[: config.videos]}
    plans = [
        replace(p, noise=tuple(noise.get(k, ())), crlf=k in crlf,
                video=not p.missing and (p.class_index, p.sample_index) in videos)
        for k, p in enumerate(plans)
    ]
    return sorted(plans, key=lambda p: p.name)

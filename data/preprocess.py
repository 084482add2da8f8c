"""The CTR-GCN skeleton preprocessing of one sample (REFERENCE.md §3.1-§3.5), as pure functions.

``preprocess(raw)`` turns a parsed file into its translated frames, (T, 75) for one actor or
(T, 150) for two, plus a log of every denoising decision. ``second_actor_layout`` gives the
150-wide rows stored on disk (§3.5). Float32 arrays and NumPy reductions of the same shapes as the
reference are used on purpose: sums and variances then round the same way, so motion order,
zero-frame removal and translation match bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from data.skeleton import NUM_JOINTS, BadSampleError, Body, RawSkeleton

MIN_FRAMES_EXCLUSIVE = 11  # §3.2.1: bodies with 11 or fewer frames are noise
SPREAD_RATIO = 0.8  # §3.2.2: a frame is valid if x-spread <= 0.8 * y-spread
NOISY_SHARE = 0.69754  # §3.2.2: a body with this share of noisy frames or more is dropped
ACTOR_WIDTH = NUM_JOINTS * 3


def body_motion(joints: np.ndarray) -> np.float32:
    """Sum over x, y, z of the (population) variance of joint positions; ``joints`` (n, 25, 3) float32."""
    return np.var(joints.reshape(-1, 3), axis=0).sum()


def spread_valid_frames(joints: np.ndarray) -> np.ndarray:
    """(n,) bool: frames whose x-spread is at most 0.8 times their y-spread; ``joints`` (n, 25, 3)."""
    x_spread = joints[:, :, 0].max(axis=1) - joints[:, :, 0].min(axis=1)
    y_spread = joints[:, :, 1].max(axis=1) - joints[:, :, 1].min(axis=1)
    # The reference compares NumPy float32 scalars under NumPy 1.x (it needs `np.int`), where
    # `0.8 * float32` is computed in float64; float32 here would flip rare borderline frames.
    return x_spread.astype(np.float64) <= SPREAD_RATIO * y_spread.astype(np.float64)


def denoise(bodies: list[Body], log: list[dict[str, Any]]) -> list[Body]:
    """§3.2 for a sample with 2+ bodyIDs: the bodies left, largest motion first when several.

    Appends one entry per decision to ``log``. Raises :class:`BadSampleError` when no body is left.
    """
    motion = {body.body_id: body_motion(body.joints) for body in bodies}
    left = []
    for body in bodies:
        if body.num_frames <= MIN_FRAMES_EXCLUSIVE:
            log.append(
                {"body": body.body_id, "action": "dropped", "rule": "length", "frames": body.num_frames}
            )
        else:
            left.append(body)
    if not left:
        raise BadSampleError("", "every body has 11 or fewer frames (the reference fails on this sample)")
    if len(left) == 1:
        return left

    for body in list(left):
        if len(left) == 1:
            break
        valid = spread_valid_frames(body.joints)
        noisy = body.num_frames - int(valid.sum())
        if noisy == 0:
            continue
        share = noisy / body.num_frames
        if share >= NOISY_SHARE:
            left.remove(body)
            log.append({"body": body.body_id, "action": "dropped", "rule": "spread", "noisy_share": share})
        else:
            before = motion[body.body_id]
            motion[body.body_id] = min(before, body_motion(body.joints[valid]))
            log.append(
                {
                    "body": body.body_id,
                    "action": "motion",
                    "rule": "spread",
                    "noisy_share": share,
                    "from": float(before),
                    "to": float(motion[body.body_id]),
                }
            )
    if len(left) == 1:
        return left
    # sorted() is stable with reverse=True, so ties keep first-appearance order as in the reference.
    return sorted(left, key=lambda body: motion[body.body_id], reverse=True)


def _place(out: np.ndarray, body: Body, columns: slice) -> None:
    if body.end >= len(out):
        raise BadSampleError(
            "",
            f"body {body.body_id} appears {body.num_frames} times from frame {body.start} but the sample "
            f"has {len(out)} frames (a bodyID repeated within a frame; the reference fails on this sample)",
        )
    out[body.start : body.end + 1, columns] = body.joints.reshape(-1, ACTOR_WIDTH)


def assemble_actors(bodies: list[Body], num_frames: int, log: list[dict[str, Any]]) -> np.ndarray:
    """§3.3: (num_frames, 75) float32 for one body, else (num_frames, 150) with actors 1 and 2.

    ``bodies`` are in motion order. A body joins actor 1 when its interval does not overlap actor 1's,
    else actor 2 when it does not overlap actor 2's (which starts as the virtual [0, 0]), else it is
    dropped; later bodies overwrite shared boundary frames, as in the reference.
    """
    if len(bodies) == 1:
        out = np.zeros((num_frames, ACTOR_WIDTH), dtype=np.float32)
        _place(out, bodies[0], slice(0, ACTOR_WIDTH))
        return out
    out = np.zeros((num_frames, 2 * ACTOR_WIDTH), dtype=np.float32)
    first = bodies[0]
    _place(out, first, slice(0, ACTOR_WIDTH))
    log.append({"body": first.body_id, "action": "actor", "actor": 1, "interval": [first.start, first.end]})
    start1, end1 = first.start, first.end
    start2, end2 = 0, 0
    for body in bodies[1:]:
        start, end = body.start, body.end
        entry = {"body": body.body_id, "interval": [start, end]}
        if min(end1, end) - max(start1, start) <= 0:
            _place(out, body, slice(0, ACTOR_WIDTH))
            start1, end1 = min(start, start1), max(end, end1)
            log.append({**entry, "action": "actor", "actor": 1})
        elif min(end2, end) - max(start2, start) <= 0:
            _place(out, body, slice(ACTOR_WIDTH, 2 * ACTOR_WIDTH))
            start2, end2 = min(start, start2), max(end, end2)
            log.append({**entry, "action": "actor", "actor": 2})
        else:
            log.append({**entry, "action": "dropped", "rule": "overlaps both actors"})
    return out


def translate(frames: np.ndarray) -> np.ndarray:
    """§3.4: subtract actor 1's joint 2 (index 1) in its first non-zero frame; (T, 75|150) float32.

    In 150-wide samples, an actor's frames that were all zero (summing to 0) stay zero.
    """
    actor1 = frames[:, :ACTOR_WIDTH]
    present = np.flatnonzero((actor1 != 0).any(axis=1))
    if present.size == 0:
        raise BadSampleError(
            "", "actor 1 has no non-zero frame, so there is no origin (the reference fails here)"
        )
    origin = frames[present[0], 3:6].copy()
    out = frames - np.tile(origin, frames.shape[1] // 3)
    if frames.shape[1] == 2 * ACTOR_WIDTH:
        out[frames[:, :ACTOR_WIDTH].sum(axis=1) == 0, :ACTOR_WIDTH] = 0
        out[frames[:, ACTOR_WIDTH:].sum(axis=1) == 0, ACTOR_WIDTH:] = 0
    return out


def preprocess(raw: RawSkeleton) -> tuple[np.ndarray, dict[str, Any]]:
    """§3.1-§3.4 for one parsed sample with at least one kept frame.

    Returns the translated frames, (T, 75) float32 for one actor or (T, 150) for two, and a log:
    ``{"empty_frames_dropped", "bodies", "decisions", "zero_frames_removed"}`` (keys only when relevant).
    Raises :class:`BadSampleError` (naming the file) where the reference would fail.
    """
    log: dict[str, Any] = {}
    if raw.declared_frames != raw.num_frames:
        log["empty_frames_dropped"] = raw.declared_frames - raw.num_frames
    try:
        if len(raw.bodies) == 1:
            frames = assemble_actors(raw.bodies, raw.num_frames, [])
        else:
            log["bodies"] = [
                {
                    "body": b.body_id,
                    "interval": [b.start, b.end],
                    "frames": b.num_frames,
                    "motion": float(body_motion(b.joints)),
                }
                for b in raw.bodies
            ]
            decisions: list[dict[str, Any]] = []
            log["decisions"] = decisions
            frames = assemble_actors(denoise(raw.bodies, decisions), raw.num_frames, decisions)
            # Only samples with 2+ bodyIDs lose their all-zero frames (§3.3).
            nonzero = frames.sum(axis=1) != 0
            if not nonzero.all():
                log["zero_frames_removed"] = int((~nonzero).sum())
                frames = frames[nonzero]
        return translate(frames), log
    except BadSampleError as err:
        raise BadSampleError(raw.path, err.message) from None


def second_actor_layout(frames: np.ndarray, copy_first_actor: bool) -> np.ndarray:
    """§3.5: (T, 150) float32 rows; a one-actor (T, 75) sample gets zeros (NTU60) or a copy (NTU120)."""
    if frames.shape[1] == 2 * ACTOR_WIDTH:
        return frames
    second = frames if copy_first_actor else np.zeros_like(frames)
    return np.concatenate([frames, second], axis=1)

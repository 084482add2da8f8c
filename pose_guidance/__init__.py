"""Pose guidance: what the RGB-side systems take from keypoints, in one place.

| module | what |
|---|---|
| ``skeleton_colors`` | NTU ``.skeleton`` joints per body with their colour-video pixels, every frame kept |
| ``boxes`` | person boxes from those pixels (denoised bodies, margins), box enlargement to keypoints |
| ``layouts`` | keypoint layouts (NTU-25, COCO-17, JHMDB-15): joint names, limbs, dot colours |
| ``maps`` | joint heatmaps on a feature grid, limb and body masks, coloured dots, crop coordinates, |
|  | background weakening |

Every function takes arrays and returns arrays (shapes in the docstrings), so a dataset calls them
per sample and a test calls them on a single keypoint.
"""

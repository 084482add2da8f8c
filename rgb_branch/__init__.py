"""The pose-guided RGB branch (Shangwu Yao, "Pose-guided action recognition", 2018): RGB and
pose-masked RGB streams on NTU person frames and JHMDB.

| module | what |
|---|---|
| ``models`` | two-stream (spatial + stacked frames), C3D / R3D-18 / R(2+1)D-18, attentional pooling, RGB grid |
| ``clips`` | frame sampling and the per-frame tensors: frames, masks, heatmaps |
| ``dataset`` | NTU person frames with the sample's skeleton (masks and heatmaps via ``pose_guidance``) |
| ``jhmdb`` | the JHMDB reader (frames, ``puppet_mask.mat``, ``joint_positions.mat``, splits) and dataset |
| ``task`` | the engine task: config sections, model, datasets, named losses |
| ``stages`` | the pipeline section ``rgb`` (off by default) |
"""

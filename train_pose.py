"""Train or evaluate EPP-Net's pose branch: CTR-GCN on one skeleton stream (REFERENCE.md §4-§5).

    python train_pose.py --config configs/ntu60-xsub/joint.yaml --set data.root=PREPARED
    torchrun --nproc-per-node 4 train_pose.py --config configs/ntu120-xsub/bone_motion.yaml ...
    python train_pose.py --config configs/ntu60-xsub/joint.yaml --eval-only --weights ctrgcn_joint.pt

The options are the engine's (``--help``); the task is in ``pose_branch/task.py``.
"""

from engine import run_task
from pose_branch.task import TASK

if __name__ == "__main__":
    raise SystemExit(run_task(TASK))

"""Train or evaluate the multitask network (Luvizon et al., CVPR 2018): 3D pose and action from NTU RGB clips.

The three stages, each starting from the previous one's checkpoint:

    python train_multitask.py --config configs/ntu60-xsub/multitask_pose.yaml
    python train_multitask.py --config configs/ntu60-xsub/multitask_action.yaml \
        --weights work_dirs/ntu60-xsub/multitask_pose/checkpoints/last.pt
    python train_multitask.py --config configs/ntu60-xsub/multitask_finetune.yaml \
        --weights work_dirs/ntu60-xsub/multitask_action/checkpoints/last.pt

Estimated skeletons for the pose branch: ``python -m multitask export --help``. The options are the
engine's (``--help``); the task is in ``multitask/task.py``.
"""

from engine import run_task
from multitask.task import TASK

if __name__ == "__main__":
    raise SystemExit(run_task(TASK))

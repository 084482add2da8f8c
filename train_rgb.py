"""Train or evaluate the pose-guided RGB branch (rgb_branch/) on NTU person frames or JHMDB.

    python train_rgb.py --config configs/ntu60-xsub/rgb_two_stream.yaml \
        --set data.root=PREPARED --set data.frames_dir=PERSON_FRAMES --set data.skeletons_dir=SKELETONS
    python train_rgb.py --config configs/jhmdb/split1_attention_pool_pose.yaml --set data.jhmdb_root=JHMDB
    torchrun --nproc-per-node 4 train_rgb.py --config configs/ntu120-xsub/rgb_c3d_masked.yaml ...

The options are the engine's (``--help``); the task is in ``rgb_branch/task.py``.
"""

from engine import run_task
from rgb_branch.task import TASK

if __name__ == "__main__":
    raise SystemExit(run_task(TASK))

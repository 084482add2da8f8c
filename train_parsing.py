"""Train or evaluate EPP-Net's parsing branch (REFERENCE.md §9) on parsing feature maps.

    python train_parsing.py --config configs/ntu60-xsub/parsing.yaml \
        --set data.root=PREPARED --set data.parsing_dir=PARSING_MAPS
    torchrun --nproc-per-node 4 train_parsing.py --config configs/ntu120-xsub/parsing.yaml ...

The options are the engine's (``--help``); the task is in ``parsing_branch/task.py``.
"""

from engine import run_task
from parsing_branch.task import TASK

if __name__ == "__main__":
    raise SystemExit(run_task(TASK))

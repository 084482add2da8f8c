"""Train or evaluate coarse-to-fine part-level action parsing on Kinetics-TPS (``part_parsing/task.py``).

    python -m data.synthetic.kinetics_tps --out tps_demo
    python train_part.py --config configs/demo/part_parsing.yaml --set data.root=tps_demo
    python train_part.py --config configs/kinetics-tps/part_r2plus1d_18.yaml --set data.root=KINETICS_TPS \\
        --set model.pretrained=r2plus1d_18-91a641e6.pth
    torchrun --nproc-per-node 4 train_part.py --config configs/kinetics-tps/part_r2plus1d_18.yaml ...

The options are the engine's (``--help``). The score file ``scores/final.pkl`` holds the video-class logits
by video name; ``python -m part_parsing predict`` turns a trained model into the official prediction files.
"""

from engine import run_task
from part_parsing.task import TASK

if __name__ == "__main__":
    raise SystemExit(run_task(TASK))

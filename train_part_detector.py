"""Train or evaluate the person or part detector of part-level action parsing (``part_parsing/detection/task.py``).

    python -m data.synthetic.kinetics_tps --out tps_demo
    python train_part_detector.py --config configs/demo/part_detector.yaml --set data.root=tps_demo
    python train_part_detector.py --config configs/kinetics-tps/part_detector.yaml --set data.root=KINETICS_TPS \\
        --set model.backbone_weights=resnet50-11ad3fa6.pth
    python train_part_detector.py --config configs/kinetics-tps/person_detector.yaml --set data.root=KINETICS_TPS

The options are the engine's (``--help``). The metric is AP50 (``eval_ap50``); ``scores/final.pkl`` holds every
evaluated image's detections. ``python -m part_parsing predict --person-detector RUN --part-detector RUN``
uses two trained runs to find the boxes of new videos.
"""

from engine import run_task
from part_parsing.detection.task import TASK

if __name__ == "__main__":
    raise SystemExit(run_task(TASK))

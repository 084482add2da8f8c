"""Part-level action parsing on Kinetics-TPS: the data, the official score, the coarse-to-fine model, pictures.

The task (ICCV 2021 DeeperAction challenge, ``Hypnosx/Kinetics-TPS``): for each video of 24 human action
classes, predict the class and, frame by frame, every person's box, the boxes of up to 10 body parts
(head, hip, left/right arm, hand, leg, foot) and each part's state (74 states). The system reproduced is
the pose-guided coarse-to-fine framework of Chen et al. (ISCAS 2022; its challenge entry is
``SheldongChen/A-Baseline-Framework-for-Part-level-Action-Parsing-and-Action-Recognition``): the
video's class first, then part states predicted per segment, one classifier per part group.

Modules:

- ``tps``: the release's layout (``list/`` files, ``<class>/<video>/<video>/img_NNNNN.json`` annotations,
  rawframes or videos) read into typed records; the evaluation files ``gt_vid_result.json`` /
  ``gt_part_result.json`` built from annotations; prediction files written atomically.
- ``evaluate``: the score of ``xiadingZ/Kinetics-TPS-evaluation: eval_detection.py``, reproduced to the
  last bit, vectorised; per-video Part State Correctness and the acc(t) curve, as JSON and PNG.
- ``segments``: segment-level pseudo-labels (the most frequent state of each part over a segment) and
  the ``"(action) part: state"`` label vocabulary per part group.
- ``show``: a picture of a video's ground truth beside a prediction.
- ``backbones``: torchvision video trunks (``r2plus1d_18``, ``r3d_18``, ``mvit_v2_s``, ``s3d``), local weights.
- ``clips``: a video's clip and its per-segment person tubes, the dataset and its batching.
- ``labels``: the classifiers' classes, segment labels to targets, and coarse-to-fine decoding.
- ``task``: the engine task (``train_part.py``): video classifier + one part-state classifier per group.
- ``predict``: a trained model and given boxes -> ``pred_vid_result.json``, ``pred_part_result.json``.
- ``keypoints``: users' 2D poses (COCO-17) per frame from a COCO-style JSON or a pyskl pickle, and writers.
- ``detection_ap``: COCO-style AP at one IoU (part AP50), equal to pycocotools' COCOeval.
- ``detection``: the pose-guided person and part detectors (``train_part_detector.py``) and ``detect``.
- ``stages``: the pipeline stages (off by default; ``configs/demo/part_pipeline.yaml``).
- ``__main__``: ``python -m part_parsing {evaluate,gt,show,predict,detect,table}``.

Facts and where they come from: the layout, the list files and frame numbering from 1 (``Hypnosx/
Kinetics-TPS: README.md``); the evaluation files' shape, the 5-frame sampling, the limits of 10 humans and
5 proposals, and every step of the score (``xiadingZ/Kinetics-TPS-evaluation: README.md,
eval_detection.py``); the six part groups (``SheldongChen/A-Baseline-...: mmaction_202108/configs/
parthuman/csn_*``). The synthetic dataset in the same layout is ``data.synthetic.kinetics_tps``.
"""

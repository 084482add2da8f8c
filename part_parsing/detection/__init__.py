"""Pose-guided person and part detection: the other half of part-level action parsing on Kinetics-TPS.

Chen et al. (``SheldongChen/A-Baseline-Framework-for-Part-level-Action-Parsing-and-Action-Recognition``)
detect persons on the frame, enlarge each person box until it holds all the person's keypoints, cut the
crop, draw the keypoints on it (the pose-guided positional embedding, :mod:`pose_guidance.embedding`) and
detect the body parts on the crop; part AP50 rises from 53.1 to 79.7 with the embedding. Their detectors are
YOLOF-R101 (mmdetection); here they are torchvision's FCOS, RetinaNet or Faster R-CNN on a ResNet-FPN whose
ImageNet weights come from a local file.

Modules:

- ``samples``: detection samples (frames with person boxes, or person crops with part boxes and the
  embedding) from a Kinetics-TPS annotation tree and a keypoints file (:mod:`part_parsing.keypoints`).
- ``model``: the torchvision detectors behind one module with the engine's dict inputs.
- ``evaluation``: the engine evaluation of a detector: AP50 per class (:mod:`part_parsing.detection_ap`).
- ``task``: the engine task (``train_part_detector.py``); ``data.target`` chooses person or part detection.
- ``predict``: persons, then parts, on every scored frame of a video: the boxes ``python -m part_parsing
  predict`` turns into the official prediction files.
- ``pictures``: person crops plain and with the embedding (``python -m part_parsing crops``).

Facts (``SheldongChen/A-Baseline-...``): ``mmdet_202108/configs/yolof_part*/``: part classes in the order
head, hip, left_arm, left_foot, left_hand, left_leg, right_arm, right_foot, right_hand, right_leg (10; 6 without
sides, ``yolof_part_woR``), test score threshold 0.05, class-wise NMS at IoU 0.6, 100 boxes per image, random
horizontal flips (ratio 0.5) in training, images resized to 1333 x 800; ``mmdet_202108/demo_for_AVA/demo.py``:
persons kept from score 0.3, crops cut at integer box corners, part boxes shifted back by the crop's corner.
The paper keeps the top 10 persons and the top box of each part class at test time.
"""

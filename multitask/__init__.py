"""Multitask 3D pose estimation and action recognition from RGB clips (Luvizon, Picard, Tabia, CVPR 2018).

``model`` (the network), ``clips`` (NTU clip sampling, crops, targets), ``task`` (the engine task and its
three stages), ``export`` (estimated skeletons for the pose branch), ``pictures``, ``stages`` (pipeline).
"""

"""The post-processing stage applied to a network's masks (a run's recipe): flips, shifts,
colour CRF, guided filter, GrabCut and the floor.

Free of TensorFlow imports, so that configs validate before TensorFlow loads."""

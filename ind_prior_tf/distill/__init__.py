"""Data distillation (eq. 8): a student segmenter learns from a teacher's masks (config, model, run).

Free of TensorFlow imports, so that configs validate before TensorFlow loads."""

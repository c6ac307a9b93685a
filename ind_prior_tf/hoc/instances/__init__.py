"""Counting instances: a student trained on a HOC GAN's labelled composites, its inference,
metrics and the classical baseline it is checked against.

Free of TensorFlow imports, so that configs validate before TensorFlow loads."""

"""Application 1: foreground masks of box-cropped images of one category (config, gan, run).

Free of TensorFlow imports, so that configs validate before TensorFlow loads."""

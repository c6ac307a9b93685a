"""Application 2: instances from one image of a dense cluster (HOC: config, gan, run's evaluation).

Free of TensorFlow imports, so that configs validate before TensorFlow loads."""

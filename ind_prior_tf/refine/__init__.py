"""The refinement chain: its config and plan of stages, the executor and its input checks.

Free of TensorFlow imports, so that configs validate before TensorFlow loads."""

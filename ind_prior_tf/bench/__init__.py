"""make bench: step timings against the machine's peak and the PyTorch peer.

Free of TensorFlow imports, so that configs validate before TensorFlow loads."""

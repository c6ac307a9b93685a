"""Run plumbing: the train loop and checkpoints, run directories and their flags.json, locks,
what a command owns, devices, progress bars, pictures.

Free of TensorFlow imports, so that configs validate before TensorFlow loads."""

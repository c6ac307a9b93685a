"""Using trained runs: loading them, evaluation, segmenting files, export, the flip-consistency
check, metrics, ensembles and baselines.

Free of TensorFlow imports, so that configs validate before TensorFlow loads."""

"""FLOPs of the networks, counted analytically from their conv and dense layers (make bench's GFLOP/s).

A conv's forward costs 2 * (output positions) * (kernel taps) * (in channels) * (out channels) per
image (a transposed conv: input positions instead of output positions), a dense layer 2 * in * out.
Element-wise work (BN, activations, composition, Adam) is left out: it is a few percent of the convs
and memory-bound. A backward pass through a layer costs its forward once for the input gradient and
once for the weight gradient. Counting from the layers (not from a profiler or XLA's cost analysis)
gives the FLOPs the algorithm needs, independent of how a backend lowers them (XLA's CSE, zero-
inflated transposed convs) and of the TF version; it matches the Table 1 UNet's 2.9 GFLOP/image.
"""
import keras


def layer_flops(layer):
  """Conv or dense FLOPs of one forward pass of a layer of a functional model, per image (else 0)."""
  inner = getattr(layer, "layer", layer)  # SpectralNormalization wraps its conv
  if isinstance(inner, keras.layers.Conv2DTranspose):
    kh, kw, cout, cin = inner.kernel.shape
    _, h, w, _ = layer.input.shape
    return 2 * h * w * kh * kw * cin * cout
  if isinstance(inner, keras.layers.Conv2D):
    kh, kw, cin, cout = inner.kernel.shape
    _, h, w, _ = layer.output.shape
    return 2 * h * w * kh * kw * cin * cout
  if isinstance(inner, keras.layers.Dense):
    cin, cout = inner.kernel.shape
    positions = 1
    for d in layer.input.shape[1:-1]:
      positions *= d
    return 2 * positions * cin * cout
  return 0


def forward_flops(model):
  """Conv and dense FLOPs of one forward pass of a functional Keras model, per image."""
  return sum(forward_flops(layer) if isinstance(layer, keras.Model) else layer_flops(layer)
             for layer in model.layers)

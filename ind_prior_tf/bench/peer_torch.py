"""The PyTorch peer of our first-application train step, timed by experiments/bench.py --peer_torch.

Why it exists: a step time only means something next to what another framework does with the same
work on the same machine. This is a direct, eager PyTorch translation of FgSegGAN._replica_step
(ind_prior_tf/fgseg/gan.py) with the networks of ind_prior_tf/core/networks.py, layer for layer: the same
channels, kernels, strides, padding, bias choices and hyper-parameters, so that both sides do the same
FLOPs. It never imports TensorFlow or absl, and torch is never a project dependency.

  python ind_prior_tf/bench/peer_torch.py --steps=2 --repeats=2 --size=128 --width=1.0 --batch=16
  python ind_prior_tf/bench/peer_torch.py --steps=5 --size=64 --width=0.25 --batch=32 --autocast=bfloat16

It runs one step to warm up, then `--repeats` blocks of `--steps` steps, and prints the minimum
seconds per step first on its last line (bench.py's harness reads that; ind_prior_tf/bench/peer.py), then
its settings. It keeps torch's own defaults for threads and waiting: torch.get_num_threads() (one
per physical core), OMP_WAIT_POLICY as the environment has it (unset: libgomp's default, which spins
a while before sleeping). The harness never runs it beside another worker, so nothing needs tuning
for a shared machine; a peer tuned where ours is not would not be a fair peer either.

--autocast=bfloat16 (or float16) runs the forward passes under torch.autocast, the peer of our
mixed_bfloat16 / mixed_float16 policies: weights, optimizer and losses stay float32 on both sides.

Known differences, none of which changes the work timed: torch's spectral norm backpropagates through
sigma where Keras rewrites the kernel with W / sigma and differentiates the conv alone (same power
iteration, same conv FLOPs); the 3x3 stride-2 convs pad one pixel on each side where TF's "same" pads
only the bottom/right (same shapes and FLOPs; an explicit asymmetric pad would time a copy ours never
makes).
"""
import argparse
import contextlib
import os
import time

import torch  # pylint: disable=wrong-import-position
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

LEAK = 0.2  # networks.LEAK


def scaled(channels, width):
  """networks.scaled: channel count after the width multiplier (at least 1)."""
  return max(1, int(round(channels * width)))


def _bn(channels):
  # Keras BatchNormalization's defaults (epsilon 1e-3, momentum 0.99 = torch momentum 0.01).
  return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


def _glorot(module):
  # Keras' initializers (Glorot uniform kernels, zero biases): the same starting point as ours, so
  # early steps see similar activations (the timing does not depend on it; the losses printed do).
  for m in module.modules():
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
      w = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
      nn.init.xavier_uniform_(w)
      if m.bias is not None:
        nn.init.zeros_(m.bias)


class UNet(nn.Module):
  """networks.unet(image_size, width, upsample="deconv"): the UNet of Table 1, NCHW."""

  ENC = [(64, 4), (128, 4), (256, 4), (512, 4), (512, 4), (512, 2)]
  DEC = [(512, 2), (512, 4), (256, 4), (128, 4), (64, 4)]

  def __init__(self, image_size=128, width=1.0):
    super().__init__()
    if image_size % 64:
      raise ValueError(f"image_size={image_size}: the UNet needs a multiple of 64")
    self.enc = nn.ModuleList()
    cin, skips = 3, []
    for c, k in self.ENC:
      c = scaled(c, width)
      # TF "same" with an even input: k=4, s=2 pads 1 on each side; k=2, s=2 pads nothing.
      # No bias before a BN, as in ours.
      self.enc.append(nn.Sequential(nn.Conv2d(cin, c, k, 2, padding=(k - 2) // 2, bias=False),
                                    _bn(c), nn.LeakyReLU(LEAK)))
      skips.append(c)
      cin = c
    self.dec = nn.ModuleList()
    for i, (c, k) in enumerate(self.DEC):
      c = scaled(c, width)
      # Transposed "same", stride 2: padding 1 for k=4 and 0 for k=2 both give exactly 2x the input.
      self.dec.append(nn.Sequential(
          nn.ConvTranspose2d(cin, c, k, 2, padding=(k - 2) // 2, bias=False), _bn(c),
          nn.LeakyReLU(LEAK)))
      cin = c + skips[-2 - i]  # concatenated with the encoder feature of the same size
    self.mask_logits = nn.ConvTranspose2d(cin, 1, 4, 2, padding=1)  # with bias, as in ours
    _glorot(self)

  def forward(self, images):
    x = images * 2.0 - 1.0  # Rescaling(2, offset=-1): [0, 1] -> [-1, 1]
    skips = []
    for block in self.enc:
      x = block(x)
      skips.append(x)
    for i, block in enumerate(self.dec):
      x = torch.cat([block(x), skips[-2 - i]], 1)
    return torch.sigmoid(self.mask_logits(x))


class SNDiscriminator(nn.Module):
  """networks.sn_discriminator(image_size, width, last_channels): Table 1's D, a patch of logits."""

  def __init__(self, image_size=128, width=1.0, channels=(64, 128, 256, 512), last_channels=256):
    super().__init__()
    if image_size % 16:
      raise ValueError(f"image_size={image_size}: the discriminator needs a multiple of 16")
    layers, cin = [], 3
    for c in channels:  # 3x3 stride-2 convs (with bias, Keras' default), spectral norm on each
      layers += [spectral_norm(nn.Conv2d(cin, scaled(c, width), 3, 2, padding=1)),
                 nn.LeakyReLU(LEAK)]
      cin = scaled(c, width)
    layers += [spectral_norm(nn.Conv2d(cin, scaled(last_channels, width), 3, 1, padding=1)),
               nn.LeakyReLU(LEAK),
               spectral_norm(nn.Conv2d(scaled(last_channels, width), 1, 1))]  # the last one too
    self.net = nn.Sequential(*layers)
    _glorot(self)

  def forward(self, images):
    return self.net(images * 2.0 - 1.0)


def trainable_count(module):
  return sum(p.numel() for p in module.parameters() if p.requires_grad)


def keras_count(module):
  """The count Keras' count_params() reports: trainable weights plus the non-trainable ones (BN moving
  mean and variance, and one u vector of out-channels per spectral-normalised conv; torch keeps a v
  vector too, and BN's num_batches_tracked, which Keras has no counterpart of)."""
  n = trainable_count(module)
  for name, b in module.named_buffers():
    if name.endswith(("running_mean", "running_var", "_u")):
      n += b.numel()
  return n


class FgSegStep:
  """FgSegGAN._replica_step at the paper's defaults (FgSegConfig), on a fixed random batch and pool
  shaped as bench.build_fgseg's."""

  def __init__(self, size, width, batch, seed=0, device="cpu", autocast=None):
    torch.manual_seed(seed)
    self.size, self.batch, self.device = size, batch, torch.device(device)
    self.dtype = getattr(torch, autocast) if autocast else None
    self.unet = UNet(size, width)
    self.disc = SNDiscriminator(size, width, last_channels=256)
    self.g_vars = list(self.unet.parameters())
    self.d_vars = list(self.disc.parameters())
    self.opt_g = self._adam(self.g_vars, 4e-4)
    self.opt_d = self._adam(self.d_vars, 2e-4)
    self.images = torch.rand(batch, 3, size, size)
    # Backgrounds: 64 patches a little larger than the crops (as bench.py's pool), NHWC like ours.
    self.pool = torch.rand(64, size + size // 8, size + size // 8, 3)
    self.ramp = torch.arange(size)
    for name in ("images", "pool", "ramp"):
      setattr(self, name, getattr(self, name).to(self.device))
    self.unet.to(self.device)
    self.disc.to(self.device)

  def forward_mode(self):
    """The context of the forward passes: autocast to the peer's compute dtype, or nothing."""
    if self.dtype is None:
      return contextlib.nullcontext()
    return torch.autocast(self.device.type, dtype=self.dtype)

  @staticmethod
  def _adam(params, lr):
    # Keras Adam's epsilon (1e-7). fused=True is torch's fastest stock CPU Adam: the peer should be
    # the best plain PyTorch, not a strawman.
    try:
      return torch.optim.Adam(params, lr, betas=(0.5, 0.999), eps=1e-7, fused=True)
    except (RuntimeError, TypeError):
      return torch.optim.Adam(params, lr, betas=(0.5, 0.999), eps=1e-7)

  def backgrounds(self):
    """providers.patch_provider: a random patch of the pool per sample, a random size x size window
    of it and a random horizontal flip, as one gather (the flip folded into the column indices)."""
    b, n, p = self.batch, self.size, self.pool.shape[1]
    dev = self.device
    idx = torch.randint(0, self.pool.shape[0], (b,), device=dev)
    oy = torch.randint(0, p - n + 1, (b,), device=dev)
    ox = torch.randint(0, p - n + 1, (b,), device=dev)
    flip = torch.rand(b, device=dev) < 0.5
    rows = oy[:, None] + self.ramp
    cols = ox[:, None] + torch.where(flip[:, None], n - 1 - self.ramp, self.ramp)
    patches = self.pool[idx[:, None, None], rows[:, :, None], cols[:, None, :]]  # [B, n, n, 3]
    return patches.permute(0, 3, 1, 2)

  def step(self):
    images = self.images
    bg = self.backgrounds()
    # One UNet forward serves both steps, as in ours: the D step reads the composites detached, so
    # its backward never enters the UNet graph and the G step's backward is the graph's only use.
    self.unet.train()
    with self.forward_mode():
      masks = self.unet(images).float()  # composition and losses in float32, as ours
    fake = masks * images + (1.0 - masks) * bg  # composition.alpha_composite([bg, fg])
    # D step: real crops against the current composites (training mode: a power iteration per call).
    self.disc.train()
    with self.forward_mode():
      real_logits = self.disc(images).float()
      fake_logits = self.disc(fake.detach()).float()
    d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
              + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    self.opt_d.zero_grad(set_to_none=True)
    d_loss.backward(inputs=self.d_vars)
    self.opt_d.step()
    # G step through the updated D in inference mode (ours: training=False, no power iteration).
    self.disc.eval()
    with self.forward_mode():
      fake_logits = self.disc(fake).float()
    adv = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    area = masks.mean(dim=(1, 2, 3))  # losses.mask_area
    area_loss = torch.mean(torch.square(area - 0.25))  # area_form "squared", target 0.25
    # Ours computes the binarize and tight-box terms too, weighted 0 at the paper's defaults.
    binary = torch.mean(masks * (1.0 - masks))
    rows, cols = masks.amax(dim=(1, 3)), masks.amax(dim=(1, 2))
    tight = 0.5 * (torch.mean(torch.square(1.0 - rows)) + torch.mean(torch.square(1.0 - cols)))
    g_loss = adv + 1000.0 * area_loss + 0.0 * binary + 0.0 * tight
    self.opt_g.zero_grad(set_to_none=True)
    # Gradients of the UNet's weights only (ours differentiates g_vars alone; D gets input gradients).
    g_loss.backward(inputs=self.g_vars)
    self.opt_g.step()
    return dict(d_loss=d_loss.item(), g_loss=g_loss.detach().item(),
                mask_area=area.detach().mean().item())

  def run(self, steps):
    t = time.perf_counter()
    for _ in range(steps):
      out = self.step()
    del out  # float() above already waited for the step, like bench.py's one sync per block
    return time.perf_counter() - t


def settings():
  """torch's thread and wait settings as they are in this process (its defaults unless the
  environment changed them)."""
  wait = os.environ.get("OMP_WAIT_POLICY", "unset")
  return (f"torch {torch.__version__}, {torch.get_num_threads()} threads "
          f"(torch.get_num_threads(), its default), OMP_WAIT_POLICY {wait}")


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--steps", type=int, default=5, help="steps per timed block")
  parser.add_argument("--repeats", type=int, default=1, help="timed blocks (the minimum is printed)")
  parser.add_argument("--size", type=int, default=128)
  parser.add_argument("--width", type=float, default=1.0)
  parser.add_argument("--batch", type=int, default=16)
  parser.add_argument("--device", default="cpu", help="cpu, or cuda where bench's rows run on a GPU")
  parser.add_argument("--autocast", choices=["bfloat16", "float16"], default=None,
                      help="forward passes under torch.autocast in this dtype")
  parser.add_argument("--counts", action="store_true", help="print the parameter counts and exit")
  args = parser.parse_args()
  peer = FgSegStep(args.size, args.width, args.batch, device=args.device, autocast=args.autocast)
  if args.counts:
    for name, m in (("unet", peer.unet), ("discriminator", peer.disc)):
      print(f"{name}: {trainable_count(m)} trainable, {keras_count(m)} as Keras counts")
    return
  peer.run(1)  # warm-up (allocator, oneDNN primitive caches)
  seconds = min(peer.run(args.steps) for _ in range(max(args.repeats, 1))) / args.steps
  print(f"{seconds:.6f} s/step ({args.size} px, width {args.width}, batch {args.batch}, "
        f"{args.autocast or 'float32'}, {args.device}; {settings()})")


if __name__ == "__main__":
  main()

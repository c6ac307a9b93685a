"""The PyTorch peer of our first-application train step, timed by experiments/bench.py --peer_torch.

Why it exists: a step time only means something next to what another framework does with the same
work on the same machine. This is a direct, eager (CPU) PyTorch translation of FgSegGAN._replica_step
(ind_prior_tf/fgseg_lib.py) with the networks of ind_prior_tf/networks.py, layer for layer: the same
channels, kernels, strides, padding, bias choices and hyper-parameters, so that both sides do the same
FLOPs. It never imports TensorFlow or absl, and torch is never a project dependency.

  python experiments/peer_torch.py --serve --size=128 --width=1.0 --batch=16   # bench.py's worker
  python experiments/peer_torch.py --steps=5 --size=64 --width=0.25 --batch=32  # a manual check

--serve reads one integer n per line from stdin, runs n steps and prints the elapsed seconds (one float
per line, flushed); it exits on EOF. --steps prints the seconds per step of N steps after a warm-up.

Known differences, none of which changes the work timed: torch's spectral norm backpropagates through
sigma where Keras rewrites the kernel with W / sigma and differentiates the conv alone (same power
iteration, same conv FLOPs); the 3x3 stride-2 convs pad one pixel on each side where TF's "same" pads
only the bottom/right (same shapes and FLOPs; an explicit asymmetric pad would time a copy ours never
makes).
"""
import argparse
import os
import sys
import time

# libgomp's threads spin actively between parallel regions; on a shared machine (bench.py's usual case)
# a spinning thread that lost its core stalls every op: 3.8 s/step instead of 0.05 s at 64 px, width
# 0.25, batch 4, on 2 busy cores. Passive waiting is closer to TF's pool (it spins briefly, then
# blocks). Set before torch loads libgomp; an OMP_WAIT_POLICY in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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

  def __init__(self, size, width, batch, seed=0):
    torch.manual_seed(seed)
    self.size, self.batch = size, batch
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
    idx = torch.randint(0, self.pool.shape[0], (b,))
    oy = torch.randint(0, p - n + 1, (b,))
    ox = torch.randint(0, p - n + 1, (b,))
    flip = torch.rand(b) < 0.5
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
    masks = self.unet(images)
    fake = masks * images + (1.0 - masks) * bg  # composition.alpha_composite([bg, fg])
    # D step: real crops against the current composites (training mode: a power iteration per call).
    self.disc.train()
    real_logits = self.disc(images)
    fake_logits = self.disc(fake.detach())
    d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
              + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    self.opt_d.zero_grad(set_to_none=True)
    d_loss.backward(inputs=self.d_vars)
    self.opt_d.step()
    # G step through the updated D in inference mode (ours: training=False, no power iteration).
    self.disc.eval()
    fake_logits = self.disc(fake)
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


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--serve", action="store_true", help="bench.py's worker: n per stdin line")
  parser.add_argument("--steps", type=int, default=5, help="without --serve: steps to time")
  parser.add_argument("--size", type=int, default=128)
  parser.add_argument("--width", type=float, default=1.0)
  parser.add_argument("--batch", type=int, default=16)
  parser.add_argument("--counts", action="store_true", help="print the parameter counts and exit")
  args = parser.parse_args()
  torch.set_num_threads(os.cpu_count())  # all cores, as TF's intra-op pool uses
  peer = FgSegStep(args.size, args.width, args.batch)
  if args.counts:
    for name, m in (("unet", peer.unet), ("discriminator", peer.disc)):
      print(f"{name}: {trainable_count(m)} trainable, {keras_count(m)} as Keras counts")
    return
  if args.serve:
    for line in sys.stdin:
      if line.strip():
        print(f"{peer.run(int(line)):.6f}", flush=True)
    return
  peer.run(1)  # warm-up (allocator, oneDNN primitive caches)
  print(f"{peer.run(args.steps) / args.steps:.4f} s/step ({args.size} px, width {args.width}, "
        f"batch {args.batch}, {torch.get_num_threads()} threads)")


if __name__ == "__main__":
  main()

"""ind-prior-tf: Learning Segmentation Masks with the Independence Prior (Dai et al., AAAI 2019).

The generator of the paper is assembled from small pieces, one module each:
providers (instances, Fig. 4) -> layout (geometric warps, eq. 4) -> composition (alpha blending, eq. 5),
trained with the losses of eq. 6-8 against the spectral-norm discriminators of `networks`.
"""

__version__ = "0.1.0"

"""The paper's parts: the networks of Tables 1-2, the providers, layout and composition of
Fig. 4 and eq. 5, the losses of eq. 6-8, and the optimizers, precision and augmentations they train with.

Free of TensorFlow imports, so that configs validate before TensorFlow loads."""

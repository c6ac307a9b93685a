"""Data on disk, one module per job; import the module you need (`from ind_prior_tf.data import prepared`).

* skips: SkipLog, the count of skipped items (DataError and EmptyBoxError are ind_prior_tf.errors').
* images: decoding image and mask files, arrays to uint8 RGB, image folders.
* boxes: the one clip of a box to an image; box crops resized to a square.
* raw: the raw annotated sets (CUB-200-2011 and its layout, CelebA) as Records.
* prepared: prepared sets (TFRecord shards + meta.json): writing, reading, their raw records.
* pools: background patch pools; HOC patches and disk backgrounds.
* pipeline: the tf.data input pipelines of the first application.
* folder_prep: a plain folder of photos (optional boxes and masks) -> a prepared set and a pool.
* demo: the demo set drawn from scikit-image's sample photos (make demo).

Only skips, images, boxes, raw, pools and demo are free of TensorFlow (prepared imports it lazily),
so that the data_prep entry points answer --help and flag errors at once.
"""
from ind_prior_tf.errors import DataError, EmptyBoxError  # noqa: F401

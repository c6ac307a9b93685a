from setuptools import find_packages, setup

# Every entry point as a console script: `ind-prior-fgseg --preset=demo ...` works outside the
# repository too. Each module's main(argv=None) returns the exit status.
SCRIPTS = {
    "fgseg": "experiments.fgseg", "evaluate": "experiments.evaluate",
    "distill": "experiments.distill", "consistency": "experiments.consistency",
    "refine": "experiments.refine", "segment": "experiments.segment",
    "export": "experiments.export", "hoc": "experiments.hoc", "hoc-eval": "experiments.hoc_eval",
    "bench": "experiments.bench", "prep-cub": "data_prep.cub", "prep-celeba": "data_prep.celeba",
    "prep-backgrounds": "data_prep.backgrounds", "prep-hoc-patches": "data_prep.hoc_patches",
    "prep-demo": "data_prep.demo", "prep-folder": "data_prep.folder",
}

setup(
    name="ind-prior-tf",
    version="0.1.0",
    description=("Learning Segmentation Masks with the Independence Prior (Dai et al., AAAI 2019) "
                 "in TensorFlow 2 / Keras 3"),
    packages=find_packages(include=["ind_prior_tf", "ind_prior_tf.*", "experiments", "data_prep"]),
    python_requires=">=3.10",
    # TensorFlow itself is an extra, so that installing this package never swaps one TensorFlow
    # build for another: `pip install .[gpu]` (tensorflow[and-cuda], x86-64 Linux with an NVIDIA
    # driver) or `pip install .[cpu]`; `make install` picks one (tools/tf_requirement.py).
    # No tensorflow-addons: end-of-life, it does not import with Keras 3.
    install_requires=[
        "keras>=3.10",
        "tensorboard>=2.21,<2.22",  # TF 2.21 no longer pulls it in; tf.summary needs it
        "numpy",
        "pillow",
        "absl-py",
        "scikit-image",  # offline sample images for the demos
        "opencv-python-headless",  # GrabCut refinement of labels (ind_prior_tf/postprocess/grabcut.py)
    ],
    extras_require={
        "cpu": ["tensorflow-cpu==2.21.0; platform_machine=='x86_64'",
                "tensorflow==2.21.0; platform_machine!='x86_64'"],
        "gpu": ["tensorflow[and-cuda]==2.21.0"],
        "test": ["pytest", "pytest-xdist", "ruff>=0.17,<0.18"],  # make test: the lint, then 2 jobs
    },
    entry_points={"console_scripts": [f"ind-prior-{name}={module}:main"
                                      for name, module in SCRIPTS.items()]},
)

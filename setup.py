from setuptools import find_packages, setup

setup(
    name="ind-prior-tf",
    version="0.1.0",
    description=("Learning Segmentation Masks with the Independence Prior (Dai et al., AAAI 2019) "
                 "in TensorFlow 2 / Keras 3"),
    packages=find_packages(include=["ind_prior_tf", "ind_prior_tf.*", "experiments", "data_prep"]),
    python_requires=">=3.10",
    install_requires=[
        # tensorflow-cpu installs fastest on machines without a GPU; on a GPU machine install
        # `tensorflow[and-cuda]==2.21.0` first (see the README). No tensorflow-addons: end-of-life.
        "tensorflow-cpu==2.21.0; platform_machine=='x86_64'",
        "tensorflow==2.21.0; platform_machine!='x86_64'",
        "keras>=3.10",
        "tensorboard>=2.21,<2.22",  # TF 2.21 no longer pulls it in; tf.summary needs it
        "numpy",
        "pillow",
        "absl-py",
        "scikit-image",  # offline sample images for the demos
        "opencv-python-headless",  # GrabCut refinement of labels (ind_prior_tf/grabcut.py)
    ],
    extras_require={"test": ["pytest", "pytest-xdist"]},  # make test runs 2 jobs
)

"""Installs the utter toolkit (the Python package lives in pylib/)."""
from setuptools import find_packages, setup

setup(
    name="utter",
    version="0.1.0",
    description="Kaldi-style recipes for utterance-level speech representations (DINO, x-vector, transfer)",
    package_dir={"": "pylib"},
    packages=find_packages("pylib"),
    python_requires=">=3.10",
    install_requires=[
        "torch", "torchaudio", "kaldiio", "soundfile", "numpy", "scipy", "tqdm",
        "sentencepiece", "matplotlib",
    ],
    entry_points={"console_scripts": ["utter=utter.bin.cli:main"]},
)

"""utter: Kaldi-style recipes for utterance-level speech representations."""
__version__ = "0.1.0"

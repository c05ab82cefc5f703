"""The registry service. Needs the ``registry`` extra: ``pip install "tidehash[registry]"``."""

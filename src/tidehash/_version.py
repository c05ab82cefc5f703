__version__ = "0.1.0"  # kept equal to pyproject.toml's version

"""See the package docstring of printprep."""

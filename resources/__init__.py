"""The studio's bundled files (demo model and data, example recipes, icons, style).

This folder sits at the top of the repository (SPEC §5) and is installed as the package
`studio.resources` (pyproject.toml maps it), so a wheel and the PyInstaller bundle carry
it; `studio/values/resources.py` is the only module that knows where it is.
"""

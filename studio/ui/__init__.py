"""The PySide6 window (issue 4).  It binds widgets to engine data and never imports
TensorFlow: an import-linter contract in pyproject.toml checks that."""

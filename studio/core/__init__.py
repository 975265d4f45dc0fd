"""The engine: everything the studio does, with no Qt import (checked by import-linter).

Modules that need TensorFlow import it at module level; the lightweight ones (recipe,
errors, atomic, tflite_file) do not, so the window can use them without loading TF.
"""

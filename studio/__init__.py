"""TFLite Optimization Studio.

tensorflow-model-optimization 0.8 only works with tf_keras (Keras 2), and TensorFlow
picks its Keras at import time.  Setting the switch here, in the package's first
module, means every import path into the studio (CLI, window, worker process, tests)
sets it before TensorFlow can be imported.
"""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import kerasseg  # noqa: E402,F401  (first: TensorFlow starts with kerasseg's CPU settings, as the CLI's does)

"""python3 -m crucible_torch train|eval|bench|info"""

import os
import sys
import time

# The clock of time budgets starts now, before PyTorch is imported.
os.environ["_CRUCIBLE_TORCH_STARTED"] = repr(time.time())

from .cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

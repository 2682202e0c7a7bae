"""Progress lines in the miner contract's format, on stdout:
CRUCIBLE_PROGRESS {"fraction":0.5,"step":120,"loss":1.23,"message":"..."}"""

import json
import math
import sys
import time


class Progress:
    def __init__(self, enabled=True, every=2.0, out=None):
        self.enabled = enabled
        self.every = every
        self.out = out or sys.stdout
        self.last = 0.0

    def report(self, fraction, step, loss, message):
        """Prints a line at most every `every` seconds (always the first and
        the last, fraction 1)."""
        if not self.enabled:
            return
        now = time.time()
        if fraction < 1 and now - self.last < self.every and self.last:
            return
        self.last = now
        p = {"fraction": round(min(max(fraction, 0.0), 1.0), 4), "step": int(step), "message": message}
        if loss is not None and math.isfinite(loss):
            p["loss"] = round(float(loss), 5)
        self.out.write("CRUCIBLE_PROGRESS " + json.dumps(p) + "\n")
        self.out.flush()

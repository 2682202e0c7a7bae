"""Errors with an exit status, so that crucible can tell bad input from a
lack of resources from a crash."""

# Exit statuses of the commands.
EXIT_OK = 0
EXIT_CRASH = 1  # an unexpected error (a bug, or something crucible cannot classify)
EXIT_INVALID = 2  # bad input: arguments, model directory, token file
EXIT_RESOURCES = 3  # out of memory, CUDA errors, a missing dependency
EXIT_DEADLINE = 4  # the time limit left no room to train


class CrucibleError(Exception):
    """An error crucible reports as it is: message, exit status, hint."""

    def __init__(self, message, status=EXIT_INVALID, hint=""):
        super().__init__(message)
        self.status = status
        self.hint = hint

    def __str__(self):
        msg = super().__str__()
        if self.hint:
            msg += " (hint: " + self.hint + ")"
        return msg


def invalid(message, hint=""):
    return CrucibleError(message, EXIT_INVALID, hint)


def resources(message, hint=""):
    return CrucibleError(message, EXIT_RESOURCES, hint)


def classify(exc):
    """Returns the exit status and message of an exception raised by torch:
    out-of-memory and CUDA errors are a lack of resources."""
    if isinstance(exc, CrucibleError):
        return exc.status, str(exc)
    text = str(exc)
    name = type(exc).__name__
    if isinstance(exc, MemoryError) or "out of memory" in text.lower() or name == "OutOfMemoryError":
        return EXIT_RESOURCES, "out of memory: " + text.splitlines()[0] if text else "out of memory"
    if "CUDA" in text or "cuDNN" in text or "NCCL" in text or "CUBLAS" in text:
        return EXIT_RESOURCES, "CUDA error: " + text.splitlines()[0]
    return EXIT_CRASH, "%s: %s" % (name, text)

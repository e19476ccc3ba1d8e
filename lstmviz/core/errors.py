"""The one exception type lstmviz raises for bad user input (files, corpora, prompts, checkpoints, configs)."""


class LstmvizError(ValueError):
    """A problem with what the user gave us. The message says what is wrong and what to do.

    The CLI prints it as one line and exits non-zero, with no traceback.
    """

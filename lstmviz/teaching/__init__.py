"""Teaching: what only the lessons use. Each module's docstring names the lessons that use it.

``scratch`` (from-scratch RNN and LSTM), ``gradients`` (gradient vs lag), ``tasks`` (the memory
task), ``sandbox`` (the gate sandbox), ``compare`` (the lesson-06 experiments), ``notebook``
(``setup()`` at the top of every lesson), ``exercises`` (exercise checks),
``stats`` (mean ± standard error over seeds).
"""

from . import compare, exercises, gradients, notebook, sandbox, scratch, stats, tasks

__all__ = ["compare", "exercises", "gradients", "notebook", "sandbox", "scratch", "stats", "tasks"]

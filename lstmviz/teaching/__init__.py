"""Teaching: what only the lessons use. Each module's docstring names the lessons that use it.

``claims`` (a lesson's results, stated and checked), ``scratch`` (from-scratch RNN and
LSTM), ``gradients`` (gradient vs lag), ``tasks`` (the memory
task), ``sandbox`` (the gate sandbox), ``compare`` (the lesson-06 experiments, lesson 07's saved
models), ``error_analysis`` (lesson 07: a network against n-grams, per character), ``notebook``
(``setup()`` at the top of every lesson), ``exercises`` (exercise checks),
``stats`` (mean ± standard error over seeds), ``memory`` (loss with the state reset every k
steps), ``textstats`` (real words, line lengths and names in a sample), ``vanishing`` (lesson
02's decay table and clipping experiment), ``runlog`` (lesson 04: a training run's log read as the
seed printed its own).
"""

from . import (
    claims,
    compare,
    error_analysis,
    exercises,
    gradients,
    memory,
    notebook,
    runlog,
    sandbox,
    scratch,
    stats,
    tasks,
    textstats,
    vanishing,
)

__all__ = [
    "claims",
    "compare",
    "error_analysis",
    "exercises",
    "gradients",
    "memory",
    "notebook",
    "runlog",
    "sandbox",
    "scratch",
    "stats",
    "tasks",
    "textstats",
    "vanishing",
]

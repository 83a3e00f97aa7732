"""The sorting task: prompt sets (TASKS) and the sequences of variable-length responses. Public
names load on first use.
"""

from typing import TYPE_CHECKING

from grpo._lazy import lazy_names

if TYPE_CHECKING:
    from grpo.tasks.prompts import TASKS, Task, random_task, seed_task, variable_task

_PUBLIC = {  # module -> its public names
    "grpo.tasks.prompts": ("TASKS", "Task", "random_task", "seed_task", "variable_task"),
}
__all__ = ["TASKS", "Task", "random_task", "seed_task", "variable_task"]
__getattr__, __dir__ = lazy_names(__name__, _PUBLIC)

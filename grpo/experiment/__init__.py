"""The results contract: grids, results folders and their records, claims. Public names load on
first use.
"""

from typing import TYPE_CHECKING

from grpo._lazy import lazy_names

if TYPE_CHECKING:
    from grpo.experiment.canaries import CLAIMS, register_claim
    from grpo.experiment.claims import Claim, Mechanism
    from grpo.experiment.grids import Grid, load_grid, parse_grid, presets
    from grpo.experiment.results import PRIMARY, Results, open_results, write_records

_PUBLIC = {  # module -> its public names
    "grpo.experiment.canaries": ("CLAIMS", "register_claim"),
    "grpo.experiment.claims": ("Claim", "Mechanism"),
    "grpo.experiment.grids": ("Grid", "load_grid", "parse_grid", "presets"),
    "grpo.experiment.results": ("PRIMARY", "Results", "open_results", "write_records"),
}
__all__ = ["CLAIMS", "Claim", "Grid", "Mechanism", "PRIMARY", "Results", "load_grid", "open_results",
           "parse_grid", "presets", "register_claim", "write_records"]
__getattr__, __dir__ = lazy_names(__name__, _PUBLIC)

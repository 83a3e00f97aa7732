"""The names of a results folder's files: the one owner of how ``results/<grid>/`` spells them
(what each holds: grpo.experiment.store's docstring; the records' partitions:
grpo.experiment.results)."""

GRID_FILE = "grid.toml"  # the grid definition last swept into the folder
RUNS_FILE = "runs.parquet"  # one row per configuration x seed that the grid last swept trains
RECORDS_DIR = "records"  # the records: one Hive partition config_id=<id> per configuration
TRIALS_DIR = "trials"  # one run-info JSON per trial, beside its records
LOCK_FILE = ".lock"  # held by the sweep writing into the folder

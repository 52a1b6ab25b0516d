"""The `executor:` section: where the grid's cells run. Left out, they run in this process.

    executor:
      ray:
        address: auto          # a running cluster (`ray start --head`); left out: a local Ray here
        workers: 4             # actors; each builds the recipe's components once
        num_gpus: 1            # per worker: local models load on the GPUs Ray gives it

`r2d-sdk run RECIPE --ray [ADDRESS]` sets the same from the command line.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

RAY_INSTALL = "pip install 'r2d-sdk[distributed]'"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RaySpec(_Strict):
    """The grid's cells sharded over Ray actors; the driver stays the one writer to the database."""

    address: str | None = Field(None, description="`auto`, `ray://head:10001` or `head:6379`; none: start a "
                                                  "local Ray on this machine")
    workers: int = Field(2, ge=1, le=1024, description="Ray actors that run cells")
    num_cpus: float = Field(1.0, ge=0, description="CPUs Ray reserves for each worker")
    num_gpus: float = Field(0.0, ge=0, description="GPUs Ray gives each worker (its local models use them)")
    max_restarts: int = Field(3, ge=0, description="times Ray restarts a worker that died")
    max_task_retries: int = Field(3, ge=0, description="times Ray retries the cells a dead worker was running")
    chunk_size: int | None = Field(None, ge=1, le=10_000, description="work items sent per task (default: a "
                                                                      "quarter of a worker's concurrency)")
    start_timeout: float = Field(600.0, gt=0, description="seconds the workers may take to start (placement, "
                                                          "building components, loading models)")
    stall_timeout: float = Field(3600.0, gt=0, description="seconds with no chunk finished before the run stops "
                                                           "(a worker Ray cannot place again, a hung node)")


class ExecutorSpec(_Strict):
    """Where cells run: in this process (the default) or on Ray (`ray:`)."""

    ray: RaySpec | None = Field(None, description="run the cells on Ray actors (needs r2d-sdk[distributed])")
